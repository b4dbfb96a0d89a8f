#include "builtin_evaluator.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <optional>

#include "eval_datasets.hpp"
#include "modelslim/block_prefetch.hpp"
#include "modelslim/buffer_pool.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/deployed_model.hpp"
#include "modelslim/error.hpp"
#include "modelslim/metrics.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"

namespace modelslim::eval {
namespace {

const std::vector<std::string> kMetrics = {"ppl", "acc", "choice_acc", "fidelity"};

// Runs every sequence through all blocks (one block resident at a time) and returns the final hidden states.
std::vector<at::Tensor> final_hidden(ModelAdapter& model,
                                     const std::vector<std::vector<std::int64_t>>& sequences,
                                     const DeployedArtifact* saved) {
  std::vector<BlockInput> states;
  for (const auto& ids : sequences) {
    states.push_back(model.embed(at::tensor(ids, at::kLong).reshape({1, -1})));
  }
  {
    BlockLoader loader(model);  // block k+1 is read while block k runs (the quant runner's loading)
    for (std::size_t index = 0; index < model.num_blocks(); ++index) {
      buffer_pool_next_round();
      const std::unique_ptr<Block> block = loader.load(index);
      if (saved != nullptr) saved->apply(*block);
      for (BlockInput& state : states) state.hidden = block->forward(state.hidden, *state.context);
    }
  }
  release_pooled_buffers();
  std::vector<at::Tensor> result;
  for (BlockInput& state : states) result.push_back(state.hidden);
  return result;
}

MetricValue metric(const std::string& dataset, const std::string& name, double value,
                   MetricDirection direction) {
  return MetricValue{dataset, name, value, direction};
}

}  // namespace

BuiltinEvaluator::BuiltinEvaluator(const ConfigNode& config, const HostServices& host) : host_(host) {
  config.check_keys({"type", "datasets", "max_samples", "max_tokens", "dump_logits"});
  max_samples_ = config.get_int("max_samples", 0);
  max_tokens_ = config.get_int("max_tokens", 512);
  dump_logits_ = config.get_string("dump_logits", "");
  if (max_samples_ < 0) config["max_samples"].fail("must be >= 0 (0 = all)");
  if (max_tokens_ < 2) config["max_tokens"].fail("must be >= 2");
  if (!config.has("datasets")) config.fail("missing required field 'datasets'");
  for (const ConfigNode& node : config["datasets"].items()) {
    node.check_keys({"name", "path", "metrics"});
    DatasetSpec spec;
    if (!node.has("path")) node.fail("missing required field 'path'");
    spec.name = node.get_string("name", std::filesystem::path(node["path"].as_string()).stem().string());
    // Resolved now (by path or by name, as calibration sets are), so a missing file fails before any work.
    try {
      spec.path = host.find_dataset(node["path"].as_string()).string();
    } catch (const Error& error) {
      node["path"].fail(error.what());
    }
    spec.metrics = node.get_string_list("metrics", {"ppl"});
    for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
      if (std::find(kMetrics.begin(), kMetrics.end(), spec.metrics[i]) == kMetrics.end()) {
        node["metrics"].at(i).fail("unknown metric '" + spec.metrics[i] +
                                   "' (known: ppl, acc, choice_acc, fidelity)");
      }
    }
    datasets_.push_back(std::move(spec));
  }
  if (datasets_.empty()) config["datasets"].fail("needs at least one dataset");
}

std::vector<std::string> BuiltinEvaluator::dataset_names() const {
  std::vector<std::string> names;
  for (const DatasetSpec& spec : datasets_) names.push_back(spec.name);
  return names;
}

