#include "builtin_evaluator.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <optional>

#include "content_keys.hpp"
#include "eval_datasets.hpp"
#include "modelslim/block_prefetch.hpp"
#include "modelslim/buffer_pool.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/deployed_model.hpp"
#include "modelslim/error.hpp"
#include "modelslim/kv_cache_quant.hpp"
#include "modelslim/metrics.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/stored_dtype_weights.hpp"
#include "modelslim/tokenizer.hpp"
#include "state_cache.hpp"

namespace modelslim::eval {
namespace {

// The quantized model's blocks: the deployed linears compute from the saved integers and never read their
// float weights, so the adapter keeps those in the checkpoint dtype (no float32 conversion); the float
// linears left are widened once per block (exact), not per sequence. Restores float32 loading at the end.
class DeployedBlocksScope {
 public:
  explicit DeployedBlocksScope(const EvaluatedModel& model)
      : blocks_(model.saved && stored_dtype_weights_setting() != StoredDtypeWeightsSetting::kOff
                    ? dynamic_cast<StoredDtypeBlocks*>(model.adapter.get())
                    : nullptr) {
    if (blocks_ != nullptr) blocks_->keep_stored_dtype_weights(true);
  }
  ~DeployedBlocksScope() {
    if (blocks_ != nullptr) blocks_->keep_stored_dtype_weights(false);
  }
  DeployedBlocksScope(const DeployedBlocksScope&) = delete;
  DeployedBlocksScope& operator=(const DeployedBlocksScope&) = delete;

