#include "moe_config.hpp"

#include <algorithm>

#include "modelslim/error.hpp"
#include "modelslim/hf_config_fields.hpp"

namespace modelslim::moe {
namespace {

MoeFamily family_of(const std::string& model_type, const std::filesystem::path& file) {
  if (model_type == "qwen3_moe") return MoeFamily::kQwen3Moe;
  if (model_type == "qwen2_moe") return MoeFamily::kQwen2Moe;
  if (model_type == "mixtral") return MoeFamily::kMixtral;
  throw Error(ErrorCode::kUnsupported,
              file.string() + ": model_type '" + model_type + "' is not handled by the moe adapter",
              "it handles qwen3_moe, qwen2_moe and mixtral");
}

void read_attention(const HfConfigFields& read, MoeConfig& config) {
  config.hidden_size = read.positive_int("hidden_size");
  config.num_layers = read.positive_int("num_hidden_layers");
  config.num_heads = read.positive_int("num_attention_heads");
  config.num_kv_heads = read.positive_int("num_key_value_heads", config.num_heads);
  config.vocab_size = read.positive_int("vocab_size");
  config.head_dim = read.positive_int("head_dim", config.hidden_size / config.num_heads);
  config.max_position_embeddings = read.positive_int("max_position_embeddings", 4096);
  config.rms_norm_eps = read.number("rms_norm_eps", 1e-6);
  config.rope_theta = read.number("rope_theta", 10000.0);
  config.tie_word_embeddings = read.boolean("tie_word_embeddings", false);
  // transformers: Qwen2MoeAttention always has q/k/v biases; the others only with attention_bias.
  config.qkv_bias = config.family == MoeFamily::kQwen2Moe || read.boolean("attention_bias", false);
  config.qk_norm = config.family == MoeFamily::kQwen3Moe;
  if (config.num_heads % config.num_kv_heads != 0) {
    read.fail("num_key_value_heads", "(" + std::to_string(config.num_kv_heads) +
                                         ") must divide num_attention_heads (" +
                                         std::to_string(config.num_heads) + ")");
  }
  if (config.head_dim % 2 != 0) read.fail("head_dim", "must be even for rotary embeddings");
}

void read_sliding_window(const HfConfigFields& read, MoeConfig& config) {
  if (config.family == MoeFamily::kMixtral) {  // every layer slides when sliding_window is set
    config.sliding_window = read.present("sliding_window") ? read.positive_int("sliding_window") : 0;
    return;
  }
  // Qwen MoE configs slide only the layers from max_window_layers on: one mask per model here.
  if (read.boolean("use_sliding_window", false)) {
    read.fail(
        "use_sliding_window",
        "true is not supported by the moe adapter (Qwen MoE models slide only some layers); set it false");
  }
}

void read_rope(const nlohmann::json& json, const HfConfigFields& read) {
  if (!read.present("rope_scaling")) return;
  const std::string type = read.rope_scaling_type();
  if (type != "default") {
    read.fail("rope_scaling", "is not supported by the moe adapter (only null or type default), got " +
                                  json["rope_scaling"].dump());
  }
}

void read_experts(const HfConfigFields& read, MoeConfig& config) {
  if (config.family == MoeFamily::kMixtral) {
    config.intermediate_size = read.positive_int("intermediate_size");
    config.num_experts = read.positive_int("num_local_experts", 8);
    config.top_k = read.positive_int("num_experts_per_tok", 2);
    config.expert_intermediate_size = config.intermediate_size;
    config.norm_topk_prob = true;  // MixtralSparseMoeBlock always renormalises
    config.sparse_layers.assign(static_cast<std::size_t>(config.num_layers), true);
    return;
  }
  const bool qwen3 = config.family == MoeFamily::kQwen3Moe;
  // Defaults are transformers' Qwen3MoeConfig / Qwen2MoeConfig defaults.
  config.intermediate_size = read.positive_int("intermediate_size", qwen3 ? 6144 : 5632);
  config.num_experts = read.positive_int("num_experts", qwen3 ? 128 : 60);
  config.top_k = read.positive_int("num_experts_per_tok", qwen3 ? 8 : 4);
  config.expert_intermediate_size = read.positive_int("moe_intermediate_size", qwen3 ? 768 : 1408);
  config.norm_topk_prob = read.boolean("norm_topk_prob", false);
  if (!qwen3) {
    config.shared_expert_intermediate_size = read.positive_int("shared_expert_intermediate_size", 5632);
  }
  const std::int64_t step = read.positive_int("decoder_sparse_step", 1);
  const std::vector<std::int64_t> dense = read.layer_indices("mlp_only_layers");
  for (std::int64_t layer = 0; layer < config.num_layers; ++layer) {
    const bool listed = std::find(dense.begin(), dense.end(), layer) != dense.end();
    config.sparse_layers.push_back(!listed && (layer + 1) % step == 0);
  }
}

}  // namespace

const std::vector<std::string>& moe_model_types() {
  static const std::vector<std::string> types = {
      "qwen3_moe",           "qwen2_moe",           "mixtral",
      "Qwen3MoeForCausalLM", "Qwen2MoeForCausalLM", "MixtralForCausalLM"};
  return types;
}

MoeConfig parse_moe_config(const nlohmann::json& json, const std::filesystem::path& model_dir) {
  const std::filesystem::path file = model_dir / "config.json";
  const HfConfigFields read(json, file);
  MoeConfig config;
  config.model_type = read.text("model_type", "");
  config.family = family_of(config.model_type, file);
  read_attention(read, config);
  read_sliding_window(read, config);
  read_rope(json, read);
  read_experts(read, config);
  if (config.top_k > config.num_experts) {
    read.fail("num_experts_per_tok", "(" + std::to_string(config.top_k) +
                                         ") exceeds the number of experts (" +
                                         std::to_string(config.num_experts) + ")");
  }
  const std::string act = read.text("hidden_act", "silu");
  if (act != "silu") read.fail("hidden_act", "'" + act + "' is not supported (expected silu)");
  return config;
}

}  // namespace modelslim::moe
