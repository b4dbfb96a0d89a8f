// Broken or foreign libraries on the plugin path, as the CLI sees them: a foreign library is skipped with a
// warning, an unresolved symbol is a load error naming it, and a factory returning nothing is a clear error,
// never a crash. `modelslim plugins` prints a table whose columns fit their content.
#include "support/doctest.hpp"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "modelslim/version.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
namespace test = modelslim::test;

namespace {
fs::path test_plugin_dir(const std::string& name) {
  return test::build_dir() / "test-plugins" / name;
}
using modelslim::test::contains;
}  // namespace

TEST_CASE("a foreign lib*.so in a plugin directory is skipped with a warning naming it") {
  const auto result = test::run_command(test::modelslim_bin().string() + " plugins --plugin-dir " +
                                        test_plugin_dir("no_entry").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK_MESSAGE(
      contains(result.output, "skipping " + (test_plugin_dir("no_entry") / "libno_entry_plugin.so").string()),
      result.output);
  CHECK(contains(result.output, "linear_quant"));  // the real plugins still load
}

TEST_CASE("a plugin with an unresolved symbol fails at start-up naming the symbol") {
  const auto result = test::run_command(test::modelslim_bin().string() + " plugins --plugin-dir " +
                                        test_plugin_dir("unresolved_symbol").string());
  CHECK(result.exit_code == 1);
  CHECK_MESSAGE(contains(result.output, "libunresolved_symbol_plugin.so"), result.output);
  CHECK_MESSAGE(contains(result.output, "modelslim_test_symbol_nobody_defines"), result.output);
}

TEST_CASE("quant with a processor whose factory returns nothing fails cleanly, naming the plugin") {
  test::TempDir dir("null-factory");
  test::write_text(dir / "practice.yaml",
                   "apiversion: modelslim_v1\nspec:\n  process:\n    - {type: null_processor}\n");
  const auto result =
      test::run_command(test::modelslim_bin().string() + " quant --model_path " +
                        (test::source_dir() / "data" / "demo-model").string() + " --save_path " +
                        (dir / "out").string() + " --config_path " + (dir / "practice.yaml").string() +
                        " --plugin-dir " + test_plugin_dir("null_factory").string());
  CHECK_MESSAGE(result.exit_code == 1, result.output);  // not a signal
  CHECK_MESSAGE(contains(result.output, "plugin 'null_factory'"), result.output);
  CHECK(contains(result.output, "processor factory for type 'null_processor' returned no object"));
  CHECK_FALSE(fs::exists(dir / "out"));
}

TEST_CASE("modelslim plugins sizes its columns to their content") {
  const auto result = test::run_command(test::modelslim_bin().string() + " plugins --plugin-dir " +
                                        test_plugin_dir("sdk40_example").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  std::istringstream lines(result.output);
  std::string header;
  std::getline(lines, header);
  const std::vector<std::string> titles{"KIND", "TYPE", "PLUGIN", "VERSION", "SDK ABI", "FILE"};
  std::vector<std::size_t> starts;
  for (const auto& title : titles) starts.push_back(header.find(title));
  REQUIRE_MESSAGE(std::is_sorted(starts.begin(), starts.end()), header);
  REQUIRE_MESSAGE(starts.back() != std::string::npos, header);
  const std::string host_abi =
      std::to_string(modelslim::kSdkAbiMajor) + "." + std::to_string(modelslim::kSdkAbiMinor);
  std::size_t rows = 0;
  bool long_type_seen = false;
  for (std::string line; std::getline(lines, line);) {
    ++rows;
    // Every cell starts at its title's column, after at least two spaces: none runs into the next.
    for (std::size_t c = 1; c < starts.size(); ++c) {
      REQUIRE_MESSAGE(line.size() > starts[c], line);
      CHECK_MESSAGE(line.compare(starts[c] - 2, 2, "  ") == 0, "column " << titles[c] << ": " << line);
      CHECK_MESSAGE(line[starts[c]] != ' ', "column " << titles[c] << ": " << line);
    }
    if (line.rfind("strategy", 0) == 0 && contains(line, "standing_high_with_experience  ")) {
      long_type_seen = true;
      CHECK(line.compare(starts[2], 17, "tuning_strategies") == 0);
    }
    if (contains(line, "activation_report")) CHECK(line.compare(starts[4], 3, "4.0") == 0);
    if (contains(line, "linear_quant")) CHECK(line.compare(starts[4], host_abi.size(), host_abi) == 0);
  }
  CHECK(rows > 10);
  CHECK(long_type_seen);
}
