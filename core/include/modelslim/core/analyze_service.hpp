// `modelslim analyze`: ranks linears (input statistics) or decoder blocks (output error of a quantized copy
// against a true float copy) by quantization sensitivity, one block resident at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "modelslim/model_adapter.hpp"

namespace modelslim::core {

class PluginRegistry;

struct SensitivityScore {
  std::string name;  // a linear ("model.layers.1.self_attn.q_proj") or a block ("model.layers.1")
  double score = 0.0;
};

// Tokens the router of one mixture-of-experts block sent to each routed expert during the analysis's float
// forward over the calibration samples (real routing: they sum to tokens × top_k).
struct ExpertTokenCounts {
  std::string block;                 // "model.layers.0"
  std::vector<std::string> experts;  // "model.layers.0.mlp.experts.3", in the block's order
  std::vector<std::int64_t> tokens;  // per expert
};

// Entries of a ranking with exactly equal scores: linears reading the same input (q/k/v, gate/up) always tie.
struct SensitivityGroup {
  std::vector<std::string> names;
  double score = 0.0;
};

// metric: "kurtosis", "std" or "quantile" of every linear's input over the calibration samples, for the
// linears whose names match one of `patterns` (globs, see name_pattern.hpp). Sorted, highest first. A pattern
// that matches no linear is an error. `expert_tokens`, when given, receives each MoE block's tokens per
// expert.
std::vector<SensitivityScore> analyze_linears(ModelAdapter& model, const std::vector<at::Tensor>& token_ids,
                                              const std::string& metric,
                                              const std::vector<std::string>& patterns = {"*"},
                                              std::vector<ExpertTokenCounts>* expert_tokens = nullptr);

// The linears matching `quant_modules` in each block are fake-quantized with `probe_qconfig` (a linear_quant
// qconfig in YAML), calibrated on the block's float inputs. Sorted, highest first.
// - mse_layer_wise: mean over samples of MSE(float block output, quantized block output); the next block
//   receives the float outputs.
// - mse_model_wise: only block k is quantized, the rest run in float; mean over samples of MSE of the last
//   block's output against the all-float model's. Keeps every block's float inputs (blocks × samples).
// A quant_modules pattern that matches no linear is an error. `expert_tokens`: as analyze_linears (from the
// float forward of each block).
std::vector<SensitivityScore> analyze_blocks(ModelAdapter& model, const PluginRegistry& registry,
                                             const std::vector<at::Tensor>& token_ids,
                                             const std::string& probe_qconfig,
                                             const std::vector<std::string>& quant_modules = {"*"},
                                             const std::string& metric = "mse_layer_wise",
                                             std::vector<ExpertTokenCounts>* expert_tokens = nullptr);

// Runs of equal scores in a sorted ranking, in order.
std::vector<SensitivityGroup> group_ties(const std::vector<SensitivityScore>& ranking);

}  // namespace modelslim::core
