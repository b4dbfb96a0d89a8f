// make_random_model writes HF-layout checkpoints with the tensor names and shapes the architectures define.
#include "support/doctest.hpp"

#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {
test::CommandResult make(const std::string& args) {
  return test::run_command((test::build_dir() / "bin" / "make_random_model").string() + " " + args);
}
}  // namespace

TEST_CASE("qwen3 with GQA and explicit head_dim; qwen2 biases; sharding with an index") {
  test::TempDir dir("rmm");
  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  auto result =
      make("--config " + fake.string() + " --tokenizer-from " + fake.string() + " --output " +
           (dir / "q3").string() + " --set model_type=qwen3 --set num_key_value_heads=1 --set head_dim=48" +
           " --dtype bfloat16 --shard-size-mb 1");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(fs::exists(dir / "q3" / "model.safetensors.index.json"));
  CHECK(fs::exists(dir / "q3" / "tokenizer.json"));
  const auto config = read_json_file(dir / "q3" / "config.json");
  CHECK(config["torch_dtype"] == "bfloat16");
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir / "q3");
  CHECK(checkpoint.info("model.layers.2.self_attn.q_proj.weight").shape ==
        std::vector<std::int64_t>{2 * 48, 128});
  CHECK(checkpoint.info("model.layers.2.self_attn.k_proj.weight").shape ==
        std::vector<std::int64_t>{48, 128});
  CHECK(checkpoint.info("model.layers.0.self_attn.q_norm.weight").shape == std::vector<std::int64_t>{48});
  CHECK(checkpoint.info("model.layers.0.mlp.down_proj.weight").dtype == "BF16");
  CHECK(checkpoint.contains("lm_head.weight"));
  CHECK(checkpoint.names().size() == 1 + 3 * 11 + 2);

  result = make("--config " + fake.string() + " --output " + (dir / "q2").string() +
                " --set model_type=qwen2 --set tie_word_embeddings=true");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto q2 = SafetensorsCheckpoint::open_dir(dir / "q2");
  CHECK(q2.contains("model.layers.1.self_attn.v_proj.bias"));
  CHECK_FALSE(q2.contains("lm_head.weight"));
}

TEST_CASE("bad flags and configs name the problem; nothing is left behind") {
  test::TempDir dir("rmm-bad");
  auto result = make("--config x --output " + (dir / "m").string() + " --frobnicate");
  CHECK(result.exit_code == 2);
  CHECK(result.output.find("--frobnicate") != std::string::npos);
  result = make("--output " + (dir / "m").string());
  CHECK(result.exit_code == 2);
  CHECK(result.output.find("--config is required") != std::string::npos);
  test::write_text(dir / "gpt.json", R"({"model_type": "gpt2", "hidden_size": 8})");
  result = make("--config " + (dir / "gpt.json").string() + " --output " + (dir / "m").string());
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("gpt2") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "m"));
  CHECK_FALSE(fs::exists(dir / "m.partial"));
}
