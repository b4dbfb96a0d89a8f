// What the text generator reads beside the weights: tokenizer_config.json's chat template and special
// tokens, the end-of-sequence ids and the context length.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace modelslim {
class Tokenizer;
}

namespace modelslim::core {

struct ModelTextInfo {
  std::string chat_template;
  std::string bos_token;
  std::string eos_token;
  std::set<std::int64_t> eos_ids;  // config.json / generation_config.json eos_token_id, and eos_token's id
  std::int64_t context_length = 0;
};

// `hf_config` is the loaded model's config.json; the other files are read from `model_dir` when present.
ModelTextInfo read_model_text_info(const std::filesystem::path& model_dir, const nlohmann::json& hf_config,
                                   const Tokenizer& tokenizer);

}  // namespace modelslim::core
