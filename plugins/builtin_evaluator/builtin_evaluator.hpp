// `builtin` evaluator: runs the float checkpoint, or the SAVED ascendv1 artifact with the deployment
// arithmetic, in process, layer by layer over all samples. Metrics per dataset:
//   ppl (lower is better), acc (next-token accuracy), choice_acc (multiple choice), top1_agree and kl
//   (fidelity to the float model; quantized runs only).
//
//   evaluation: {type: builtin, datasets: [{name: kjv_eval, path: kjv_eval.jsonl, metrics: [ppl, acc]}],
//                max_samples: 0, max_tokens: 512, dump_logits: DIR}
//
//   Reuse (when the host enables it through EvaluationReuse, as tune does): the hidden states of every
//   evaluation set after each block are kept under a key hashing the set's token ids and the content of the
//   model up to that block (content_keys.hpp), so a model that shares its first k blocks with one evaluated
//   before starts at block k+1; the float model's adapter, the tokenized sets and the float reference states
//   (fidelity) are kept too. Metrics are bit-identical with and without reuse.
//
//   dump_logits (optional, for tests and audits): writes the per-token logits behind ppl/acc/fidelity to
//   DIR/float.safetensors or DIR/quantized.safetensors, tensors "<dataset>.<i>.logits" (float32 [T, vocab])
//   and "<dataset>.<i>.ids" (int64 [T]).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "modelslim/config_node.hpp"
#include "modelslim/deployed_model.hpp"
#include "modelslim/evaluation_reuse.hpp"
#include "modelslim/evaluator.hpp"
#include "modelslim/registrar.hpp"

namespace modelslim::eval {

struct DatasetSpec {
  std::string name;
  std::string path;
  std::vector<std::string> metrics;
};

class StateCache;
struct ModelContent;

// A model under evaluation: its adapter, the saved artifact (quantized runs) and, with reuse, its content.
struct EvaluatedModel {
  std::shared_ptr<ModelAdapter> adapter;
  std::optional<DeployedArtifact> saved;
  std::shared_ptr<const ModelContent> content;  // null without reuse
};

class BuiltinEvaluator final : public Evaluator, public EvaluationReuse {
 public:
  BuiltinEvaluator(const ConfigNode& config, const HostServices& host);
  ~BuiltinEvaluator() override;
  EvaluationResult evaluate(const EvaluationRequest& request) override;
  std::vector<std::string> dataset_names() const override;
  void enable_reuse(const ReuseBudget& budget) override;

  // Blocks run and blocks skipped (their states reused) since construction.
  std::size_t blocks_run() const { return blocks_run_; }
  std::size_t blocks_reused() const { return blocks_reused_; }

 private:
  using Sequences = std::vector<std::vector<std::int64_t>>;
  using Dumped = std::vector<std::pair<std::string, at::Tensor>>;
  EvaluatedModel& float_model(const EvaluationRequest& request);
  EvaluatedModel open_quantized(const EvaluationRequest& request);
  Sequences text_sequences(const DatasetSpec& spec, const EvaluatedModel& model);
  std::vector<at::Tensor> final_hidden(const EvaluatedModel& model, const Sequences& sequences);
  void text_metrics(const DatasetSpec& spec, const EvaluationRequest& request, const EvaluatedModel& model,
                    EvaluationResult& result, Dumped& dumped);
  void choice_metrics(const DatasetSpec& spec, const EvaluatedModel& model, EvaluationResult& result);
  std::size_t limit(std::size_t count) const;

  std::vector<DatasetSpec> datasets_;
  std::int64_t max_samples_ = 0;
  std::int64_t max_tokens_ = 512;
  std::string dump_logits_;  // empty: no dump
  const HostServices& host_;
  // Reuse (enable_reuse): states by content key, the float model, tokenized sets by tokenizer and dataset.
  std::unique_ptr<StateCache> cache_;
  std::optional<EvaluatedModel> float_model_;
  std::string float_model_dir_;
  std::map<std::string, Sequences> tokenized_;
  std::size_t blocks_run_ = 0;
  std::size_t blocks_reused_ = 0;
};

}  // namespace modelslim::eval
