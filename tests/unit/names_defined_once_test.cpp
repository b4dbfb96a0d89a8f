// Names defined once (issue 16 §5): environment variables are read and set through the constants of
// modelslim/env_names.hpp (SDK, plugins) and modelslim/core/env_names.hpp (core), never as string literals
// scattered over the sources; in-tree plugins take their version from CMake (MODELSLIM_PLUGIN_VERSION), not
// from a hand-written string. The test reads the sources, so a new literal fails here naming its file.
#include "support/doctest.hpp"

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "modelslim/env_names.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
namespace test = modelslim::test;

namespace {

bool is_source(const fs::path& file) {
  const std::string ext = file.extension().string();
  return ext == ".cpp" || ext == ".hpp" || ext == ".h";
}

// "file:line: text" for every line of the product's sources (sdk, core, plugins, apps, tools) matching
// `pattern`, outside the files in `allowed`.
std::vector<std::string> offending_lines(const std::regex& pattern, const std::vector<std::string>& allowed) {
  std::vector<std::string> found;
  for (const char* dir : {"sdk", "core", "plugins", "apps", "tools"}) {
    const fs::path root = test::source_dir() / dir;
    if (!fs::is_directory(root)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file() || !is_source(entry.path())) continue;
      const std::string relative = fs::relative(entry.path(), test::source_dir()).string();
      if (std::find(allowed.begin(), allowed.end(), relative) != allowed.end()) continue;
      std::ifstream in(entry.path());
      std::size_t number = 0;
      for (std::string line; std::getline(in, line);) {
        ++number;
        if (std::regex_search(line, pattern))
          found.push_back(relative + ":" + std::to_string(number) + ": " + line);
      }
    }
  }
  return found;
}

std::string joined(const std::vector<std::string>& lines) {
  std::ostringstream text;
  for (const auto& line : lines) text << line << "\n";
  return text.str();
}

}  // namespace

TEST_CASE("environment variables are named only in the env_names headers") {
  // A string literal starting with a variable's name anywhere but the two headers: getenv("MODELSLIM_X"), a
  // constant of its own, a message spelling it out ("MODELSLIM_X='" + value)...
  const std::regex quoted_name(R"re("(MODELSLIM_|MSMODELSLIM_)[A-Z0-9_]+)re");
  const std::vector<std::string> lines = offending_lines(
      quoted_name, {"sdk/include/modelslim/env_names.hpp", "core/include/modelslim/core/env_names.hpp"});
  CHECK_MESSAGE(lines.empty(), "name these in modelslim/env_names.hpp (or core's) and use the constant:\n"
                                   << joined(lines));
  // getenv/setenv with a literal name, e.g. getenv("OMP_NUM_THREADS"): the name belongs in a header too.
  const std::regex literal_call(R"re(\b(getenv|setenv|unsetenv)\s*\(\s*")re");
  const std::vector<std::string> calls = offending_lines(literal_call, {});
  CHECK_MESSAGE(calls.empty(), "read the variable through an env_names constant:\n" << joined(calls));
}

TEST_CASE("the SDK's environment variable names are the documented ones") {
  // Independent of the header: the names docs/architecture.md and docs/performance.md tell users to set.
  CHECK(std::string(modelslim::env::kBufferPool) == "MODELSLIM_BUFFER_POOL");
  CHECK(std::string(modelslim::env::kPrefetch) == "MODELSLIM_PREFETCH");
  CHECK(std::string(modelslim::env::kPrefetchBudgetMib) == "MODELSLIM_PREFETCH_BUDGET_MIB");
  CHECK(std::string(modelslim::env::kCpuIsa) == "MODELSLIM_CPU_ISA");
  CHECK(std::string(modelslim::env::kShardWriter) == "MODELSLIM_SHARD_WRITER");
  CHECK(std::string(modelslim::env::kStoredDtypeWeights) == "MODELSLIM_STORED_DTYPE_WEIGHTS");
  CHECK(std::string(modelslim::env::kOmpNumThreads) == "OMP_NUM_THREADS");
  CHECK(std::string(modelslim::env::kPath) == "PATH");
}

TEST_CASE("in-tree plugins take their version from CMake") {
  // MODELSLIM_PLUGIN("name", "1.2.3", fn): a hand-written version drifts from the release's.
  const std::regex literal_version(R"re(MODELSLIM_PLUGIN\s*\(\s*"[^"]*"\s*,\s*")re");
  const std::vector<std::string> lines = offending_lines(literal_version, {});
  CHECK_MESSAGE(lines.empty(), "pass MODELSLIM_PLUGIN_VERSION (plugins/CMakeLists.txt):\n" << joined(lines));
}
