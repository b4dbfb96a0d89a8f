#include "moe_adapter.hpp"

#include <ATen/ATen.h>

#include "modelslim/error.hpp"
#include "modelslim/expert_streaming.hpp"
#include "modelslim/fused_module_source.hpp"
#include "modelslim/non_block_head.hpp"
#include "modelslim/parameter_specs.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"
#include "moe_block.hpp"
#include "moe_config.hpp"
#include "moe_streamed_block.hpp"

namespace modelslim::moe {
namespace {

// Also a FusedModuleSource (every layer's q/k/v and gate/up pairs, known from config.json alone), an
// ExpertStreamingModel (sparse layers load their routed experts in groups) and a NonBlockParameterSpecs (the
// savers' layout guess from the headers).
class MoeAdapter final : public ModelAdapter,
                         public FusedModuleSource,
                         public ExpertStreamingModel,
                         public NonBlockParameterSpecs {
 public:
  explicit MoeAdapter(const ModelLoadRequest& request)
      : model_dir_(request.model_dir),
        hf_config_(request.hf_config),
        replaced_weights_(request.replaced_weights),
        config_(parse_moe_config(request.hf_config, request.model_dir)),
        tokenizer_(Tokenizer::from_file(request.model_dir / "tokenizer.json")),
        checkpoint_(SafetensorsCheckpoint::open_dir(request.model_dir)),
        head_{config_.vocab_size,
              config_.hidden_size,
              config_.tie_word_embeddings,
              load(kEmbedTokensWeight, {config_.vocab_size, config_.hidden_size}, false),
              /*modified=*/false,
              /*final_norm=*/{},
              /*lm_head=*/{}} {}

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
    return {hidden, make_context(config_, seq)};
  }

  std::size_t num_blocks() const override { return static_cast<std::size_t>(config_.num_layers); }
  std::string block_name(std::size_t index) const override { return "model.layers." + std::to_string(index); }

  std::unique_ptr<Block> load_block(std::size_t index) override {
    const std::string name = block_name(index);
    const auto layer = static_cast<std::int64_t>(index);
    std::vector<Linear> linears;
    for (const LinearSpec& spec : attention_specs(name)) linears.push_back(linear(spec, config_.qkv_bias));
    for (const LinearSpec& spec : mlp_linear_specs(config_, name, layer))
      linears.push_back(linear(spec, false));
    return std::make_unique<MoeBlock>(name, config_, layer, std::move(linears), block_norms(name));
  }

  std::uint64_t routed_expert_bytes(std::size_t index) const override {
    if (!config_.is_sparse(static_cast<std::int64_t>(index))) return 0;
    const auto per_expert =
        static_cast<std::uint64_t>(3 * config_.expert_intermediate_size * config_.hidden_size);
    return per_expert * static_cast<std::uint64_t>(config_.num_experts) * sizeof(float);
  }

  // The MLP specs are router, (gate, up, down) per routed expert, then the shared expert's four.
  std::unique_ptr<Block> load_block_without_experts(std::size_t index) override {
    const std::string name = block_name(index);
    const auto layer = static_cast<std::int64_t>(index);
    if (!config_.is_sparse(layer)) return load_block(index);
    const std::vector<LinearSpec> mlp = mlp_linear_specs(config_, name, layer);
    const auto routed_end = mlp.begin() + 1 + 3 * config_.num_experts;
    std::vector<Linear> resident;
    for (const LinearSpec& spec : attention_specs(name)) resident.push_back(linear(spec, config_.qkv_bias));
    resident.push_back(linear(mlp.front(), false));
    for (auto spec = routed_end; spec != mlp.end(); ++spec) resident.push_back(linear(*spec, false));
    return std::make_unique<MoeStreamedBlock>(name, config_, std::move(resident), block_norms(name),
                                              std::vector<LinearSpec>(mlp.begin() + 1, routed_end),
                                              [this](const LinearSpec& spec) { return linear(spec, false); });
  }

