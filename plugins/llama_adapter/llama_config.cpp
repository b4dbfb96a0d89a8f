#include "llama_config.hpp"

#include "modelslim/error.hpp"
#include "modelslim/hf_config_fields.hpp"

namespace modelslim::llama {

LlamaConfig parse_llama_config(const nlohmann::json& json, const std::filesystem::path& model_dir) {
  const HfConfigFields read(json, model_dir / "config.json");
  LlamaConfig config;
  config.model_type = read.text("model_type", "llama");
  config.hidden_size = read.positive_int("hidden_size");
  config.intermediate_size = read.positive_int("intermediate_size");
  config.num_layers = read.positive_int("num_hidden_layers");
  config.num_heads = read.positive_int("num_attention_heads");
  config.num_kv_heads = read.positive_int("num_key_value_heads", config.num_heads);
  config.vocab_size = read.positive_int("vocab_size");
  config.head_dim = read.positive_int("head_dim", config.hidden_size / config.num_heads);
  config.max_position_embeddings = read.positive_int("max_position_embeddings", 4096);
  config.rms_norm_eps = read.number("rms_norm_eps", 1e-6);
  config.rope_theta = read.number("rope_theta", 10000.0);
  config.tie_word_embeddings = read.boolean("tie_word_embeddings", false);
  config.qkv_bias = config.model_type == "qwen2" || read.boolean("attention_bias", false);
  config.qk_norm = config.model_type == "qwen3";
  if (config.num_heads % config.num_kv_heads != 0) {
    read.fail("num_key_value_heads", "(" + std::to_string(config.num_kv_heads) +
                                         ") must divide num_attention_heads (" +
                                         std::to_string(config.num_heads) + ")");
  }
  if (config.head_dim % 2 != 0) read.fail("head_dim", "must be even for rotary embeddings");
  const std::string act = read.text("hidden_act", "silu");
  if (act != "silu") read.fail("hidden_act", "'" + act + "' is not supported (expected silu)");
  // Mistral slides every layer. Qwen2-style configs slide only when use_sliding_window is true, and then the
  // layers from max_window_layers on (transformers Qwen2Config.layer_types, default 28). One mask serves
  // every layer here, so a split between full and sliding layers is refused rather than computed wrongly.
  const bool mistral = config.model_type == "mistral";
  const bool sliding = read.boolean("use_sliding_window", mistral);
  if (sliding && read.present("sliding_window")) {
    const std::int64_t first_sliding = mistral ? 0 : read.non_negative_int("max_window_layers", 28);
    if (first_sliding == 0) {
      config.sliding_window = read.positive_int("sliding_window");
    } else if (first_sliding < config.num_layers) {
      read.fail("max_window_layers",
                "(" + std::to_string(first_sliding) + ") makes layers " + std::to_string(first_sliding) +
                    ".. use sliding-window attention and the earlier ones full attention; this adapter "
                    "applies one attention mask to every layer (set use_sliding_window: false, or "
                    "max_window_layers to 0 or >= num_hidden_layers)");
    }
  }

  if (read.present("rope_scaling")) {
    RopeScaling& rope = config.rope_scaling;
    rope.type = read.rope_scaling_type();  // rope_scaling is an object from here
    const auto& scaling = json["rope_scaling"];
    const auto number = [&](const char* key, double fallback) {
      if (!scaling.contains(key)) return fallback;
      if (!scaling[key].is_number()) read.fail(std::string("rope_scaling.") + key, "must be a number");
      return scaling[key].get<double>();
    };
    rope.factor = number("factor", 1.0);
    rope.low_freq_factor = number("low_freq_factor", 1.0);
    rope.high_freq_factor = number("high_freq_factor", 4.0);
    rope.original_max_position_embeddings = number("original_max_position_embeddings", 8192);
    if (rope.type != "default" && rope.type != "linear" && rope.type != "llama3") {
      read.fail("rope_scaling", "type '" + rope.type + "' is not supported (default, linear, llama3)");
    }
  }
  return config;
}

}  // namespace modelslim::llama
