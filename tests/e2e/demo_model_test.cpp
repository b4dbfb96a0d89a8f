// The shipped demo model (data/demo-model, trained on the KJV with books held out): held-out perplexity far
// below the byte-uniform 256, and W8A8 static through the real CLI loses little on the held-out books.
#include "support/doctest.hpp"

#include "modelslim/json_file.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {
double metric(const nlohmann::json& list, const std::string& name) {
  for (const auto& m : list) {
    if (m["metric"] == name) return m["value"].get<double>();
  }
  FAIL("no metric " << name);
  return 0.0;
}
}  // namespace

TEST_CASE("demo model: held-out perplexity and W8A8 loss") {
  test::TempDir dir("demo-model");
  const fs::path model = test::source_dir() / "data" / "demo-model";
  auto result = test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                                  " --save_path " + (dir / "w8a8").string() + " --quant_type w8a8");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  result = test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                             " --quant_path " + (dir / "w8a8").string() + " --dataset " +
                             (test::source_dir() / "data/datasets/kjv_eval.jsonl").string() +
                             " --metrics ppl,acc,fidelity --max_tokens 128 --json " +
                             (dir / "eval.json").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  MESSAGE(result.output);
  const auto report = read_json_file(dir / "eval.json");
  const double float_ppl = metric(report["float"], "ppl");
  const double quant_ppl = metric(report["quantized"], "ppl");
  CHECK(float_ppl < 5.0);               // byte-uniform would be 256
  CHECK(quant_ppl < float_ppl * 1.05);  // W8A8 static loses little on the plain model
  CHECK(metric(report["quantized"], "top1_agree") > 0.9);

  result = test::run_command(test::modelslim_bin().string() + " generate --model_path " + model.string() +
                             " --prompt 'And God said' --max_new_tokens 40");
  REQUIRE(result.exit_code == 0);
  MESSAGE(result.output);
  CHECK(result.output.find("LORD") != std::string::npos);  // recognisably KJV
}
