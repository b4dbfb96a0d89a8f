// The output directory of a generator tool (make_random_model, make_random_deepseek, train_demo_model,
// plant_outliers). The user's data is never touched: a tool builds its output in a fresh hidden sibling,
// fsyncs it and renames it into place, and replaces an existing --output only when that directory is empty
// or carries the marker a generator tool writes into everything it makes (kGeneratedMarker).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace modelslim::tools {

// Present in (and only in) directories a generator tool made; its JSON names the tool.
inline constexpr const char* kGeneratedMarker = ".modelslim-generated";

// A tool's input, for the overlap check: the flag that named it and its path.
using ToolInput = std::pair<std::string, std::filesystem::path>;

class GeneratedDir {
 public:
  // Refuses (Error kIo naming the path and the alternative) an --output that exists and is not a directory
  // or a symlink, a non-empty directory without the marker, or one that is, lies inside or contains an
  // input. Then clears this output's stages left by killed runs and creates a fresh staging directory.
  GeneratedDir(const std::filesystem::path& output, std::string tool, const std::vector<ToolInput>& inputs);
  ~GeneratedDir();  // removes the staging directory unless committed
  GeneratedDir(const GeneratedDir&) = delete;
  GeneratedDir& operator=(const GeneratedDir&) = delete;

  // Where the tool writes its files.
  const std::filesystem::path& staging() const { return staging_; }
  // The --output path, absolute and normalized.
  const std::filesystem::path& output() const { return output_; }

  // Writes the marker, fsyncs the tree, checks --output is still replaceable and swaps the staging
  // directory into place (a previous output is set aside first and removed last).
  void commit();

 private:
  std::filesystem::path output_;
  std::string tool_;
  std::vector<ToolInput> inputs_;
  std::filesystem::path staging_;
  bool committed_ = false;
};

}  // namespace modelslim::tools
