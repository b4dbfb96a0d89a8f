// Mixture-of-experts checkpoints (issue 13): exact model-type routing, the moe adapter's float forward
// against an independent float64 forward (tests/support/reference_moe.hpp), and the subgraphs it describes.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <set>

#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/error.hpp"
#include "modelslim/expert_routing.hpp"
#include "modelslim/fused_module_source.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/moe_models.hpp"
#include "support/reference_moe.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace modelslim;

namespace {

using modelslim::test::plugin_dir;

std::string thrown_message(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& error) {
    return std::string(error.what()) + " TIP: " + error.tip();
  }
  return "";
}

// Relative error (Frobenius) of the adapter's float32 logits against the float64 reference.
double relative_logit_error(const fs::path& model, const std::string& text) {
  core::PluginRegistry registry;
  registry.load_directory(plugin_dir());
  const nlohmann::json config = read_json_file(model / "config.json");
  REQUIRE(registry.select_model_adapter("", config) == "moe");
  auto adapter = registry.load_model(model, "");
  const std::vector<std::int64_t> ids = adapter->tokenizer().encode(text);
  REQUIRE(ids.size() >= 8);
  const at::Tensor logits = forward_logits(*adapter, at::tensor(ids, at::kLong).reshape({1, -1}));

  const auto checkpoint = SafetensorsCheckpoint::open_dir(model);
  const auto tensor = [&](const std::string& name) { return checkpoint.load(name).to(at::kDouble); };
  const auto linear = [&](const std::string& module, const at::Tensor& x) {
    at::Tensor y = at::matmul(x, tensor(module + ".weight").t());
    if (checkpoint.contains(module + ".bias")) y = y + tensor(module + ".bias");
    return y;
  };
  const at::Tensor expected = test::reference_moe_logits(config, ids, tensor, linear);
  return (logits[0].to(at::kDouble) - expected).norm().item<double>() / expected.norm().item<double>();
}

}  // namespace

TEST_CASE("model types route exactly: qwen3_moe never reaches the llama adapter by prefix") {
  core::PluginRegistry registry;
  registry.load_library(plugin_dir() / "libmodelslim_llama_adapter.so");
  const nlohmann::json moe = {{"model_type", "qwen3_moe"}, {"architectures", {"Qwen3MoeForCausalLM"}}};
  const std::string message = thrown_message([&] { registry.select_model_adapter("", moe); });
  CHECK_MESSAGE(message.find("qwen3_moe") != std::string::npos, message);
  CHECK_MESSAGE(message.find("supported: llama (llama, mistral, qwen2, qwen3") != std::string::npos, message);
  CHECK_MESSAGE(message.find("docs/plugin-sdk.md") != std::string::npos, message);

  registry.load_library(plugin_dir() / "libmodelslim_moe_adapter.so");
  CHECK(registry.select_model_adapter("", moe) == "moe");
  // Architectures decide when model_type names no adapter.
  CHECK(registry.select_model_adapter("", {{"model_type", "x"}, {"architectures", {"MixtralForCausalLM"}}}) ==
        "moe");
  CHECK(registry.select_model_adapter("", {{"architectures", {"Qwen3ForCausalLM"}}}) == "llama");
  // --model_type as a model NAME (practice lookup): config.json picks the adapter, exactly.
  const nlohmann::json qwen3 = {{"model_type", "qwen3"}};
  CHECK(registry.select_model_adapter("Qwen3-8B", qwen3) == "llama");
  CHECK(registry.select_model_adapter("Qwen3-30B-A3B", moe) == "moe");
  CHECK(registry.select_model_adapter("QWEN3_MOE", qwen3) == "moe");  // an exact type wins, any case
  const std::string unknown = thrown_message([&] {
    registry.select_model_adapter("gpt2", {{"model_type", "gpt2"}});
  });
  CHECK_MESSAGE(unknown.find("moe (qwen3_moe, qwen2_moe, mixtral") != std::string::npos, unknown);
  CHECK_MESSAGE(unknown.find("docs/plugin-sdk.md") != std::string::npos, unknown);
  // A prefix is not a match.
  CHECK_FALSE(thrown_message([&] {
                registry.select_model_adapter("", {{"model_type", "qwen3_next"}});
              }).empty());
}

TEST_CASE("moe adapter float forward equals an independent float64 forward") {
  const std::string text = "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG AND THE END";
  for (const std::string family : {"qwen3_moe", "qwen2_moe", "mixtral"}) {
    CAPTURE(family);
    const fs::path model = test::shared_moe_model(family);
    const double relative = relative_logit_error(model, text);
    MESSAGE(family << ": relative logit error vs float64 " << relative);
    CHECK(relative < 1e-4);
  }
}

TEST_CASE("moe blocks: dense/sparse mix, checkpoint names, subgraphs for every processor") {
  const fs::path model = test::shared_moe_model("qwen2_moe");
  core::PluginRegistry registry;
  registry.load_directory(plugin_dir());
  auto adapter = registry.load_model(model, "");
  auto dense = adapter->load_block(0);
  auto sparse = adapter->load_block(1);  // decoder_sparse_step 2: only layer 1 is sparse
  CHECK(dense->find_linear("model.layers.0.mlp.up_proj") != nullptr);
  CHECK(expert_routing(*dense) != nullptr);
  CHECK(expert_routing(*dense)->routed_experts().empty());
  const std::string moe = "model.layers.1.mlp.";
  for (const std::string name : {"gate", "experts.3.up_proj", "experts.0.down_proj",
                                 "shared_expert.gate_proj", "shared_expert_gate"}) {
    CHECK_MESSAGE(sparse->find_linear(moe + name) != nullptr, name);
  }
  CHECK(sparse->linears().size() == 4 + 1 + 4 * 3 + 4);
  // post_attention_layernorm feeds the router, every expert's gate/up, the shared expert and its gate.
  const auto norms = sparse->norm_linear_subgraphs();
  REQUIRE(norms.size() == 2);
  CHECK(norms[1].linears.size() == 1 + 4 * 2 + 2 + 1);
  const auto pairs = sparse->linear_pair_subgraphs();
  CHECK(pairs.size() == 1 + 4 + 1);  // ov, up→down per expert and for the shared expert
  const auto rotation = sparse->rotation_points();
  REQUIRE(rotation.has_value());
  std::set<std::string> readers;
  for (Linear* reader : rotation->readers) readers.insert(reader->name());
  CHECK(readers.count(moe + "gate") == 1);
  CHECK(rotation->writers.size() == 1 + 4 + 1);
  // Fused modules: q/k/v, and gate/up of each expert and of the shared expert.
  std::set<std::string> fused;
  for (const FusedModule& module : block_fused_modules(*sparse)) fused.insert(module.name);
  CHECK(fused.count(moe + "experts.2.gate_up_proj") == 1);
  CHECK(fused.count(moe + "shared_expert.gate_up_proj") == 1);
  const auto model_fused = model_fused_modules(*adapter);
  REQUIRE(model_fused.has_value());
  CHECK(model_fused->size() == 3 * 2 + 4);  // 3 layers × (qkv, gate_up) + layer 1's 4 more experts
}