 private:
  StoredDtypeBlocks* blocks_;
};

void widen_float_linears(Block& block) {
  for (Linear* linear : block.linears()) {
    if (linear->compute() || linear->weight().scalar_type() == at::kFloat) continue;
    at::Tensor widened = pooled_empty(linear->weight().sizes(), at::kFloat);
    widened.copy_(linear->weight());
    linear->weight() = std::move(widened);
  }
}

const std::vector<std::string> kMetrics = {"ppl", "acc", "choice_acc", "fidelity"};

MetricValue metric(const std::string& dataset, const std::string& name, double value,
                   MetricDirection direction) {
  return MetricValue{dataset, name, value, direction};
}

bool wants(const DatasetSpec& spec, const char* name) {
  return std::find(spec.metrics.begin(), spec.metrics.end(), name) != spec.metrics.end();
}

// The deepest block whose states after it are kept (-1: none), and those states.
long deepest_kept(StateCache& cache, const std::vector<std::string>& keys, std::vector<at::Tensor>& states) {
  for (long index = static_cast<long>(keys.size()) - 1; index >= 0; --index) {
    if (!cache.contains(keys[static_cast<std::size_t>(index)])) continue;
    if (auto found = cache.find(keys[static_cast<std::size_t>(index)])) {
      states = std::move(*found);
      return index;
    }
  }
  return -1;
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

BuiltinEvaluator::~BuiltinEvaluator() = default;

void BuiltinEvaluator::enable_reuse(const ReuseBudget& budget) {
  cache_.reset();
  float_model_.reset();
  tokenized_.clear();
  if (budget.memory_bytes > 0 || budget.disk_bytes > 0) cache_ = std::make_unique<StateCache>(budget);
}

std::size_t BuiltinEvaluator::limit(std::size_t count) const {
  return max_samples_ > 0 ? std::min<std::size_t>(count, static_cast<std::size_t>(max_samples_)) : count;
}

// The float checkpoint. With reuse it is kept while its directory, type and content stay the same.
EvaluatedModel& BuiltinEvaluator::float_model(const EvaluationRequest& request) {
  const std::string dir = request.model_dir.string() + "\n" + request.model_type;
  if (!cache_ || !float_model_ || float_model_dir_ != dir) {
    float_model_.reset();
    EvaluatedModel model;
    model.adapter = host_.load_model(request.model_dir, request.model_type);
    float_model_ = std::move(model);
    float_model_dir_ = dir;
  }
  if (cache_) {
    auto content = std::make_shared<const ModelContent>(
        model_content(request.model_dir, *float_model_->adapter, nullptr, request.model_type));
    if (float_model_->content &&
        (float_model_->content->root != content->root || float_model_->content->blocks != content->blocks)) {
      float_model_->adapter = host_.load_model(request.model_dir, request.model_type);  // changed on disk
    }
    float_model_->content = std::move(content);
  }
  return *float_model_;
}

EvaluatedModel BuiltinEvaluator::open_quantized(const EvaluationRequest& request) {
  EvaluatedModel model;
  model.saved = DeployedArtifact::open(*request.quant_dir);
  model.adapter = model.saved->load_model(host_, request.model_type);
  if (cache_) {
    model.content = std::make_shared<const ModelContent>(
        model_content(*request.quant_dir, *model.adapter, &model.saved->description(), request.model_type));
  }
  return model;
}

// A text dataset's token ids (at most max_samples samples of at most max_tokens tokens, at least two).
BuiltinEvaluator::Sequences BuiltinEvaluator::text_sequences(const DatasetSpec& spec,
                                                             const EvaluatedModel& model) {
  std::string key;
  if (model.content) {
    // The tokenizer's files are among the root's; the dataset by content; the limits.
    key = model.content->root + "\n" + hash_file(spec.path) + "\n" + std::to_string(max_samples_) + " " +
          std::to_string(max_tokens_);
    if (const auto found = tokenized_.find(key); found != tokenized_.end()) return found->second;
  }
  const Tokenizer& tokenizer = model.adapter->tokenizer();
  const std::vector<std::string> texts = read_text_dataset(spec.path);
  Sequences sequences;
  for (std::size_t i = 0; i < limit(texts.size()); ++i) {
    std::vector<std::int64_t> ids = tokenizer.encode(texts[i]);
    if (static_cast<std::int64_t>(ids.size()) > max_tokens_)
      ids.resize(static_cast<std::size_t>(max_tokens_));
    if (ids.size() >= 2) sequences.push_back(std::move(ids));
  }
  if (sequences.empty()) {
    throw Error(ErrorCode::kInvalidDataset, spec.path + ": no sample has at least two tokens to evaluate");
  }
  if (model.content) tokenized_[key] = sequences;
  return sequences;
}

// Runs every sequence through all blocks (one block resident at a time) and returns the final hidden states.
// With reuse, starts after the deepest block whose states are kept and keeps the states after each block run.
std::vector<at::Tensor> BuiltinEvaluator::final_hidden(const EvaluatedModel& model,
                                                       const Sequences& sequences) {
  ModelAdapter& adapter = *model.adapter;
  std::vector<BlockInput> states;
  for (const auto& ids : sequences)
    states.push_back(adapter.embed(at::tensor(ids, at::kLong).reshape({1, -1})));
  std::vector<std::string> keys;
  long done = -1;
  if (cache_ && model.content) {
    keys = state_keys(*model.content, ids_key(sequences));
    std::vector<at::Tensor> kept;
    done = deepest_kept(*cache_, keys, kept);
    for (std::size_t s = 0; done >= 0 && s < states.size(); ++s) states[s].hidden = kept[s];
    blocks_reused_ += static_cast<std::size_t>(done + 1);
  }
  {
    const DeployedBlocksScope stored_dtype(model);
    BlockLoader loader(adapter);  // block k+1 is read while block k runs (the quant runner's loading)
    for (std::size_t index = static_cast<std::size_t>(done + 1); index < adapter.num_blocks(); ++index) {
      buffer_pool_next_round();
      const std::unique_ptr<Block> block = loader.load(index);
      if (model.saved) {
        model.saved->apply(*block);
        widen_float_linears(*block);
        apply_deployed_kv_cache(*model.saved, *block);
      }
      for (BlockInput& state : states) state.hidden = block->forward(state.hidden, *state.context);
      ++blocks_run_;
      if (keys.empty()) continue;
      std::vector<at::Tensor> after;
      for (const BlockInput& state : states) after.push_back(state.hidden);
      cache_->put(keys[index], std::move(after));
    }
  }
  release_pooled_buffers();
  std::vector<at::Tensor> result;
  for (BlockInput& state : states) result.push_back(state.hidden);
  return result;
}

void BuiltinEvaluator::text_metrics(const DatasetSpec& spec, const EvaluationRequest& request,
                                    const EvaluatedModel& model, EvaluationResult& result, Dumped& dumped) {
  const Sequences sequences = text_sequences(spec, model);
  const auto hidden = final_hidden(model, sequences);
  std::vector<at::Tensor> reference;
  EvaluatedModel* reference_model = nullptr;
  if (wants(spec, "fidelity") && model.saved) {
    reference_model = &float_model(request);
    reference = final_hidden(*reference_model, sequences);
  }
  NextTokenStats total;
  FidelityStats fidelity;
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    const at::Tensor logits = model.adapter->head(hidden[i]).squeeze(0);
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
      const FidelityStats f = fidelity_stats(reference_model->adapter->head(reference[i]).squeeze(0), logits);
      fidelity.positions += f.positions;
      fidelity.top1_agree += f.top1_agree;
      fidelity.kl_sum += f.kl_sum;
    }
  }
  if (wants(spec, "ppl")) {
    result.metrics.push_back(metric(spec.name, "ppl", std::exp(total.nll_sum / double(total.tokens)),
                                    MetricDirection::kLowerIsBetter));
  }
  if (wants(spec, "acc")) {
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

void BuiltinEvaluator::choice_metrics(const DatasetSpec& spec, const EvaluatedModel& model,
                                      EvaluationResult& result) {
  const Tokenizer& tokenizer = model.adapter->tokenizer();
  const std::vector<ChoiceSample> samples = read_choice_dataset(spec.path);
  Sequences sequences;
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
  const auto hidden = final_hidden(model, sequences);
  std::size_t next = 0;
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < limit(samples.size()); ++i) {
    std::int64_t best = -1;
    double best_score = -INFINITY;
    for (std::size_t c = 0; c < samples[i].choices.size(); ++c, ++next) {
      const double score = continuation_log_prob(model.adapter->head(hidden[next]).squeeze(0),
                                                 sequences[next], context_sizes[next]);
      if (score > best_score) {
        best_score = score;
        best = static_cast<std::int64_t>(c);
      }
    }
    correct += best == samples[i].label ? 1 : 0;
  }
  result.metrics.push_back(metric(spec.name, "choice_acc", double(correct) / double(limit(samples.size())),
                                  MetricDirection::kHigherIsBetter));
}

// Phases: open the model (the saved artifact, else the float checkpoint), then per dataset the text metrics
// (ppl, acc, fidelity) and the multiple-choice one, then the optional logits dump.
EvaluationResult BuiltinEvaluator::evaluate(const EvaluationRequest& request) {
  if (!cache_) float_model_.reset();  // without reuse nothing outlives one evaluation
  std::optional<EvaluatedModel> quantized;
  if (request.quant_dir) quantized = open_quantized(request);
  const EvaluatedModel& model = quantized ? *quantized : float_model(request);
  EvaluationResult result;
  Dumped dumped;
  for (const DatasetSpec& spec : datasets_) {
    if (wants(spec, "ppl") || wants(spec, "acc") || wants(spec, "fidelity"))
      text_metrics(spec, request, model, result, dumped);
    if (wants(spec, "choice_acc")) choice_metrics(spec, model, result);
  }
  if (!dump_logits_.empty()) {
    std::filesystem::create_directories(dump_logits_);
    save_safetensors(std::filesystem::path(dump_logits_) /
                         (request.quant_dir ? "quantized.safetensors" : "float.safetensors"),
                     dumped);
  }
  if (!cache_) float_model_.reset();
  return result;
}

}  // namespace modelslim::eval
