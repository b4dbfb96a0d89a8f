// An output directory that only appears when complete: work happens in a hidden sibling
// `.<name>.partial-<pid>` that commit() renames into place; destroying an uncommitted stage, or a
// SIGINT/SIGTERM (interrupt_cleanup.hpp), removes it.
#pragma once

#include <filesystem>

namespace modelslim::core {

class StagingDir {
 public:
  // Normalizes `final_path` (output_path.hpp), removes stale stages of dead processes beside it, creates the
  // stage with the output marker. Throws Error(kIo) naming `final_path` when its parent cannot be created or
  // written, or when it exists and modelslim may not replace it (a file, a foreign non-empty directory).
  explicit StagingDir(const std::filesystem::path& final_path);
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  const std::filesystem::path& path() const { return staging_; }
  const std::filesystem::path& final_path() const { return final_; }
  // fsyncs the stage, then replaces a previous modelslim output: old aside, new in, old removed. When the
  // second rename fails the old output is put back and Error(kIo) is thrown.
  void commit();

 private:
  std::filesystem::path final_;
  std::filesystem::path staging_;
  bool committed_ = false;
};

// Puts directory `from` at `to`: an existing `to` is first renamed to `aside` (returns true; the caller
// removes `aside`), then `from` is renamed in. When that fails, `to` is renamed back and Error(kIo) thrown.
bool swap_into_place(const std::filesystem::path& from, const std::filesystem::path& to,
                     const std::filesystem::path& aside);

// Removes the stages (`.<name>.partial-<pid>`) left in `dir` by processes that are provably dead (no such
// pid on this host) and that modelslim made (the output marker, or empty); puts back an output a killed
// commit had moved aside (`.<name>.previous-<pid>`) or removes it once its replacement is in place.
// Live processes' stages are never touched.
void remove_stale_staging(const std::filesystem::path& dir);

}  // namespace modelslim::core
