// An output directory that only appears when complete: work happens in a hidden sibling that commit()
// renames into place; destroying an uncommitted stage removes it.
#pragma once

#include <filesystem>

namespace modelslim::core {

class StagingDir {
 public:
  // Throws Error(kIo) naming `final_path` when its parent cannot be created or written.
  explicit StagingDir(std::filesystem::path final_path);
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  const std::filesystem::path& path() const { return staging_; }
  const std::filesystem::path& final_path() const { return final_; }
  // Replaces any existing final directory.
  void commit();

 private:
  std::filesystem::path final_;
  std::filesystem::path staging_;
  bool committed_ = false;
};

}  // namespace modelslim::core
