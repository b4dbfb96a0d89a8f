#include "modelslim/core/text_generator.hpp"

#include <ATen/ATen.h>

#include "model_decoder.hpp"
#include "modelslim/core/output_text.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/sampling.hpp"
#include "modelslim/deployed_model.hpp"
#include "modelslim/error.hpp"
#include "modelslim/kv_cache_quant.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/tokenizer.hpp"
#include "text_generator_model.hpp"

namespace modelslim::core {
namespace {

// The log-prob entry of `token` under `log_probs` (float64 [vocab]) with `alternatives` most likely tokens.
TokenLogprob token_logprob(const Tokenizer& tokenizer, const at::Tensor& log_probs, std::int64_t token,
                           std::int64_t alternatives) {
  TokenLogprob entry{token, tokenizer.decode({token}), log_probs[token].item<double>(), {}};
  if (alternatives > 0) {
    const auto [values, ids] = log_probs.topk(std::min(alternatives, log_probs.size(0)));
    for (std::int64_t i = 0; i < values.size(0); ++i)
      entry.top.emplace_back(tokenizer.decode({ids[i].item<std::int64_t>()}), values[i].item<double>());
  }
  return entry;
}

class ModelTextGenerator final : public TextGenerator {
 public:
  // `artifact`: the saved quantized model `model` was loaded from (its quantized linears run from the
  // saved tensors); nullptr for the float model.
  ModelTextGenerator(std::unique_ptr<ModelAdapter> model, const std::filesystem::path& model_dir,
                     const DeployedArtifact* artifact)
      : model_(std::move(model)),
        info_(read_model_text_info(model_dir, model_->hf_config(), model_->tokenizer())) {
    std::vector<Block*> blocks;
    for (std::size_t i = 0; i < model_->num_blocks(); ++i) {
      blocks_.push_back(model_->load_block(i));
      if (artifact != nullptr) {
        artifact->apply(*blocks_.back());
        apply_deployed_kv_cache(*artifact, *blocks_.back());
      }
      blocks.push_back(blocks_.back().get());
    }
    decoder_ = make_model_decoder(*model_, blocks);
  }

  const Tokenizer& tokenizer() const override { return model_->tokenizer(); }
  std::int64_t context_length() const override { return info_.context_length; }
  std::string chat_template() const override { return info_.chat_template; }
  std::string bos_token() const override { return info_.bos_token; }
  std::string eos_token() const override { return info_.eos_token; }

  Generation generate(const std::vector<std::int64_t>& prompt_ids, const SamplingParams& params,
                      const TextCallback& on_text) override {
    check_request(prompt_ids, params);
    at::NoGradGuard no_grad;
    Generation result;
    result.prompt_ids = prompt_ids;
    decoder_->reset();
    const at::Tensor prompt_hidden = decoder_->append(prompt_ids);
    if (params.echo) {
      score_prompt(prompt_hidden, params, result);
    }
    at::Tensor logits = model_->head(prompt_hidden.narrow(1, prompt_hidden.size(1) - 1, 1))[0][0];
    decode_loop(logits, params, on_text, result);
    return result;
  }

 private:
  void check_request(const std::vector<std::int64_t>& prompt_ids, const SamplingParams& params) const {
    if (prompt_ids.empty())
      throw Error(ErrorCode::kSpec, "generate: the prompt has no tokens", "give at least one token");
    const auto total = static_cast<std::int64_t>(prompt_ids.size()) + params.max_tokens;
    if (params.max_tokens < 0 || total > info_.context_length) {
      throw Error(ErrorCode::kSpec,
                  "generate: prompt (" + std::to_string(prompt_ids.size()) + " tokens) + max_tokens (" +
                      std::to_string(params.max_tokens) + ") exceeds the model's context of " +
                      std::to_string(info_.context_length) + " positions",
                  "shorten the prompt or lower max_tokens");
    }
  }

  void score_prompt(const at::Tensor& hidden, const SamplingParams& params, Generation& result) {
    const at::Tensor logits = model_->head(hidden)[0];
    const std::int64_t alternatives = params.logprobs.value_or(0);
    result.prompt_logprobs.push_back(
        {result.prompt_ids[0], tokenizer().decode({result.prompt_ids[0]}), std::nullopt, {}});
    for (std::size_t i = 1; i < result.prompt_ids.size(); ++i) {
      const at::Tensor log_probs = log_probabilities(logits[static_cast<std::int64_t>(i) - 1]);
      result.prompt_logprobs.push_back(
          token_logprob(tokenizer(), log_probs, result.prompt_ids[i], alternatives));
    }
  }

  void decode_loop(at::Tensor logits, const SamplingParams& params, const TextCallback& on_text,
                   Generation& result) {
    TokenSampler sampler(params);
    OutputText text(tokenizer(), params.stop, result.prompt_ids);
    const auto emit = [&](bool final) {
      const std::string delta = text.take(final);
      return delta.empty() || !on_text || on_text(delta);
    };
    result.finish = FinishReason::kLength;
    for (std::int64_t step = 0; step < params.max_tokens; ++step) {
      const std::int64_t token = sampler.next(logits);
      if (info_.eos_ids.count(token)) {
        result.finish = FinishReason::kStop;
        break;
      }
      result.output_ids.push_back(token);
      if (params.logprobs) {
        result.output_logprobs.push_back(
            token_logprob(tokenizer(), log_probabilities(logits), token, *params.logprobs));
      }
      if (text.push(token)) {
        result.finish = FinishReason::kStop;
        break;
      }
      if (!emit(false)) {
        result.finish = FinishReason::kCancelled;
        break;
      }
      if (step + 1 < params.max_tokens) logits = model_->head(decoder_->append({token}))[0][0];
    }
    if (result.finish != FinishReason::kCancelled && !emit(true)) result.finish = FinishReason::kCancelled;
    result.output_ids.resize(text.kept_tokens());
    if (result.output_logprobs.size() > text.kept_tokens()) result.output_logprobs.resize(text.kept_tokens());
    result.text = text.text();
  }

  std::unique_ptr<ModelAdapter> model_;
  ModelTextInfo info_;
  std::vector<std::unique_ptr<Block>> blocks_;  // every block resident; declared after the adapter
  std::unique_ptr<ModelDecoder> decoder_;
};

}  // namespace

std::unique_ptr<TextGenerator> open_text_generator(const PluginRegistry& registry,
                                                   const GeneratorOptions& options) {
  if (!options.quant_path) {
    return std::make_unique<ModelTextGenerator>(registry.load_model(options.model_path, options.model_type),
                                                options.model_path, nullptr);
  }
  // The saved tensors are only read while the blocks load; the artifact need not outlive the constructor.
  const DeployedArtifact artifact = DeployedArtifact::open(*options.quant_path);
  return std::make_unique<ModelTextGenerator>(artifact.load_model(registry, options.model_type),
                                              options.model_path, &artifact);
}

}  // namespace modelslim::core