EvaluationResult BuiltinEvaluator::evaluate(const EvaluationRequest& request) {
  const std::unique_ptr<ModelAdapter> float_model = host_.load_model(request.model_dir, request.model_type);
  std::unique_ptr<ModelAdapter> quant_model;
  std::optional<DeployedArtifact> saved;
  if (request.quant_dir) {
    saved = DeployedArtifact::open(*request.quant_dir);
    quant_model = saved->load_model(host_, request.model_type);
  }
  ModelAdapter& model = quant_model ? *quant_model : *float_model;
  const Tokenizer& tokenizer = model.tokenizer();
  const auto limit = [&](std::size_t count) {
    return max_samples_ > 0 ? std::min<std::size_t>(count, static_cast<std::size_t>(max_samples_)) : count;
  };

  EvaluationResult result;
  std::vector<std::pair<std::string, at::Tensor>> dumped;
  for (const DatasetSpec& spec : datasets_) {
    const auto wants = [&](const char* m) {
      return std::find(spec.metrics.begin(), spec.metrics.end(), m) != spec.metrics.end();
    };
    if (wants("ppl") || wants("acc") || wants("fidelity")) {
      const std::vector<std::string> texts = read_text_dataset(spec.path);
      std::vector<std::vector<std::int64_t>> sequences;
      for (std::size_t i = 0; i < limit(texts.size()); ++i) {
        std::vector<std::int64_t> ids = tokenizer.encode(texts[i]);
        if (static_cast<std::int64_t>(ids.size()) > max_tokens_)
          ids.resize(static_cast<std::size_t>(max_tokens_));
        if (ids.size() >= 2) sequences.push_back(std::move(ids));
      }
      if (sequences.empty()) {
        throw Error(ErrorCode::kInvalidDataset,
                    spec.path + ": no sample has at least two tokens to evaluate");
      }
      const auto hidden = final_hidden(model, sequences, saved ? &*saved : nullptr);
      std::vector<at::Tensor> reference;
      if (wants("fidelity") && saved) reference = final_hidden(*float_model, sequences, nullptr);
      NextTokenStats total;
      FidelityStats fidelity;
      for (std::size_t i = 0; i < sequences.size(); ++i) {
        const at::Tensor logits = model.head(hidden[i]).squeeze(0);
        const NextTokenStats stats = next_token_stats(logits, sequences[i]);
        if (!dump_logits_.empty()) {
          const std::string key = spec.name + "." + std::to_string(i);
          dumped.emplace_back(key + ".logits", logits.to(at::kFloat).contiguous());
          dumped.emplace_back(key + ".ids", at::tensor(sequences[i], at::kLong));
        }
        total.nll_sum += stats.nll_sum;
        total.tokens += stats.tokens;
        total.correct += stats.correct;
        if (!reference.empty()) {
          const FidelityStats f = fidelity_stats(float_model->head(reference[i]).squeeze(0), logits);
          fidelity.positions += f.positions;
          fidelity.top1_agree += f.top1_agree;
          fidelity.kl_sum += f.kl_sum;
        }
      }
      if (wants("ppl")) {
        result.metrics.push_back(metric(spec.name, "ppl", std::exp(total.nll_sum / double(total.tokens)),
                                        MetricDirection::kLowerIsBetter));
      }
      if (wants("acc")) {
        result.metrics.push_back(metric(spec.name, "acc", double(total.correct) / double(total.tokens),
                                        MetricDirection::kHigherIsBetter));
      }
      if (fidelity.positions > 0) {
        result.metrics.push_back(metric(spec.name, "top1_agree",
                                        double(fidelity.top1_agree) / double(fidelity.positions),
                                        MetricDirection::kHigherIsBetter));
        result.metrics.push_back(metric(spec.name, "kl", fidelity.kl_sum / double(fidelity.positions),
                                        MetricDirection::kLowerIsBetter));
      }
    }
    if (wants("choice_acc")) {
      const std::vector<ChoiceSample> samples = read_choice_dataset(spec.path);
      std::vector<std::vector<std::int64_t>> sequences;
      std::vector<std::size_t> context_sizes;
      for (std::size_t i = 0; i < limit(samples.size()); ++i) {
        const std::vector<std::int64_t> context = tokenizer.encode(samples[i].context);
        for (const std::string& choice : samples[i].choices) {
          std::vector<std::int64_t> ids = context;
          const std::vector<std::int64_t> continuation = tokenizer.encode(choice, false);
          ids.insert(ids.end(), continuation.begin(), continuation.end());
          sequences.push_back(std::move(ids));
          context_sizes.push_back(context.size());
        }
      }
      const auto hidden = final_hidden(model, sequences, saved ? &*saved : nullptr);
      std::size_t next = 0;
      std::int64_t correct = 0;
      for (std::size_t i = 0; i < limit(samples.size()); ++i) {
        std::int64_t best = -1;
        double best_score = -INFINITY;
        for (std::size_t c = 0; c < samples[i].choices.size(); ++c, ++next) {
          const double score = continuation_log_prob(model.head(hidden[next]).squeeze(0), sequences[next],
                                                     context_sizes[next]);
          if (score > best_score) {
            best_score = score;
            best = static_cast<std::int64_t>(c);
          }
        }
        correct += best == samples[i].label ? 1 : 0;
      }
      result.metrics.push_back(metric(spec.name, "choice_acc",
                                      double(correct) / double(limit(samples.size())),
                                      MetricDirection::kHigherIsBetter));
    }
  }
  if (!dump_logits_.empty()) {
    std::filesystem::create_directories(dump_logits_);
    save_safetensors(std::filesystem::path(dump_logits_) /
                         (request.quant_dir ? "quantized.safetensors" : "float.safetensors"),
                     dumped);
  }
  return result;
}

}  // namespace modelslim::eval
