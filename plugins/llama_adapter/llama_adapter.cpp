#include "llama_adapter.hpp"

#include <ATen/ATen.h>

#include <limits>
#include <map>
#include <optional>

#include "llama_block.hpp"
#include "llama_config.hpp"
#include "llama_decoding.hpp"
#include "modelslim/block_prefetch.hpp"
#include "modelslim/error.hpp"
#include "modelslim/fp8_checkpoint.hpp"
#include "modelslim/non_block_head.hpp"
#include "modelslim/parameter_specs.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/stored_dtype_weights.hpp"
#include "modelslim/tokenizer.hpp"
#include "rope.hpp"
#include "tensor_reader.hpp"

namespace modelslim::llama {
namespace {

constexpr const char* kLinearSuffixes[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                           "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                           "mlp.down_proj"};

// Also a FusedModuleSource (every layer's q/k/v and gate/up, known from config.json alone), an
// IncrementalDecoding (KV-cache generation), a BlockPrefetch (block k+1 read while block k runs), a
// NonBlockParameterSpecs (the savers' layout guess from the headers) and a StoredDtypeBlocks (bf16/fp16
// linear weights kept as stored when the run only reads them).
class LlamaAdapter final : public ModelAdapter,
                           public FusedModuleSource,
                           public IncrementalDecoding,
                           public BlockPrefetch,
                           public NonBlockParameterSpecs,
                           public StoredDtypeBlocks {
 public:
  explicit LlamaAdapter(const ModelLoadRequest& request)
      : model_dir_(request.model_dir),
        hf_config_(request.hf_config),
        replaced_weights_(request.replaced_weights),
        config_(parse_llama_config(request.hf_config, request.model_dir)),
        tokenizer_(Tokenizer::from_file(request.model_dir / "tokenizer.json")),
        reader_(request.model_dir, config_.model_type,
                fp8_block_size(hf_config_, model_dir_ / "config.json")),
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
    auto [cos, sin] = rope_tables(config_, seq);
    return {hidden, std::make_shared<LlamaContext>(std::move(cos), std::move(sin),
                                                   causal_mask(config_, 0, seq, 0, seq))};
  }

  std::size_t num_blocks() const override { return static_cast<std::size_t>(config_.num_layers); }
  std::string block_name(std::size_t index) const override { return "model.layers." + std::to_string(index); }

  std::unique_ptr<Block> load_block(std::size_t index) override {
    const std::string name = block_name(index);
    std::map<std::string, at::Tensor> tensors;
    for (const TensorSpec& spec : block_specs(index)) {
      tensors[spec.name] =
          spec.as_float ? load(spec.name, spec.shape, true) : reader_.read_weight(spec.name, spec.shape);
    }
    const auto take = [&](const std::string& full) {
      const auto found = tensors.find(full);
      return found == tensors.end() ? std::optional<at::Tensor>() : std::optional<at::Tensor>(found->second);
    };
    const auto linear = [&](const std::string& suffix) {
      const std::string full = name + "." + suffix;
      const std::optional<at::Tensor> weight = take(full + ".weight");
      const std::vector<std::int64_t> shape = linear_shape(suffix);
      return Linear(full, weight ? *weight : at::zeros(shape, at::kFloat), take(full + ".bias"));
    };
    std::vector<Linear> linears;
    for (const char* suffix : kLinearSuffixes) linears.push_back(linear(suffix));
    LlamaBlockWeights norms;
    norms.input_norm = tensors.at(name + ".input_layernorm.weight");
    norms.post_attention_norm = tensors.at(name + ".post_attention_layernorm.weight");
    norms.input_norm_bias = take(name + ".input_layernorm.bias").value_or(at::Tensor());
    norms.post_attention_norm_bias = take(name + ".post_attention_layernorm.bias").value_or(at::Tensor());
    if (config_.qk_norm) {
      norms.q_norm = tensors.at(name + ".self_attn.q_norm.weight");
      norms.k_norm = tensors.at(name + ".self_attn.k_norm.weight");
    }
    reader_.drop_prefetched();  // what is left was read ahead for another block
    return std::make_unique<LlamaBlock>(name, config_, std::move(linears), std::move(norms));
  }

  // Block index+1's turn comes next: its bytes into the page cache, the first of its float32 tensors
  // converted (tensor_reader.hpp). Called on a background thread by BlockLoader.
  void prefetch_block(std::size_t index) override {
    if (index < num_blocks()) reader_.prefetch(block_specs(index));
  }

  void keep_stored_dtype_weights(bool keep) override {
    if (keep != keep_stored_dtype_) reader_.drop_prefetched();  // read ahead in the other dtype
    keep_stored_dtype_ = keep;
  }

  at::Tensor head(const at::Tensor& hidden) override {
    load_non_block_head(head_, float_loader());
    return at::linear(rms_norm(hidden, head_.final_norm, config_.rms_norm_eps), head_.lm_head);
  }

  std::vector<NamedTensor> non_block_parameters() override {
    return non_block_head_parameters(head_,
                                     [this](const std::string& name, const std::vector<std::int64_t>& shape) {
                                       return load(name, shape, false);
                                     });
  }

  // non_block_parameters() without reading: the same names, dtypes and shapes.
  std::vector<modelslim::TensorSpec> non_block_parameter_specs() const override {
    return non_block_head_specs(head_,
                                [this](const std::string& name, const std::vector<std::int64_t>& shape) {
                                  return stored_spec(name, shape);
                                });
  }

  at::ScalarType checkpoint_dtype() const override { return dtype_; }

  nlohmann::json hf_config() const override { return saved_hf_config(head_, hf_config_); }

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
    return non_block_rotation_points(head_, float_loader());
  }

