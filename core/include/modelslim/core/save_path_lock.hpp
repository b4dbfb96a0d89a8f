// One run per output directory: an exclusive flock on `.<name>.lock` beside it, held for the whole run.
// A second run is refused with the holder's pid; the kernel releases the lock when the holder dies.
#pragma once

#include <filesystem>
#include <string>

#include "modelslim/core/env_names.hpp"

namespace modelslim::core {

class SavePathLock {
 public:
  // `save_path` normalized (output_path.hpp). Throws Error(kIo) naming `flag`, the path and the holder's pid
  // when another process holds the lock.
  SavePathLock(const std::filesystem::path& save_path, const std::string& flag);
  ~SavePathLock();  // removes the lock file, then releases the lock
  SavePathLock(const SavePathLock&) = delete;
  SavePathLock& operator=(const SavePathLock&) = delete;

  static std::filesystem::path lock_file(const std::filesystem::path& save_path);

 private:
  std::filesystem::path file_;
  int fd_ = -1;
};

// dp_layer_wise: the supervisor holds the lock for its ranks and says so through this variable (its pid).
inline constexpr const char* kLockHolderEnv = env::kSavePathLockedBy;
// True when this process is a rank whose parent (the supervisor) holds the lock on the save path.
bool lock_held_by_parent();

}  // namespace modelslim::core
