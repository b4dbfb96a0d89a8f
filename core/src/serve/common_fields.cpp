// Fields shared by completions and chat completions.
#include <cmath>

#include "api_error.hpp"
#include "generation_request.hpp"
#include "json_fields.hpp"

namespace modelslim::core::serve {
namespace {

constexpr std::size_t kMaxStopStrings = 16;

std::vector<std::string> parse_stop(const nlohmann::json& body) {
  const auto found = body.find("stop");
  if (found == body.end() || found->is_null()) return {};
  const nlohmann::json list = found->is_string() ? nlohmann::json::array({*found}) : *found;
  if (!list.is_array() || list.size() > kMaxStopStrings) {
    invalid_field("stop", "a string or a list of at most 16 strings", *found);
  }
  std::vector<std::string> stop;
  for (const auto& item : list) {
    if (!item.is_string() || item.get<std::string>().empty()) {
      invalid_field("stop", "non-empty strings", *found);
    }
    stop.push_back(item.get<std::string>());
  }
  return stop;
}

void parse_sampling(const nlohmann::json& body, SamplingParams& params) {
  if (const auto temperature = optional_number(body, "temperature")) {
    if (!(*temperature >= 0 && *temperature <= 2))
      invalid_field("temperature", "in [0, 2]", body["temperature"]);
    params.temperature = *temperature;
  }
  if (const auto top_p = optional_number(body, "top_p")) {
    if (!(*top_p > 0 && *top_p <= 1)) invalid_field("top_p", "in (0, 1]", body["top_p"]);
    params.top_p = *top_p;
  }
  if (const auto top_k = optional_int(body, "top_k")) {
    // -1 is vLLM's spelling of "no limit".
    if (*top_k < -1) invalid_field("top_k", "-1, 0 (no limit) or a positive integer", body["top_k"]);
    params.top_k = *top_k < 0 ? 0 : *top_k;
  }
  if (const auto seed = optional_int(body, "seed")) params.seed = static_cast<std::uint64_t>(*seed);
  params.stop = parse_stop(body);
}

// Fields whose only supported value is their default: refused rather than silently ignored.
void refuse_unsupported(const nlohmann::json& body) {
  for (const char* field : {"n", "best_of"}) {
    if (const auto value = optional_int(body, field); value && *value != 1) {
      throw ApiError(400, std::string("`") + field + "` other than 1 is not supported by modelslim serve",
                     field);
    }
  }
  for (const char* field : {"presence_penalty", "frequency_penalty"}) {
    if (const auto value = optional_number(body, field); value && *value != 0) {
      throw ApiError(400, std::string("`") + field + "` is not supported by modelslim serve (only 0)", field);
    }
  }
  if (const auto bias = body.find("logit_bias"); bias != body.end() && !bias->is_null() && !bias->empty()) {
    throw ApiError(400, "`logit_bias` is not supported by modelslim serve", "logit_bias");
  }
}

void parse_stream(const nlohmann::json& body, GenerationRequest& request) {
  request.stream = optional_bool(body, "stream").value_or(false);
  const auto options = body.find("stream_options");
  if (options == body.end() || options->is_null()) return;
  if (!options->is_object()) invalid_field("stream_options", "an object", *options);
  request.include_usage = optional_bool(*options, "include_usage").value_or(false);
}

}  // namespace

void parse_common_fields(const nlohmann::json& body, const ModelLimits& model, GenerationRequest& request) {
  if (const auto name = optional_string(body, "model"); name && *name != model.served_model_name) {
    throw ApiError(404,
                   "The model `" + *name + "` does not exist; this server serves `" +
                       model.served_model_name + "` (GET /v1/models)",
                   "model", "model_not_found");
  }
  refuse_unsupported(body);
  parse_sampling(body, request.params);
  parse_stream(body, request);
}

void check_context(const GenerationRequest& request, const ModelLimits& model) {
  for (const auto& prompt : request.prompts) {
    const auto prompt_tokens = static_cast<std::int64_t>(prompt.ids.size());
    // Compared without adding: max_tokens may be near 2^63.
    if (request.params.max_tokens > model.context_length - prompt_tokens) {
      const std::string requested = request.params.max_tokens > model.context_length
                                        ? "more than " + std::to_string(model.context_length)
                                        : std::to_string(prompt_tokens + request.params.max_tokens);
      throw ApiError(400,
                     "This model's maximum context length is " + std::to_string(model.context_length) +
                         " tokens. However, you requested " + requested + " tokens (" +
                         std::to_string(prompt.ids.size()) + " in the prompt, " +
                         std::to_string(request.params.max_tokens) +
                         " for the completion). Please reduce the prompt or max_tokens.",
                     "max_tokens", "context_length_exceeded");
    }
  }
}

}  // namespace modelslim::core::serve