 private:
  // Reads one tensor, checks its shape against config.json, optionally converts to float32.
  at::Tensor load(const std::string& name, const std::vector<std::int64_t>& shape, bool as_float) {
    return reader_.read(name, shape, as_float);
  }

  modelslim::TensorSpec stored_spec(const std::string& name, const std::vector<std::int64_t>& shape) const {
    return {name, reader_.stored_dtype(name, shape), shape};
  }

  std::vector<std::int64_t> linear_shape(const std::string& suffix) const {
    const std::int64_t hidden = config_.hidden_size;
    const std::int64_t q_dim = config_.num_heads * config_.head_dim;
    const std::int64_t kv_dim = config_.num_kv_heads * config_.head_dim;
    const std::int64_t inter = config_.intermediate_size;
    if (suffix == "self_attn.q_proj") return {q_dim, hidden};
    if (suffix == "self_attn.k_proj" || suffix == "self_attn.v_proj") return {kv_dim, hidden};
    if (suffix == "self_attn.o_proj") return {hidden, q_dim};
    if (suffix == "mlp.down_proj") return {hidden, inter};
    return {inter, hidden};  // gate_proj, up_proj
  }

  // Every tensor load_block reads, in load order (replaced weights are not read). A bias the config does
  // not imply is still read when present (processed checkpoints may carry one).
  std::vector<TensorSpec> block_specs(std::size_t index) const {
    const std::string name = block_name(index);
    const std::int64_t hidden = config_.hidden_size;
    std::vector<TensorSpec> specs;
    for (const char* suffix : kLinearSuffixes) {
      const std::string full = name + "." + suffix;
      const std::vector<std::int64_t> shape = linear_shape(suffix);
      if (replaced_weights_.count(full + ".weight") == 0)
        specs.push_back({full + ".weight", shape, !keep_stored_dtype_});
      const bool implied = config_.qkv_bias && full.find("_attn.o_proj") == std::string::npos &&
                           full.find(".self_attn.") != std::string::npos;
      if (implied || reader_.contains(full + ".bias")) specs.push_back({full + ".bias", {shape[0]}});
    }
    for (const char* norm : {".input_layernorm", ".post_attention_layernorm"}) {
      specs.push_back({name + norm + ".weight", {hidden}});
      if (reader_.contains(name + norm + ".bias")) specs.push_back({name + norm + ".bias", {hidden}});
    }
    if (config_.qk_norm) {
      specs.push_back({name + ".self_attn.q_norm.weight", {config_.head_dim}});
      specs.push_back({name + ".self_attn.k_norm.weight", {config_.head_dim}});
    }
    return specs;
  }

  // The head's tensors straight into float32 (no stored-dtype copy of lm_head).
  StoredTensorLoader float_loader() {
    return [this](const std::string& name, const std::vector<std::int64_t>& shape) {
      return load(name, shape, true);
    };
  }

  std::filesystem::path model_dir_;
  nlohmann::json hf_config_;
  std::set<std::string> replaced_weights_;
  LlamaConfig config_;
  Tokenizer tokenizer_;
  TensorReader reader_;
  // The embedding (stored dtype, float32 once rotated; rows converted on lookup), the float32 final norm and
  // lm_head (loaded with the head), `modified` once a processor rotated them in place.
  NonBlockHead head_;
  at::ScalarType dtype_ = head_.embedding.scalar_type();
  bool keep_stored_dtype_ = false;  // linear weights as stored (bf16/fp16), see StoredDtypeBlocks
};

}  // namespace

std::unique_ptr<ModelAdapter> create_llama_adapter(const ModelLoadRequest& request) {
  return std::make_unique<LlamaAdapter>(request);
}

}  // namespace modelslim::llama
