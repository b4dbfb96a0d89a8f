// `modelslim analyze` on the hard demo model: the planted layers rank first (blocks by MSE of a quantized
// copy against a true float copy; linears by input kurtosis), the JSON report holds the full ranking, bad
// flags fail with exit code 2.
#include "support/doctest.hpp"

#include <algorithm>
#include <set>

#include "modelslim/json_file.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {
nlohmann::json analyze(const test::TempDir& dir, const std::string& flags) {
  const fs::path output = dir / "ranking.json";
  const auto result = test::run_command(
      test::modelslim_bin().string() + " analyze " + flags + " --model_path " +
      (test::source_dir() / "data" / "demo-model-hard").string() + " --output " + output.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  MESSAGE(result.output);
  return read_json_file(output);
}
}  // namespace

TEST_CASE("layer scope: the three planted blocks rank above the untouched one") {
  test::TempDir dir("analyze-layer");
  const auto report = analyze(dir, "layer --topk 4");
  REQUIRE(report["ranking"].size() == 4);
  CHECK(report["metric"] == "mse_layer_wise");
  CHECK(report["ranking"][3]["name"] == "model.layers.0");  // no outliers planted there
}

TEST_CASE("linear scope: every planted linear is among the top 8 by kurtosis, the planted down_proj first") {
  test::TempDir dir("analyze-linear");
  const auto report = analyze(dir, "linear");
  REQUIRE(report["ranking"].size() == 28);
  const auto planted = read_json_file(test::source_dir() / "data" / "demo-model-hard" / "planted.json");
  std::set<std::string> top;
  for (std::size_t i = 0; i < 8; ++i) top.insert(report["ranking"][i]["name"].get<std::string>());
  for (const auto& linear : planted["linears"]) CHECK(top.count(linear.get<std::string>()) == 1);
  CHECK(report["ranking"][0]["name"] == "model.layers.2.mlp.down_proj");
}

TEST_CASE("bad analyze flags exit 2 naming the flag") {
  const std::string model = (test::source_dir() / "data" / "demo-model-hard").string();
  for (const auto& [flags, needle] : std::vector<std::pair<std::string, std::string>>{
           {"block --model_path " + model, "scope 'block'"},
           {"layer --metrics kurtosis --model_path " + model, "--metrics kurtosis"},
           {"linear --metrics mse --model_path " + model, "--metrics mse"},
           {"linear", "--model_path"}}) {
    const auto result = test::run_command(test::modelslim_bin().string() + " analyze " + flags);
    CHECK(result.exit_code == 2);
    CHECK_MESSAGE(result.output.find(needle) != std::string::npos, result.output);
  }
}
