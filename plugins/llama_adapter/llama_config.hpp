// The config.json fields the Llama-family decoder needs (Llama 2/3, Mistral, Qwen2/2.5, Qwen3).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace modelslim::llama {

struct RopeScaling {
  std::string type = "default";  // default | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  std::string model_type;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t vocab_size = 0;
  std::int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;            // Qwen2 always; others with attention_bias
  bool qk_norm = false;             // Qwen3
  std::int64_t sliding_window = 0;  // 0: none
};

// Throws Error(kInvalidModel) naming config.json and the field for missing or invalid values.
LlamaConfig parse_llama_config(const nlohmann::json& config, const std::filesystem::path& model_dir);

}  // namespace modelslim::llama
