// Helpers shared by tests: locations of the source tree, build tree and ../shared, temp dirs, running the
// CLI.
#pragma once

#include <filesystem>
#include <string>

namespace modelslim::test {

std::filesystem::path source_dir();
std::filesystem::path build_dir();
std::filesystem::path shared_dir();  // ../shared beside the checkout
std::filesystem::path modelslim_bin();
// The build tree's plugin directory (lib/modelslim/plugins).
inline std::filesystem::path plugin_dir() {
  return build_dir() / "lib" / "modelslim" / "plugins";
}

// A fresh directory under the build tree, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& label);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& child) const { return path_ / child; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs a shell command, capturing both streams.
CommandResult run_command(const std::string& command);

std::string read_text(const std::filesystem::path& file);

// A W8A8 linear_quant practice (static per-tensor activations) whose dataset is the placeholder DATASET.
extern const char* const kW8A8Practice;
// `practice` with its DATASET placeholder replaced by `dataset`.
std::string with_dataset(std::string practice, const std::filesystem::path& dataset);
void write_text(const std::filesystem::path& file, const std::string& text);
// Whether `text` contains `part` (error-message checks). Shared so that test files compiled in one unity
// batch do not each define their own.
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace modelslim::test
