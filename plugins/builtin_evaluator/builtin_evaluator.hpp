// `builtin` evaluator: runs the float checkpoint, or the SAVED ascendv1 artifact with the deployment
// arithmetic, in process, layer by layer over all samples. Metrics per dataset:
//   ppl (lower is better), acc (next-token accuracy), choice_acc (multiple choice), top1_agree and kl
//   (fidelity to the float model; quantized runs only).
//
//   evaluation: {type: builtin, datasets: [{name: kjv_eval, path: kjv_eval.jsonl, metrics: [ppl, acc]}],
//                max_samples: 0, max_tokens: 512, dump_logits: DIR}
//
//   dump_logits (optional, for tests and audits): writes the per-token logits behind ppl/acc/fidelity to
//   DIR/float.safetensors or DIR/quantized.safetensors, tensors "<dataset>.<i>.logits" (float32 [T, vocab])
//   and "<dataset>.<i>.ids" (int64 [T]).
#pragma once

#include <string>
#include <vector>

#include "modelslim/config_node.hpp"
#include "modelslim/evaluator.hpp"
#include "modelslim/registrar.hpp"

namespace modelslim::eval {

struct DatasetSpec {
  std::string name;
  std::string path;
  std::vector<std::string> metrics;
};

class BuiltinEvaluator final : public Evaluator {
 public:
  BuiltinEvaluator(const ConfigNode& config, const HostServices& host);
  EvaluationResult evaluate(const EvaluationRequest& request) override;
  std::vector<std::string> dataset_names() const override;

 private:
  std::vector<DatasetSpec> datasets_;
  std::int64_t max_samples_ = 0;
  std::int64_t max_tokens_ = 512;
  std::string dump_logits_;  // empty: no dump
  const HostServices& host_;
};

}  // namespace modelslim::eval
