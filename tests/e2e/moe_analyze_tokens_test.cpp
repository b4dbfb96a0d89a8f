// Issue 13 §4: `modelslim analyze --output` reports, for a mixture-of-experts model, the tokens the router
// sent to each routed expert of each sparse block. On a random qwen3_moe checkpoint (layers 0 and 2 sparse,
// 4 experts, top 2) the counts of each block must sum to (calibration tokens) × num_experts_per_tok, the
// token count taken from the checkpoint's tokenizer here, in both scopes.
#include "support/doctest.hpp"

#include <numeric>

#include "modelslim/json_file.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/moe_models.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace modelslim;

TEST_CASE("analyze: tokens per expert of each MoE block sum to tokens x top_k") {
  test::TempDir dir("moe-analyze-tokens");
  const std::vector<std::string> texts = {"THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
                                          "IN THE BEGINNING GOD CREATED THE HEAVEN AND THE EARTH"};
  std::string jsonl;
  for (const std::string& text : texts)
    jsonl += nlohmann::json({{"inputs_pretokenized", text}}).dump() + "\n";
  test::write_text(dir / "calib.jsonl", jsonl);
  const fs::path model = test::make_moe_model(dir, "qwen3_moe");
  const Tokenizer tokenizer = Tokenizer::from_file(model / "tokenizer.json");
  std::int64_t tokens = 0;
  for (const std::string& text : texts) tokens += static_cast<std::int64_t>(tokenizer.encode(text).size());
  const std::int64_t top_k = read_json_file(model / "config.json").at("num_experts_per_tok");

  for (const std::string scope : {"linear", "layer"}) {
    CAPTURE(scope);
    const fs::path output = dir / (scope + ".json");
    const auto result = test::run_command(
        test::modelslim_bin().string() + " analyze --model_path " + model.string() + " --calib_dataset " +
        (dir / "calib.jsonl").string() + " --scope " + scope + " --output " + output.string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    const nlohmann::json report = read_json_file(output);
    REQUIRE_MESSAGE(report.contains("tokens_per_expert"), report.dump());
    const nlohmann::json& blocks = report["tokens_per_expert"];
    REQUIRE(blocks.size() == 2);  // layer 1 is dense (mlp_only_layers)
    CHECK(blocks[0]["block"] == "model.layers.0");
    CHECK(blocks[1]["block"] == "model.layers.2");
    for (const auto& block : blocks) {
      CAPTURE(block.dump());
      const std::vector<std::int64_t> counts = block["tokens"];
      REQUIRE(counts.size() == 4);
      CHECK(block["experts"][3] == block["block"].get<std::string>() + ".mlp.experts.3");
      CHECK(std::accumulate(counts.begin(), counts.end(), std::int64_t{0}) == tokens * top_k);
      CHECK(block["total"] == tokens * top_k);
    }
  }
}
