// A saved ascendv1 artifact run with the arithmetic a deployment performs, computed from the SAVED tensors
// only (float64). One implementation for every in-process consumer (the builtin evaluator, the text
// generator behind `modelslim generate` and `modelslim serve`). Since ABI 4.1.
//   W8A8          xq = clamp(round(x / input_scale + input_offset)), y = deq_scale · (xq·Wqᵀ + quant_bias)
//   W8A8_DYNAMIC  per token s = max|x| / 127, xq = round(x / s), y = s · weight_scale · (xq·Wqᵀ) + bias
//   W4A8_DYNAMIC  the same with int4 weights packed two output rows per byte
//   W8A16, W4A16  y = x · ((Wq − weight_offset) · weight_scale)ᵀ + bias   (per channel or per group)
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "modelslim/export.hpp"
#include "modelslim/linear.hpp"
#include "modelslim/quant_description.hpp"
#include "modelslim/safetensors.hpp"

namespace modelslim {

class Block;
class HostServices;
class ModelAdapter;

// The compute of linear `name` of ascendv1 `type` ("W8A8", "W8A8_DYNAMIC", "W4A8_DYNAMIC", "W8A16",
// "W4A16") from the saved tensors; throws Error(kUnsupported) for other types.
MODELSLIM_SDK_API std::shared_ptr<const LinearCompute> make_deployed_linear(
    const SafetensorsCheckpoint& saved, const std::string& name, const std::string& type);

// A saved artifact directory: its tensors and the type of every tensor.
class MODELSLIM_SDK_API DeployedArtifact {
 public:
  // Reads dir/quant_model_description.json and indexes dir's safetensors files.
  static DeployedArtifact open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  const QuantDescription& description() const { return description_; }
  const SafetensorsCheckpoint& tensors() const { return tensors_; }
  // The quantized linears' `.weight` names: their stored form may be packed, so the adapter need not load
  // them (ModelLoadRequest::replaced_weights).
  std::set<std::string> replaced_weights() const;
  // The artifact's model (config.json, tokenizer and float tensors from dir) with the quantized weights
  // replaced; call apply() on each block it loads.
  std::unique_ptr<ModelAdapter> load_model(const HostServices& host, const std::string& model_type) const;
  // Sets every quantized linear of `block` to compute from the saved tensors; FLOAT ones are left alone.
  void apply(Block& block) const;

 private:
  DeployedArtifact(std::filesystem::path dir, QuantDescription description, SafetensorsCheckpoint tensors);
  std::filesystem::path dir_;
  QuantDescription description_;
  SafetensorsCheckpoint tensors_;
};

// Their names before ABI 4.1, when they lived in the builtin evaluator.
namespace eval {
using modelslim::make_deployed_linear;
}  // namespace eval

}  // namespace modelslim
