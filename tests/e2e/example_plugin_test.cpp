// docs/examples/processor_plugin, built out of tree against the INSTALLED SDK (cmake --install, then
// find_package(ModelSlimSDK)), is loaded with --plugin-dir by the installed CLI and used by `quant`.
#include "support/doctest.hpp"

#include "modelslim/json_file.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
namespace test = modelslim::test;

TEST_CASE("out-of-tree example plugin built against the installed SDK is used by quant") {
  test::TempDir dir("example-plugin");
  const fs::path prefix = dir / "prefix";
  auto result =
      test::run_command("cmake --install " + test::build_dir().string() + " --prefix " + prefix.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(fs::exists(prefix / "lib" / "cmake" / "ModelSlimSDK" / "ModelSlimSDKConfig.cmake"));
  CHECK(fs::exists(prefix / "include" / "modelslim" / "plugin.hpp"));

  const fs::path example_build = dir / "example-build";
  result = test::run_command("cmake -S " +
                             (test::source_dir() / "docs" / "examples" / "processor_plugin").string() +
                             " -B " + example_build.string() + " -DCMAKE_PREFIX_PATH=" + prefix.string() +
                             " -DCMAKE_BUILD_TYPE=Release && cmake --build " + example_build.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  REQUIRE(fs::exists(example_build / "libactivation_report.so"));

  const fs::path modelslim = prefix / "bin" / "modelslim";
  result = test::run_command(modelslim.string() + " plugins --plugin-dir " + example_build.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(result.output.find("activation_report") != std::string::npos);
  CHECK(result.output.find("linear_quant") != std::string::npos);  // installed in-tree plugins found too
  result = test::run_command("MODELSLIM_PLUGIN_PATH=/nonexistent:" + example_build.string() + " " +
                             modelslim.string() + " plugins");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(result.output.find("activation_report") != std::string::npos);

  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  const fs::path model = dir / "model";
  result = test::run_command((prefix / "bin" / "make_random_model").string() + " --config " + fake.string() +
                             " --tokenizer-from " + fake.string() + " --output " + model.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const fs::path report = dir / "report.json";
  test::write_text(dir / "config.yaml",
                   "apiversion: modelslim_v1\nspec:\n  process:\n"
                   "    - {type: activation_report, output: " +
                       report.string() +
                       "}\n"
                       "    - type: linear_quant\n"
                       "      qconfig: {weight: {scope: per_channel, dtype: int8}}\n"
                       "  dataset: " +
                       (test::shared_dir() / "data/msmodelslim_lab_calib/boolq.jsonl").string() + "\n");
  result = test::run_command(modelslim.string() + " quant --model_path " + model.string() + " --save_path " +
                             (dir / "out").string() + " --config_path " + (dir / "config.yaml").string() +
                             " --plugin-dir " + example_build.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto stats = modelslim::read_json_file(report);
  CHECK(stats.size() == 3 * 7);
  CHECK(stats["model.layers.0.self_attn.q_proj"].get<double>() > 0.0);
  CHECK(modelslim::read_json_file(dir / "out" / "quant_model_description.json")["model_quant_type"] ==
        "W8A16");
}
