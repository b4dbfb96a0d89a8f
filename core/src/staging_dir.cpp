#include "modelslim/core/staging_dir.hpp"

#include <unistd.h>

#include <string>

#include "modelslim/error.hpp"

namespace modelslim::core {

StagingDir::StagingDir(std::filesystem::path final_path) : final_(std::filesystem::absolute(final_path)) {
  const std::filesystem::path parent = final_.parent_path();
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  if (error || ::access(parent.c_str(), W_OK) != 0) {
    throw Error(ErrorCode::kIo, "--save_path " + final_.string() + ": cannot write into " + parent.string(),
                "choose a save_path in a writable directory");
  }
  if (std::filesystem::exists(final_) && !std::filesystem::is_directory(final_)) {
    throw Error(ErrorCode::kIo, "--save_path " + final_.string() + " exists and is not a directory",
                "choose another save_path");
  }
  staging_ = parent / ("." + final_.filename().string() + ".partial-" + std::to_string(::getpid()));
  std::filesystem::remove_all(staging_, error);
  std::filesystem::create_directory(staging_, error);
  if (error) {
    throw Error(ErrorCode::kIo, "--save_path " + final_.string() + ": cannot create " + staging_.string() +
                                    ": " + error.message());
  }
}

StagingDir::~StagingDir() {
  if (committed_) return;
  std::error_code ignored;
  std::filesystem::remove_all(staging_, ignored);
}

void StagingDir::commit() {
  const std::filesystem::path previous =
      final_.parent_path() / ("." + final_.filename().string() + ".previous-" + std::to_string(::getpid()));
  const bool replacing = std::filesystem::exists(final_);
  if (replacing) std::filesystem::rename(final_, previous);
  std::filesystem::rename(staging_, final_);
  committed_ = true;
  if (replacing) std::filesystem::remove_all(previous);
}

}  // namespace modelslim::core
