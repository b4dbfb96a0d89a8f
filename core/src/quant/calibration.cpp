#include "modelslim/core/calibration.hpp"

#include <spdlog/spdlog.h>

namespace modelslim::core {

std::optional<TokenLimit> calibration_token_limit(const nlohmann::json& hf_config,
                                                  std::optional<std::size_t> requested,
                                                  const std::string& requested_source) {
  std::optional<TokenLimit> limit;
  const auto found = hf_config.find("max_position_embeddings");
  if (found != hf_config.end() && found->is_number_integer() && found->get<std::int64_t>() > 0) {
    limit = TokenLimit{found->get<std::size_t>(), "max_position_embeddings in config.json"};
  }
  if (requested && (!limit || *requested < limit->tokens)) limit = TokenLimit{*requested, requested_source};
  return limit;
}

std::size_t truncate_calibration(std::vector<at::Tensor>& token_ids, const TokenLimit& limit) {
  std::size_t cut = 0;
  const auto tokens = static_cast<std::int64_t>(limit.tokens);
  for (at::Tensor& ids : token_ids) {
    if (ids.size(-1) <= tokens) continue;
    ids = ids.narrow(-1, 0, tokens).contiguous();
    ++cut;
  }
  if (cut > 0) {
    spdlog::info("calibration: {} of {} samples truncated to {} tokens ({})", cut, token_ids.size(),
                 limit.tokens, limit.source);
  }
  return cut;
}

std::vector<at::Tensor> calibration_token_ids(const ModelAdapter& model,
                                              const std::vector<std::string>& texts,
                                              std::optional<std::size_t> requested,
                                              const std::string& requested_source) {
  std::vector<at::Tensor> ids = tokenize_texts(model, texts);
  if (const auto limit = calibration_token_limit(model.hf_config(), requested, requested_source)) {
    truncate_calibration(ids, *limit);
  }
  return ids;
}

}  // namespace modelslim::core
