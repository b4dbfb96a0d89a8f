#include "llama_adapter.hpp"

#include <limits>

#include "llama_block.hpp"
#include "llama_config.hpp"
#include "modelslim/error.hpp"
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

class LlamaAdapter final : public ModelAdapter {
 public:
  explicit LlamaAdapter(const ModelLoadRequest& request)
      : model_dir_(request.model_dir),
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
    return {hidden, std::make_shared<LlamaContext>(std::move(cos), std::move(sin), causal_mask(seq))};
  }

  std::size_t num_blocks() const override { return static_cast<std::size_t>(config_.num_layers); }
  std::string block_name(std::size_t index) const override { return "model.layers." + std::to_string(index); }

  std::unique_ptr<Block> load_block(std::size_t index) override {
    const std::string name = block_name(index);
    const std::int64_t hidden = config_.hidden_size;
    const std::int64_t q_dim = config_.num_heads * config_.head_dim;
    const std::int64_t kv_dim = config_.num_kv_heads * config_.head_dim;
    const std::int64_t inter = config_.intermediate_size;
    const auto linear = [&](const std::string& suffix, std::int64_t out, std::int64_t in, bool bias) {
      const std::string full = name + "." + suffix;
      return Linear(full, load(full + ".weight", {out, in}, true),
                    bias ? std::optional<at::Tensor>(load(full + ".bias", {out}, true)) : std::nullopt);
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
    if (config_.qk_norm) {
      norms.q_norm = load(name + ".self_attn.q_norm.weight", {config_.head_dim}, true);
      norms.k_norm = load(name + ".self_attn.k_norm.weight", {config_.head_dim}, true);
    }
    return std::make_unique<LlamaBlock>(name, config_, std::move(linears), std::move(norms));
  }

  at::Tensor head(const at::Tensor& hidden) override {
    if (!final_norm_.defined()) {
      final_norm_ = load("model.norm.weight", {config_.hidden_size}, true);
      lm_head_ = config_.tie_word_embeddings
                     ? embedding_.to(at::kFloat)
                     : load("lm_head.weight", {config_.vocab_size, config_.hidden_size}, true);
    }
    return at::linear(rms_norm(hidden, final_norm_, config_.rms_norm_eps), lm_head_);
  }

  std::vector<NamedTensor> non_block_parameters() override {
    std::vector<NamedTensor> result = {
        {"model.embed_tokens.weight", embedding_},
        {"model.norm.weight", load("model.norm.weight", {config_.hidden_size}, false)}};
    if (!config_.tie_word_embeddings) {
      result.push_back(
          {"lm_head.weight", load("lm_head.weight", {config_.vocab_size, config_.hidden_size}, false)});
    }
    return result;
  }

  at::ScalarType checkpoint_dtype() const override { return embedding_.scalar_type(); }

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

  at::Tensor causal_mask(std::int64_t seq) const {
    const at::Tensor rows = at::arange(seq, at::kLong).unsqueeze(1);
    const at::Tensor cols = at::arange(seq, at::kLong).unsqueeze(0);
    at::Tensor blocked = cols > rows;
    if (config_.sliding_window > 0) blocked = blocked.logical_or(rows - cols >= config_.sliding_window);
    return at::zeros({seq, seq}, at::kFloat).masked_fill(blocked, -std::numeric_limits<float>::infinity());
  }

  std::filesystem::path model_dir_;
  LlamaConfig config_;
  Tokenizer tokenizer_;
  SafetensorsCheckpoint checkpoint_;
  at::Tensor embedding_;  // stored dtype; rows are converted on lookup
  at::Tensor final_norm_;
  at::Tensor lm_head_;
};

}  // namespace

std::unique_ptr<ModelAdapter> create_llama_adapter(const ModelLoadRequest& request) {
  return std::make_unique<LlamaAdapter>(request);
}

}  // namespace modelslim::llama
