#include "deepseek_config.hpp"

#include <cmath>

#include "modelslim/error.hpp"
#include "modelslim/hf_config_fields.hpp"

namespace modelslim::deepseek {
namespace {

YarnScaling parse_yarn(const nlohmann::json& scaling, const HfConfigFields& read) {
  YarnScaling yarn;
  const auto number = [&](const char* key, double fallback) {
    if (!scaling.contains(key) || scaling[key].is_null()) return fallback;
    if (!scaling[key].is_number()) read.fail(std::string("rope_scaling.") + key, "must be a number");
    return scaling[key].get<double>();
  };
  yarn.factor = number("factor", 1.0);
  yarn.original_max_position_embeddings = number("original_max_position_embeddings", 4096);
  yarn.beta_fast = number("beta_fast", 32);
  yarn.beta_slow = number("beta_slow", 1);
  yarn.mscale = number("mscale", 0);
  yarn.mscale_all_dim = number("mscale_all_dim", 0);
  if (scaling.contains("attention_factor") && !scaling["attention_factor"].is_null()) {
    yarn.attention_factor = number("attention_factor", 1.0);
  }
  if (!(yarn.factor > 0)) read.fail("rope_scaling.factor", "must be positive");
  if (!(yarn.original_max_position_embeddings > 0)) {
    read.fail("rope_scaling.original_max_position_embeddings", "must be positive");
  }
  return yarn;
}

void parse_rope(const nlohmann::json& json, const HfConfigFields& read, DeepseekConfig& config) {
  config.rope_theta = read.number("rope_theta", 10000.0);
  config.rope_interleave = read.boolean("rope_interleave", true);
  const std::string type = read.rope_scaling_type();  // rope_scaling is an object unless this is ""
  if (type.empty() || type == "default") return;
  if (type != "yarn") {
    read.fail("rope_scaling", "type '" + type + "' is not supported for DeepSeek models (default, yarn)");
  }
  config.yarn = parse_yarn(json["rope_scaling"], read);
}

void parse_mla(const HfConfigFields& read, DeepseekConfig& config) {
  config.q_lora_rank = read.positive_int("q_lora_rank", 0);
  config.kv_lora_rank = read.positive_int("kv_lora_rank");
  config.qk_nope_head_dim = read.positive_int("qk_nope_head_dim");
  config.qk_rope_head_dim = read.positive_int("qk_rope_head_dim");
  config.v_head_dim = read.positive_int("v_head_dim");
  if (config.qk_rope_head_dim % 2 != 0) read.fail("qk_rope_head_dim", "must be even for rotary embeddings");
}

void parse_router(const HfConfigFields& read, DeepseekConfig& config, bool v2) {
  const std::string scoring = read.text("scoring_func", v2 ? "softmax" : "sigmoid");
  if (scoring != "softmax" && scoring != "sigmoid") {
    read.fail("scoring_func", "'" + scoring + "' is not supported (softmax, sigmoid)");
  }
  config.scoring = scoring == "softmax" ? Scoring::kSoftmax : Scoring::kSigmoid;
  const std::string method = read.text("topk_method", v2 ? "greedy" : "noaux_tc");
  if (method == "greedy") {
    config.topk_method = TopkMethod::kGreedy;
  } else if (method == "group_limited_greedy") {
    config.topk_method = TopkMethod::kGroupLimitedGreedy;
  } else if (method == "noaux_tc") {
    config.topk_method = TopkMethod::kNoauxTc;
  } else {
    read.fail("topk_method", "'" + method + "' is not supported (greedy, group_limited_greedy, noaux_tc)");
  }
  config.norm_topk_prob = read.boolean("norm_topk_prob", !v2);
  config.routed_scaling_factor = read.number("routed_scaling_factor", 1.0);
  config.scale_after_norm = !v2;
  config.n_group = read.positive_int("n_group", 1);
  config.topk_group = read.positive_int("topk_group", 1);
}

void check_router(const HfConfigFields& read, const DeepseekConfig& config) {
  const auto text = [](std::int64_t value) { return std::to_string(value); };
  if (config.n_routed_experts % config.n_group != 0) {
    read.fail("n_group", "(" + text(config.n_group) + ") must divide n_routed_experts (" +
                             text(config.n_routed_experts) + ")");
  }
  if (config.topk_group > config.n_group) {
    read.fail("topk_group",
              "(" + text(config.topk_group) + ") must not exceed n_group (" + text(config.n_group) + ")");
  }
  const std::int64_t per_group = config.n_routed_experts / config.n_group;
  const bool grouped = config.topk_method != TopkMethod::kGreedy;
  const std::int64_t eligible = grouped ? config.topk_group * per_group : config.n_routed_experts;
  if (config.num_experts_per_tok > eligible) {
    read.fail("num_experts_per_tok", "(" + text(config.num_experts_per_tok) + ") exceeds the " +
                                         text(eligible) + " experts the selected groups hold");
  }
  if (config.topk_method == TopkMethod::kNoauxTc && per_group < 2) {
    read.fail("n_group", "leaves " + text(per_group) +
                             " expert per group; noaux_tc ranks groups by their two best experts");
  }
}

void parse_moe(const HfConfigFields& read, DeepseekConfig& config, bool v2) {
  config.n_routed_experts = read.non_negative_int("n_routed_experts", 0);
  if (config.n_routed_experts == 0) return;
  config.n_shared_experts = read.non_negative_int("n_shared_experts", 0);
  config.moe_intermediate_size = read.positive_int("moe_intermediate_size");
  config.num_experts_per_tok = read.positive_int("num_experts_per_tok");
  config.first_k_dense_replace = read.non_negative_int("first_k_dense_replace", 0);
  config.moe_layer_freq = read.positive_int("moe_layer_freq", 1);
  parse_router(read, config, v2);
  check_router(read, config);
}

}  // namespace

double yarn_mscale(double factor, double mscale) {
  return factor <= 1 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0;
}

double rope_attention_factor(const DeepseekConfig& config) {
  if (!config.yarn) return 1.0;
  const YarnScaling& yarn = *config.yarn;
  if (yarn.attention_factor) return *yarn.attention_factor;
  if (yarn.mscale != 0 && yarn.mscale_all_dim != 0) {
    return yarn_mscale(yarn.factor, yarn.mscale) / yarn_mscale(yarn.factor, yarn.mscale_all_dim);
  }
  return yarn_mscale(yarn.factor, 1.0);
}

double softmax_scale(const DeepseekConfig& config) {
  double scale = 1.0 / std::sqrt(static_cast<double>(config.qk_head_dim()));
  if (config.yarn && config.yarn->mscale_all_dim != 0) {
    const double mscale = yarn_mscale(config.yarn->factor, config.yarn->mscale_all_dim);
    scale *= mscale * mscale;
  }
  return scale;
}

DeepseekConfig parse_deepseek_config(const nlohmann::json& json, const std::filesystem::path& model_dir) {
  const HfConfigFields read(json, model_dir / "config.json");
  DeepseekConfig config;
  config.model_type = read.text("model_type", "deepseek_v3");
  const bool v2 = config.model_type == "deepseek_v2";
  config.hidden_size = read.positive_int("hidden_size");
  config.intermediate_size = read.positive_int("intermediate_size");
  config.num_layers = read.positive_int("num_hidden_layers");
  config.num_heads = read.positive_int("num_attention_heads");
  config.vocab_size = read.positive_int("vocab_size");
  config.rms_norm_eps = read.number("rms_norm_eps", 1e-6);
  config.tie_word_embeddings = read.boolean("tie_word_embeddings", false);
  config.attention_bias = read.boolean("attention_bias", false);
  const std::string act = read.text("hidden_act", "silu");
  if (act != "silu") read.fail("hidden_act", "'" + act + "' is not supported (expected silu)");
  parse_mla(read, config);
  parse_rope(json, read, config);
  parse_moe(read, config, v2);
  config.num_nextn_predict_layers = read.non_negative_int("num_nextn_predict_layers", 0);
  config.fp8 = fp8_block_size(json, read.file());
  return config;
}

}  // namespace modelslim::deepseek
