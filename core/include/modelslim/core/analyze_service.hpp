// `modelslim analyze`: ranks linears (input statistics) or decoder blocks (output error of a quantized copy
// against a true float copy) by quantization sensitivity, one block resident at a time.
#pragma once

#include <string>
#include <vector>

#include "modelslim/model_adapter.hpp"

namespace modelslim::core {

class PluginRegistry;

struct SensitivityScore {
  std::string name;  // a linear ("model.layers.1.self_attn.q_proj") or a block ("model.layers.1")
  double score = 0.0;
};

// metric: "kurtosis" or "std" of every linear's input over the calibration samples. Sorted, highest first.
std::vector<SensitivityScore> analyze_linears(ModelAdapter& model, const std::vector<at::Tensor>& token_ids,
                                              const std::string& metric);

// mse_layer_wise: each block's linears are fake-quantized with `probe_qconfig` (a linear_quant qconfig in
// YAML) and scored by the mean over samples of MSE(float block output, quantized block output); the next
// block receives the float outputs. Sorted, highest first.
std::vector<SensitivityScore> analyze_blocks(ModelAdapter& model, const PluginRegistry& registry,
                                             const std::vector<at::Tensor>& token_ids,
                                             const std::string& probe_qconfig,
                                             const std::vector<std::string>& quant_modules = {"*"});

}  // namespace modelslim::core
