#include "deepseek_adapter.hpp"

#include <ATen/ATen.h>

#include <algorithm>

#include "deepseek_block.hpp"
#include "deepseek_config.hpp"
#include "deepseek_rope.hpp"
#include "deepseek_streamed_block.hpp"
#include "modelslim/error.hpp"
#include "modelslim/expert_streaming.hpp"
#include "modelslim/fp8_checkpoint.hpp"
#include "modelslim/non_block_head.hpp"
#include "modelslim/parameter_specs.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"
#include "mtp_block.hpp"

namespace modelslim::deepseek {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Also a FusedModuleSource (every decoder layer's fused modules, known from config.json alone), an
// ExpertStreamingModel (MoE layers load their routed experts in groups) and a NonBlockParameterSpecs (the
// savers' layout guess from the headers).
class DeepseekAdapter final : public ModelAdapter,
                              public FusedModuleSource,
                              public ExpertStreamingModel,
                              public NonBlockParameterSpecs {
 public:
  explicit DeepseekAdapter(const ModelLoadRequest& request)
      : model_dir_(request.model_dir),
        hf_config_(request.hf_config),
        replaced_weights_(request.replaced_weights),
        config_(parse_deepseek_config(request.hf_config, request.model_dir)),
        tokenizer_(Tokenizer::from_file(request.model_dir / "tokenizer.json")),
        checkpoint_(SafetensorsCheckpoint::open_dir(request.model_dir)),
        head_{config_.vocab_size,
              config_.hidden_size,
              config_.tie_word_embeddings,
              load(kEmbedTokensWeight, {config_.vocab_size, config_.hidden_size}, false),
              /*modified=*/false,
              /*final_norm=*/{},
              /*lm_head=*/{}},
        dtype_(head_.embedding.scalar_type()),
        mtp_layers_(count_mtp_layers()) {}

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
        head_.embedding.index_select(0, input_ids.reshape({-1})).to(at::kFloat).reshape({1, seq, -1});
    auto [cos, sin] = rope_tables(config_, 0, seq);
    return {hidden, std::make_shared<DeepseekContext>(std::move(cos), std::move(sin), causal_mask(seq))};
  }

  // The decoder layers, then the MTP layers present in the checkpoint.
  std::size_t num_blocks() const override {
    return static_cast<std::size_t>(config_.num_layers + mtp_layers_);
  }
  std::string block_name(std::size_t index) const override { return "model.layers." + std::to_string(index); }

  std::uint64_t routed_expert_bytes(std::size_t index) const override {
    const auto layer = static_cast<std::int64_t>(index);
    if (layer >= config_.num_layers || !config_.is_moe_layer(layer)) return 0;  // MTP layers load whole
    const auto per_expert =
        static_cast<std::uint64_t>(3 * config_.moe_intermediate_size * config_.hidden_size);
    return per_expert * static_cast<std::uint64_t>(config_.n_routed_experts) * sizeof(float);
  }

  // The resident part is a DeepseekBlock with no routed experts; they are read per group.
  std::unique_ptr<Block> load_block_without_experts(std::size_t index) override {
    if (routed_expert_bytes(index) == 0) return load_block(index);
    const std::string name = block_name(index);
    std::vector<Linear> linears;
    BlockLayout layout;
    add_attention(linears, layout, name + ".self_attn.");
    const std::string mlp = name + ".mlp.";
    layout.router = linears.size();
    linears.push_back(linear(mlp + "gate", config_.n_routed_experts, config_.hidden_size, false));
    if (config_.n_shared_experts > 0) {
      layout.shared_mlp =
          add_mlp(linears, mlp + "shared_experts", config_.moe_intermediate_size * config_.n_shared_experts);
    }
    auto resident =
        std::make_unique<DeepseekBlock>(name, config_, std::move(linears), layout, load_norms(name, true));
    return std::make_unique<DeepseekStreamedBlock>(
        std::move(resident), config_.n_routed_experts, [this, name](std::int64_t expert) {
          std::vector<Linear> expert_linears;
          add_mlp(expert_linears, routed_expert_name(name, expert), config_.moe_intermediate_size);
          return expert_linears;
        });
  }

  std::unique_ptr<Block> load_block(std::size_t index) override {
    if (static_cast<std::int64_t>(index) >= config_.num_layers) return load_mtp_block(index);
    return load_decoder_block(index);
  }

  std::vector<FusedModule> fused_modules() const override {
    std::vector<FusedModule> modules;
    for (std::int64_t layer = 0; layer < config_.num_layers; ++layer) {
      for (FusedModule& module : deepseek_fused_modules(config_, block_name(static_cast<std::size_t>(layer)),
                                                        config_.is_moe_layer(layer)))
        modules.push_back(std::move(module));
    }
    return modules;
  }

  // The residual stream's ends: the embedding, the final norm and lm_head (untied). The MTP layers are
  // carried unchanged in float, so they cannot follow a rotation of the stream they read: refused.
  std::optional<ModelRotationPoints> rotation_points() override {
    if (mtp_layers_ > 0) {
      throw Error(ErrorCode::kUnsupported,
                  model_dir_.string() + ": the checkpoint has " + std::to_string(mtp_layers_) +
                      " MTP layer(s) (model.layers." + std::to_string(config_.num_layers) +
                      "), which modelslim carries unchanged in float; a rotation of the residual stream "
                      "(quarot) would leave them reading the unrotated basis",
                  "quantize without quarot, or use a checkpoint without the MTP layer tensors "
                  "(docs/reference-differences.md, DeepSeek)");
    }
    return non_block_rotation_points(head_, float_loader());
  }

  at::Tensor head(const at::Tensor& hidden) override {
    load_non_block_head(head_, float_loader());
    return at::linear(rms_norm(hidden, head_.final_norm, config_.rms_norm_eps), head_.lm_head);
  }

  std::vector<NamedTensor> non_block_parameters() override {
    return non_block_head_parameters(head_,
                                     checkpoint_tensor_loader(checkpoint_, model_dir_, config_.model_type));
  }

  // non_block_parameters() without reading: the same names, dtypes and shapes, from the headers.
  std::vector<TensorSpec> non_block_parameter_specs() const override {
    return non_block_head_specs(head_, checkpoint_spec_reader(checkpoint_, model_dir_, config_.model_type));
  }

  at::ScalarType checkpoint_dtype() const override { return dtype_; }

  nlohmann::json hf_config() const override { return saved_hf_config(head_, hf_config_); }

 private:
  // Reads one tensor, checks its shape against config.json; linear weights go through load_float_weight
  // (FP8 block dequantization).
  at::Tensor load(const std::string& name, const std::vector<std::int64_t>& shape, bool as_float) const {
    require_checkpoint_tensor(checkpoint_, name, model_dir_, config_.model_type);
    const at::Tensor tensor = as_float && ends_with(name, ".weight") && shape.size() == 2
                                  ? load_float_weight(checkpoint_, name, config_.fp8)
                                  : checkpoint_.load(name);
    check_tensor_shape(name, tensor.sizes(), shape, model_dir_);
    return as_float ? tensor.to(at::kFloat) : tensor;
  }

  // The head's tensors through load (an FP8 lm_head would be dequantized with its scale), as float32.
  StoredTensorLoader float_loader() const {
    return [this](const std::string& name, const std::vector<std::int64_t>& shape) {
      return load(name, shape, true);
    };
  }

  Linear linear(const std::string& name, std::int64_t out, std::int64_t in, bool bias) const {
    const bool has_bias = bias || checkpoint_.contains(name + ".bias");
    const bool replaced = replaced_weights_.count(name + ".weight") > 0;
    return Linear(name, replaced ? at::zeros({out, in}, at::kFloat) : load(name + ".weight", {out, in}, true),
                  has_bias ? std::optional<at::Tensor>(load(name + ".bias", {out}, true)) : std::nullopt);
  }

  // Appends gate/up/down of a SwiGLU MLP named `prefix` and returns the index of its gate.
  std::size_t add_mlp(std::vector<Linear>& linears, const std::string& prefix, std::int64_t inter) const {
    const std::int64_t hidden = config_.hidden_size;
    const std::size_t first = linears.size();
    linears.push_back(linear(prefix + ".gate_proj", inter, hidden, false));
    linears.push_back(linear(prefix + ".up_proj", inter, hidden, false));
    linears.push_back(linear(prefix + ".down_proj", hidden, inter, false));
    return first;
  }

  void add_attention(std::vector<Linear>& linears, BlockLayout& layout, const std::string& attn) const {
    const std::int64_t hidden = config_.hidden_size;
    const std::int64_t heads = config_.num_heads;
    const bool bias = config_.attention_bias;
    const std::int64_t q_out = heads * config_.qk_head_dim();
    if (config_.q_lora_rank == 0) {
      layout.q_proj = linears.size();
      linears.push_back(linear(attn + "q_proj", q_out, hidden, false));
    } else {
      layout.q_a_proj = linears.size();
      linears.push_back(linear(attn + "q_a_proj", config_.q_lora_rank, hidden, bias));
      layout.q_b_proj = linears.size();
      linears.push_back(linear(attn + "q_b_proj", q_out, config_.q_lora_rank, false));
    }
    layout.kv_a_proj = linears.size();
    linears.push_back(
        linear(attn + "kv_a_proj_with_mqa", config_.kv_lora_rank + config_.qk_rope_head_dim, hidden, bias));
    layout.kv_b_proj = linears.size();
    linears.push_back(linear(attn + "kv_b_proj", heads * (config_.qk_nope_head_dim + config_.v_head_dim),
                             config_.kv_lora_rank, false));
    layout.o_proj = linears.size();
    linears.push_back(linear(attn + "o_proj", hidden, heads * config_.v_head_dim, bias));
  }

  void add_moe(std::vector<Linear>& linears, BlockLayout& layout, const std::string& mlp) const {
    layout.router = linears.size();
    linears.push_back(linear(mlp + "gate", config_.n_routed_experts, config_.hidden_size, false));
    layout.first_expert = linears.size();
    for (std::int64_t e = 0; e < config_.n_routed_experts; ++e) {
      add_mlp(linears, mlp + "experts." + std::to_string(e), config_.moe_intermediate_size);
    }
    if (config_.n_shared_experts > 0) {
      layout.shared_mlp =
          add_mlp(linears, mlp + "shared_experts", config_.moe_intermediate_size * config_.n_shared_experts);
    }
  }

  // A norm weight, and its bias when a processed checkpoint carries one.
  void load_norm(const std::string& name, std::int64_t size, at::Tensor& weight, at::Tensor& bias) const {
    weight = load(name + ".weight", {size}, true);
    if (checkpoint_.contains(name + ".bias")) bias = load(name + ".bias", {size}, true);
  }

  DeepseekNorms load_norms(const std::string& name, bool moe) const {
    const std::string attn = name + ".self_attn.";
    DeepseekNorms norms;
    load_norm(name + ".input_layernorm", config_.hidden_size, norms.input_norm, norms.input_norm_bias);
    load_norm(name + ".post_attention_layernorm", config_.hidden_size, norms.post_attention_norm,
              norms.post_attention_norm_bias);
    if (config_.q_lora_rank > 0) {
      load_norm(attn + "q_a_layernorm", config_.q_lora_rank, norms.q_a_norm, norms.q_a_norm_bias);
    }
    load_norm(attn + "kv_a_layernorm", config_.kv_lora_rank, norms.kv_a_norm, norms.kv_a_norm_bias);
    if (moe && config_.topk_method == TopkMethod::kNoauxTc) {
      norms.correction_bias =
          load(name + ".mlp.gate.e_score_correction_bias", {config_.n_routed_experts}, true);
    }
    return norms;
  }

  std::unique_ptr<Block> load_decoder_block(std::size_t index) const {
    const std::string name = block_name(index);
    const bool moe = config_.is_moe_layer(static_cast<std::int64_t>(index));
    std::vector<Linear> linears;
    BlockLayout layout;
    add_attention(linears, layout, name + ".self_attn.");
    if (moe) {
      add_moe(linears, layout, name + ".mlp.");
    } else {
      layout.dense_mlp = add_mlp(linears, name + ".mlp", config_.intermediate_size);
    }
    return std::make_unique<DeepseekBlock>(name, config_, std::move(linears), layout, load_norms(name, moe));
  }

  // Every tensor of the MTP layer as stored, FP8 weights dequantized (their scales are then dropped).
  std::unique_ptr<Block> load_mtp_block(std::size_t index) const {
    const std::string name = block_name(index);
    const std::string prefix = name + ".";
    std::vector<NamedTensor> tensors;
    for (const std::string& tensor : checkpoint_.names()) {
      if (tensor.compare(0, prefix.size(), prefix) != 0) continue;
      const bool scale = ends_with(tensor, ".weight_scale_inv");
      const std::string weight = scale ? tensor.substr(0, tensor.size() - 10) : tensor;  // "_scale_inv"
      if (scale && checkpoint_.contains(weight) && checkpoint_.info(weight).dtype == "F8_E4M3") continue;
      const bool fp8 = checkpoint_.info(tensor).dtype == "F8_E4M3";
      tensors.push_back(
          {tensor, fp8 ? load_float_weight(checkpoint_, tensor, config_.fp8) : checkpoint_.load(tensor)});
    }
    return std::make_unique<MtpBlock>(name, std::move(tensors));
  }

  // The MTP layers config.json announces whose tensors the checkpoint holds (conversions often drop them).
  std::int64_t count_mtp_layers() const {
    std::int64_t present = 0;
    const std::vector<std::string> names = checkpoint_.names();
    for (std::int64_t i = 0; i < config_.num_nextn_predict_layers; ++i) {
      const std::string prefix = "model.layers." + std::to_string(config_.num_layers + i) + ".";
      const bool found = std::any_of(names.begin(), names.end(), [&](const std::string& n) {
        return n.compare(0, prefix.size(), prefix) == 0;
      });
      if (!found) break;
      ++present;
    }
    return present;
  }

  std::filesystem::path model_dir_;
  nlohmann::json hf_config_;
  std::set<std::string> replaced_weights_;
  DeepseekConfig config_;
  Tokenizer tokenizer_;
  SafetensorsCheckpoint checkpoint_;
  // The embedding (stored dtype, float32 once rotated; rows converted on lookup), the float32 final norm and
  // lm_head (loaded with the head), `modified` once a processor rotated them in place.
  NonBlockHead head_;
  at::ScalarType dtype_;  // the checkpoint's float dtype
  std::int64_t mtp_layers_ = 0;
};

}  // namespace

std::unique_ptr<ModelAdapter> create_deepseek_adapter(const ModelLoadRequest& request) {
  return std::make_unique<DeepseekAdapter>(request);
}

}  // namespace modelslim::deepseek
