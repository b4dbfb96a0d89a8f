#include "llama_adapter.hpp"

#include <ATen/ATen.h>

#include <limits>

#include "llama_block.hpp"
#include "llama_config.hpp"
#include "llama_decoding.hpp"
#include "modelslim/error.hpp"
#include "modelslim/fp8_checkpoint.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"
#include "rope.hpp"

namespace modelslim::llama {
namespace {

std::string shape_text(at::IntArrayRef shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Also a FusedModuleSource (every layer's q/k/v and gate/up, known from config.json alone) and an
// IncrementalDecoding (KV-cache generation).
class LlamaAdapter final : public ModelAdapter, public FusedModuleSource, public IncrementalDecoding {
 public:
  explicit LlamaAdapter(const ModelLoadRequest& request)
      : model_dir_(request.model_dir),
        hf_config_(request.hf_config),
        replaced_weights_(request.replaced_weights),
        config_(parse_llama_config(request.hf_config, request.model_dir)),
        tokenizer_(Tokenizer::from_file(request.model_dir / "tokenizer.json")),
        checkpoint_(SafetensorsCheckpoint::open_dir(request.model_dir)),
        embedding_(load("model.embed_tokens.weight", {config_.vocab_size, config_.hidden_size}, false)) {}

  std::string model_type() const override { return config_.model_type; }
  const Tokenizer& tokenizer() const override { return tokenizer_; }

  BlockInput embed(const at::Tensor& input_ids) override {
    const std::int64_t seq = input_ids.size(1);
    if (input_ids.max().item<std::int64_t>() >= config_.vocab_size ||
        input_ids.min().item<std::int64_t>() < 0) {
      throw Error(ErrorCode::kInvalidModel, (model_dir_ / "tokenizer.json").string() +
                                                ": produced a token id outside the model's vocab_size " +
                                                std::to_string(config_.vocab_size));
    }
    const at::Tensor hidden =
        embedding_.index_select(0, input_ids.reshape({-1})).to(at::kFloat).reshape({1, seq, -1});
    auto [cos, sin] = rope_tables(config_, seq);
    return {hidden, std::make_shared<LlamaContext>(std::move(cos), std::move(sin),
                                                   causal_mask(config_, 0, seq, 0, seq))};
  }

  std::size_t num_blocks() const override { return static_cast<std::size_t>(config_.num_layers); }
  std::string block_name(std::size_t index) const override { return "model.layers." + std::to_string(index); }

  std::unique_ptr<Block> load_block(std::size_t index) override {
    const std::string name = block_name(index);
    const std::int64_t hidden = config_.hidden_size;
    const std::int64_t q_dim = config_.num_heads * config_.head_dim;
    const std::int64_t kv_dim = config_.num_kv_heads * config_.head_dim;
    const std::int64_t inter = config_.intermediate_size;
    // A bias the config does not imply is still read when present (processed checkpoints may carry one).
    const auto linear = [&](const std::string& suffix, std::int64_t out, std::int64_t in, bool bias) {
      const std::string full = name + "." + suffix;
      const bool has_bias = bias || checkpoint_.contains(full + ".bias");
      const bool replaced = replaced_weights_.count(full + ".weight") > 0;
      return Linear(
          full, replaced ? at::zeros({out, in}, at::kFloat) : load_linear_weight(full + ".weight", {out, in}),
          has_bias ? std::optional<at::Tensor>(load(full + ".bias", {out}, true)) : std::nullopt);
    };
    std::vector<Linear> linears;
    linears.push_back(linear("self_attn.q_proj", q_dim, hidden, config_.qkv_bias));
    linears.push_back(linear("self_attn.k_proj", kv_dim, hidden, config_.qkv_bias));
    linears.push_back(linear("self_attn.v_proj", kv_dim, hidden, config_.qkv_bias));
    linears.push_back(linear("self_attn.o_proj", hidden, q_dim, false));
    linears.push_back(linear("mlp.gate_proj", inter, hidden, false));
    linears.push_back(linear("mlp.up_proj", inter, hidden, false));
    linears.push_back(linear("mlp.down_proj", hidden, inter, false));
    LlamaBlockWeights norms;
    norms.input_norm = load(name + ".input_layernorm.weight", {hidden}, true);
    norms.post_attention_norm = load(name + ".post_attention_layernorm.weight", {hidden}, true);
    if (checkpoint_.contains(name + ".input_layernorm.bias")) {
      norms.input_norm_bias = load(name + ".input_layernorm.bias", {hidden}, true);
    }
    if (checkpoint_.contains(name + ".post_attention_layernorm.bias")) {
      norms.post_attention_norm_bias = load(name + ".post_attention_layernorm.bias", {hidden}, true);
    }
    if (config_.qk_norm) {
      norms.q_norm = load(name + ".self_attn.q_norm.weight", {config_.head_dim}, true);
      norms.k_norm = load(name + ".self_attn.k_norm.weight", {config_.head_dim}, true);
    }
    return std::make_unique<LlamaBlock>(name, config_, std::move(linears), std::move(norms));
  }

  at::Tensor head(const at::Tensor& hidden) override {
    load_head();
    return at::linear(rms_norm(hidden, final_norm_, config_.rms_norm_eps), lm_head_);
  }

  std::vector<NamedTensor> non_block_parameters() override {
    if (head_modified_) {  // the processed tensors, not the checkpoint's
      return {{"model.embed_tokens.weight", embedding_},
              {"model.norm.weight", final_norm_},
              {"lm_head.weight", lm_head_}};
    }
    std::vector<NamedTensor> result = {
        {"model.embed_tokens.weight", embedding_},
        {"model.norm.weight", load("model.norm.weight", {config_.hidden_size}, false)}};
    if (!config_.tie_word_embeddings) {
      result.push_back(
          {"lm_head.weight", load("lm_head.weight", {config_.vocab_size, config_.hidden_size}, false)});
    }
    return result;
  }

  at::ScalarType checkpoint_dtype() const override { return dtype_; }

  nlohmann::json hf_config() const override {
    nlohmann::json config = hf_config_;
    config.erase("quantization_config");
    if (head_modified_) config["tie_word_embeddings"] = false;  // lm_head has its own tensor now
    return config;
  }

  std::vector<FusedModule> fused_modules() const override {
    std::vector<FusedModule> modules;
    for (std::size_t i = 0; i < num_blocks(); ++i) {
      for (FusedModule& module : llama_fused_modules(block_name(i))) modules.push_back(std::move(module));
    }
    return modules;
  }

  std::unique_ptr<DecodingState> start_decoding(const std::vector<Block*>& blocks) override {
    return make_llama_decoding(
        config_, [this](const at::Tensor& ids) { return embed(ids).hidden; }, blocks);
  }

  std::optional<ModelRotationPoints> rotation_points() override {
    load_head();
    if (!head_modified_) {
      // Rotations run in float32; the embedding and lm_head stop sharing storage.
      embedding_ = embedding_.to(at::kFloat);
      lm_head_ = lm_head_.clone();
      head_modified_ = true;
    }
    return ModelRotationPoints{embedding_, final_norm_, lm_head_};
  }

 private:
  // Reads one tensor, checks its shape against config.json, optionally converts to float32.
  at::Tensor load(const std::string& name, std::vector<std::int64_t> shape, bool as_float) const {
    if (!checkpoint_.contains(name)) {
      throw Error(
          ErrorCode::kInvalidModel, model_dir_.string() + ": the checkpoint has no tensor '" + name + "'",
          "is this a " + config_.model_type + " checkpoint? check config.json and the safetensors files");
    }
    at::Tensor tensor = checkpoint_.load(name);
    if (tensor.sizes() != at::IntArrayRef(shape)) {
      throw Error(ErrorCode::kInvalidModel, model_dir_.string() + ": tensor '" + name + "' has shape " +
                                                shape_text(tensor.sizes()) + " but config.json implies " +
                                                shape_text(shape));
    }
    return as_float ? tensor.to(at::kFloat) : tensor;
  }

  // A linear's weight as float32; F8_E4M3 weights (quant_method "fp8") are dequantized block-wise here.
  at::Tensor load_linear_weight(const std::string& name, const std::vector<std::int64_t>& shape) const {
    const bool fp8 = checkpoint_.contains(name) && checkpoint_.info(name).dtype == "F8_E4M3";
    if (!fp8) return load(name, shape, true);
    if (checkpoint_.info(name).shape != shape) load(name, shape, false);  // throws the shape message
    return load_float_weight(checkpoint_, name, fp8_);
  }

  void load_head() {
    if (final_norm_.defined()) return;
    final_norm_ = load("model.norm.weight", {config_.hidden_size}, true);
    lm_head_ = config_.tie_word_embeddings
                   ? embedding_.to(at::kFloat)
                   : load("lm_head.weight", {config_.vocab_size, config_.hidden_size}, true);
  }

  std::filesystem::path model_dir_;
  nlohmann::json hf_config_;
  std::set<std::string> replaced_weights_;
  LlamaConfig config_;
  Tokenizer tokenizer_;
  SafetensorsCheckpoint checkpoint_;
  std::optional<Fp8BlockSize> fp8_ = fp8_block_size(hf_config_, model_dir_ / "config.json");
  at::Tensor embedding_;  // stored dtype (float32 once rotated); rows are converted on lookup
  at::ScalarType dtype_ = embedding_.scalar_type();
  at::Tensor final_norm_;       // float32, loaded with the head
  at::Tensor lm_head_;          // float32
  bool head_modified_ = false;  // rotation_points() was called: the non-block tensors are the processed ones
};

}  // namespace

std::unique_ptr<ModelAdapter> create_llama_adapter(const ModelLoadRequest& request) {
  return std::make_unique<LlamaAdapter>(request);
}

}  // namespace modelslim::llama
