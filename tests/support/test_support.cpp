#include "support/test_support.hpp"

#include "support/shared_generated.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>

namespace modelslim::test {
namespace {
std::filesystem::path env_path(const char* name, const std::filesystem::path& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::filesystem::path(value) : fallback;
}
}  // namespace

std::filesystem::path source_dir() {
  return env_path("MODELSLIM_SOURCE_DIR", MODELSLIM_TEST_SOURCE_DIR);
}
std::filesystem::path build_dir() {
  return env_path("MODELSLIM_BUILD_DIR", MODELSLIM_TEST_BUILD_DIR);
}
std::filesystem::path shared_dir() {
  return env_path("MODELSLIM_SHARED_DIR", source_dir() / ".." / "shared");
}
std::filesystem::path modelslim_bin() {
  return env_path("MODELSLIM_BIN", build_dir() / "bin" / "modelslim");
}

TempDir::TempDir(const std::string& label) {
  std::random_device device;
  const auto base = build_dir() / "test-tmp";
  std::filesystem::create_directories(base);
  path_ = base / (label + "-" + std::to_string(::getpid()) + "-" + std::to_string(device()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (std::getenv("MODELSLIM_KEEP_TEST_TMP") == nullptr) std::filesystem::remove_all(path_, ignored);
}

CommandResult run_command(const std::string& command) {
  CommandResult result;
  const std::string full = command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_text(const std::filesystem::path& file, const std::string& text) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

std::filesystem::path shared_generated(const std::string& generator) {
  static const TempDir dir("shared-generated");
  static std::map<std::string, std::filesystem::path> made;
  const auto found = made.find(generator);
  if (found != made.end()) return found->second;
  const std::filesystem::path output = dir / ("g" + std::to_string(made.size()));
  const CommandResult result = run_command(generator + " --output " + output.string());
  if (result.exit_code != 0) {
    throw std::runtime_error(generator + " --output " + output.string() + " failed (exit " +
                             std::to_string(result.exit_code) + "):\n" + result.output);
  }
  made.emplace(generator, output);
  return output;
}

std::filesystem::path copy_dir(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (std::filesystem::exists(to)) throw std::runtime_error(to.string() + " exists already");
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
  return to;
}

const char* const kW8A8Practice = R"(apiversion: modelslim_v1
spec:
  process:
    - type: linear_quant
      qconfig:
        act: {scope: per_tensor, dtype: int8, symmetric: false}
        weight: {scope: per_channel, dtype: int8}
  dataset: DATASET
)";

std::string with_dataset(std::string practice, const std::filesystem::path& dataset) {
  practice.replace(practice.find("DATASET"), 7, dataset.string());
  return practice;
}

}  // namespace modelslim::test
