// Issue 13 §4: `modelslim analyze --output` reports, for a mixture-of-experts model, the tokens the router
// sent to each routed expert of each sparse block. The counts of each block must sum to (calibration tokens)
// × num_experts_per_tok, the token count taken from the checkpoint's tokenizer here, in both scopes: on a
// random qwen3_moe checkpoint (layers 0 and 2 sparse, 4 experts, top 2) and a random DeepSeek-V2-Lite-style
// one (layer 0 dense, layers 1 and 2 MoE, 8 routed experts, top 3).
#include "support/doctest.hpp"

#include <numeric>

#include "modelslim/json_file.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/moe_models.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace modelslim;

namespace {

const std::vector<std::string> kTexts = {"THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
                                         "IN THE BEGINNING GOD CREATED THE HEAVEN AND THE EARTH"};

// Runs both analyze scopes on `model` and checks each sparse block's counts (`blocks` in order, each with
// `experts` routed experts named "<block>.mlp.experts.<e>").
void check_tokens_per_expert(const test::TempDir& dir, const fs::path& model,
                             const std::vector<std::string>& blocks, std::size_t experts) {
  std::string jsonl;
  for (const std::string& text : kTexts)
    jsonl += nlohmann::json({{"inputs_pretokenized", text}}).dump() + "\n";
  test::write_text(dir / "calib.jsonl", jsonl);
  const Tokenizer tokenizer = Tokenizer::from_file(model / "tokenizer.json");
  std::int64_t tokens = 0;
  for (const std::string& text : kTexts) tokens += static_cast<std::int64_t>(tokenizer.encode(text).size());
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
    const nlohmann::json& reported = report["tokens_per_expert"];
    REQUIRE(reported.size() == blocks.size());  // dense layers have no entry
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      const nlohmann::json& block = reported[b];
      CAPTURE(block.dump());
      CHECK(block["block"] == blocks[b]);
      const std::vector<std::int64_t> counts = block["tokens"];
      REQUIRE(counts.size() == experts);
      CHECK(block["experts"][experts - 1] == blocks[b] + ".mlp.experts." + std::to_string(experts - 1));
      CHECK(std::accumulate(counts.begin(), counts.end(), std::int64_t{0}) == tokens * top_k);
      CHECK(block["total"] == tokens * top_k);
    }
  }
}

}  // namespace

TEST_CASE("analyze: tokens per expert of each MoE block sum to tokens x top_k") {
  test::TempDir dir("moe-analyze-tokens");
  const fs::path model = test::make_moe_model(dir, "qwen3_moe");
  // layer 1 is dense (mlp_only_layers)
  check_tokens_per_expert(dir, model, {"model.layers.0", "model.layers.2"}, 4);
}

TEST_CASE("analyze: tokens per routed expert of each DeepSeek MoE layer sum to tokens x top_k") {
  test::TempDir dir("deepseek-analyze-tokens");
  const fs::path model = dir / "model";
  const auto made = test::run_command((test::build_dir() / "bin" / "make_random_deepseek").string() +
                                      " --style v2-lite --seed 11 --output " + model.string());
  REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  REQUIRE(read_json_file(model / "config.json").at("n_routed_experts") == 8);
  // layer 0 is dense (first_k_dense_replace 1)
  check_tokens_per_expert(dir, model, {"model.layers.1", "model.layers.2"}, 8);
}
