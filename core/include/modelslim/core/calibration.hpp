// Calibration samples as token ids, limited to what the model can attend to: a sample longer than the
// model's context (config.json max_position_embeddings) calibrates positions the model never saw in
// training, and a user may ask for less (--max_calib_tokens / spec.max_calib_tokens).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/model_adapter.hpp"

namespace modelslim::core {

struct TokenLimit {
  std::size_t tokens = 0;
  std::string source;  // "max_position_embeddings in config.json" or "--max_calib_tokens"
};

// min(config.json max_position_embeddings, requested); nullopt when neither is known.
std::optional<TokenLimit> calibration_token_limit(const nlohmann::json& hf_config,
                                                  std::optional<std::size_t> requested,
                                                  const std::string& requested_source = "--max_calib_tokens");

// Cuts every sample [1, seq] to at most `limit.tokens` (its first tokens); returns how many were cut and
// logs that once.
std::size_t truncate_calibration(std::vector<at::Tensor>& token_ids, const TokenLimit& limit);

// tokenize_texts, then the model's limit and `requested` applied (with the log line).
std::vector<at::Tensor> calibration_token_ids(const ModelAdapter& model,
                                              const std::vector<std::string>& texts,
                                              std::optional<std::size_t> requested,
                                              const std::string& requested_source = "--max_calib_tokens");

}  // namespace modelslim::core
