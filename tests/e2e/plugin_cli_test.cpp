// Broken or foreign libraries on the plugin path, as the CLI sees them: a foreign library is skipped with a
// warning, an unresolved symbol is a load error naming it, and a factory returning nothing is a clear error,
// never a crash.
#include "support/doctest.hpp"

#include "support/test_support.hpp"

namespace fs = std::filesystem;
namespace test = modelslim::test;

namespace {
fs::path test_plugin_dir(const std::string& name) {
  return test::build_dir() / "test-plugins" / name;
}
bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}
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