  at::Tensor head(const at::Tensor& hidden) override {
    load_non_block_head(head_, checkpoint_tensor_loader(checkpoint_, model_dir_, config_.model_type));
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

  std::vector<FusedModule> fused_modules() const override {
    std::vector<FusedModule> modules;
    for (std::size_t i = 0; i < num_blocks(); ++i) {
      const std::string name = block_name(i);
      const std::string attention = name + ".self_attn.";
      modules.push_back(
          {attention + "qkv_proj", {attention + "q_proj", attention + "k_proj", attention + "v_proj"}});
      const std::vector<LinearSpec> mlp = mlp_linear_specs(config_, name, static_cast<std::int64_t>(i));
      // Dense: gate, up, down. Sparse: the router, then (gate, up, down) per expert and shared expert.
      const std::size_t first = config_.is_sparse(static_cast<std::int64_t>(i)) ? 1 : 0;
      for (std::size_t g = first; g + 2 < mlp.size(); g += 3) {
        const std::string prefix = mlp[g].name.substr(0, mlp[g].name.rfind('.') + 1);
        modules.push_back({prefix + "gate_up_proj", {mlp[g].name, mlp[g + 1].name}});
      }
    }
    return modules;
  }

  std::optional<ModelRotationPoints> rotation_points() override {
    return non_block_rotation_points(head_,
                                     checkpoint_tensor_loader(checkpoint_, model_dir_, config_.model_type));
  }

 private:
  std::vector<LinearSpec> attention_specs(const std::string& block) const {
    const std::int64_t hidden = config_.hidden_size;
    const std::int64_t q_dim = config_.num_heads * config_.head_dim;
    const std::int64_t kv_dim = config_.num_kv_heads * config_.head_dim;
    const std::string prefix = block + ".self_attn.";
    return {{prefix + "q_proj", q_dim, hidden},
            {prefix + "k_proj", kv_dim, hidden},
            {prefix + "v_proj", kv_dim, hidden},
            {prefix + "o_proj", hidden, q_dim}};
  }

  // A bias the config does not imply is still read when present (processed checkpoints may carry one).
  // o_proj never takes the q/k/v bias.
  Linear linear(const LinearSpec& spec, bool qkv_bias) const {
    const bool is_o = spec.name.size() >= 7 && spec.name.compare(spec.name.size() - 7, 7, ".o_proj") == 0;
    const bool has_bias = (qkv_bias && !is_o) || checkpoint_.contains(spec.name + ".bias");
    const bool replaced = replaced_weights_.count(spec.name + ".weight") > 0;
    return Linear(
        spec.name,
        replaced ? at::zeros({spec.out, spec.in}, at::kFloat)
                 : load(spec.name + ".weight", {spec.out, spec.in}, true),
        has_bias ? std::optional<at::Tensor>(load(spec.name + ".bias", {spec.out}, true)) : std::nullopt);
  }

  MoeBlockNorms block_norms(const std::string& name) const {
    const std::int64_t hidden = config_.hidden_size;
    MoeBlockNorms norms;
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
    return norms;
  }

  // Reads one tensor, checks its shape against config.json, optionally converts to float32.
  at::Tensor load(const std::string& name, const std::vector<std::int64_t>& shape, bool as_float) const {
    at::Tensor tensor = checkpoint_tensor_loader(checkpoint_, model_dir_, config_.model_type)(name, shape);
    return as_float ? tensor.to(at::kFloat) : tensor;
  }

  std::filesystem::path model_dir_;
  nlohmann::json hf_config_;
  std::set<std::string> replaced_weights_;
  MoeConfig config_;
  Tokenizer tokenizer_;
  SafetensorsCheckpoint checkpoint_;
  // The embedding (stored dtype, float32 once rotated; rows converted on lookup), the float32 final norm and
  // lm_head (loaded with the head), `modified` once a processor rotated them in place.
  NonBlockHead head_;
  at::ScalarType dtype_ = head_.embedding.scalar_type();
};

}  // namespace

std::unique_ptr<ModelAdapter> create_moe_adapter(const ModelLoadRequest& request) {
  return std::make_unique<MoeAdapter>(request);
}

}  // namespace modelslim::moe
