// Helpers for the savers' engine-rule tests: a block of Llama-named linears (q/k/v/o, gate/up/down) with
// optional biases and extra parameters, a minimal adapter, and a PracticeView built from YAML.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/error.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/practice_check.hpp"

namespace modelslim::test {

// Llama decoder-layer linears, 8 → 8 each, weights seeded; no forward (savers never run one).
class LlamaNamedBlock final : public Block {
 public:
  explicit LlamaNamedBlock(std::string name = "model.layers.0") : name_(std::move(name)) {
    at::manual_seed(3);
    for (const char* leaf : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                             "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
      linears_.push_back(std::make_unique<Linear>(name_ + "." + leaf, at::randn({8, 8}) * 0.1));
    }
  }
  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override {
    std::vector<Linear*> out;
    for (auto& linear : linears_) out.push_back(linear.get());
    return out;
  }
  std::vector<NamedTensor> other_parameters() const override { return others_; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext&) override { return hidden; }

  Linear& linear(const std::string& leaf) {
    for (auto& candidate : linears_) {
      if (candidate->name() == name_ + "." + leaf) return *candidate;
    }
    throw Error(ErrorCode::kUnexpected, "no linear " + leaf);
  }
  void add_parameter(const std::string& leaf, at::Tensor tensor) {
    others_.push_back({name_ + "." + leaf, tensor});
  }

 private:
  std::string name_;
  std::vector<std::unique_ptr<Linear>> linears_;
  std::vector<NamedTensor> others_;
};

// The adapter calls a saver makes: checkpoint dtype, config.json, nothing else.
class ConfigOnlyAdapter final : public ModelAdapter {
 public:
  ConfigOnlyAdapter(at::ScalarType dtype, nlohmann::json config)
      : dtype_(dtype), config_(std::move(config)) {}
  std::string model_type() const override { return config_.value("model_type", std::string("llama")); }
  const Tokenizer& tokenizer() const override { throw Error(ErrorCode::kToDo, "no tokenizer"); }
  BlockInput embed(const at::Tensor&) override { throw Error(ErrorCode::kToDo, "no embed"); }
  std::size_t num_blocks() const override { return 1; }
  std::string block_name(std::size_t) const override { return "model.layers.0"; }
  std::unique_ptr<Block> load_block(std::size_t) override { throw Error(ErrorCode::kToDo, "no blocks"); }
  at::Tensor head(const at::Tensor& hidden) override { return hidden; }
  std::vector<NamedTensor> non_block_parameters() override { return {}; }
  at::ScalarType checkpoint_dtype() const override { return dtype_; }
  nlohmann::json hf_config() const override { return config_; }

 private:
  at::ScalarType dtype_;
  nlohmann::json config_;
};

// `process_yaml`: a YAML list of processor configs, as under spec.process.
inline PracticeView practice_view(const std::string& process_yaml, nlohmann::json hf_config) {
  const ConfigNode root = parse_yaml_string("spec:\n  process: " + process_yaml + "\n", "practice.yaml");
  PracticeView view{{}, std::move(hf_config)};
  for (const ConfigNode& item : root["spec"]["process"].items()) view.processors.push_back(item);
  return view;
}

inline nlohmann::json llama_config(nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json config = {{"model_type", "llama"}, {"num_hidden_layers", 2}, {"hidden_size", 8}};
  config.update(extra);
  return config;
}

}  // namespace modelslim::test
