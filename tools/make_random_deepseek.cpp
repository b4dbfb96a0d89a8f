// make_random_deepseek: writes a small random DeepSeek checkpoint in Hugging Face layout (config.json,
// safetensors, byte-level tokenizer) for tests: MLA attention, DeepSeek-MoE layers after dense ones, and in
// the V3 style FP8 block-quantized linears (F8_E4M3 + weight_scale_inv) and an MTP layer, as DeepSeek-V3
// ships.
//
//   make_random_deepseek --output DIR [--style v2-lite|v3|v3-real] [--seed N]
//                        [--weights fp8|bfloat16|float32] [--shard-per-layer] [--config-only]
//                        [--set key=value ...]
//
// v2-lite: deepseek_v2, q_proj (no q_lora_rank), softmax routing over all experts, YaRN, bfloat16 weights.
// v3: deepseek_v3, q_a/q_b (q_lora_rank), sigmoid routing with e_score_correction_bias and group-limited
//     top-k, YaRN with mscale_all_dim, FP8 linears in 128x128 blocks (partial edge blocks), one MTP layer.
// v3-real: DeepSeek-V3's real widths (hidden 7168, 256 + 1 experts of 2048, MLA ranks 1536/512, 128 heads),
//     1 dense + 2 MoE layers, vocab 1024, FP8 (about 23 GB; benchmark h). Written with bounded memory: one
//     tensor at a time, streamed to disk; --shard-per-layer writes one file per layer and an index. Its
//     FP8 codes are drawn directly from a quantized normal distribution (common/fp8_sampler.hpp).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/byte_level_tokenizer.hpp"
#include "common/fp8_sampler.hpp"
#include "common/generated_dir.hpp"
#include "modelslim/error.hpp"
#include "modelslim/fp8.hpp"
#include "modelslim/fp8_checkpoint.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"

namespace fs = std::filesystem;
using modelslim::Error;
using modelslim::ErrorCode;

namespace {

constexpr const char* kUsage =
    "usage: make_random_deepseek --output DIR [--style v2-lite|v3|v3-real] [--seed N] "
    "[--weights fp8|bfloat16|float32] [--shard-per-layer] [--config-only] [--set key=value ...]\n";

struct Options {
  fs::path output;
  std::string style = "v2-lite";
  std::uint64_t seed = 0;
  std::string weights;  // empty: the style's default
  std::vector<std::string> overrides;
  bool shard_per_layer = false;  // one safetensors file per decoder layer + model.safetensors.index.json
  bool config_only = false;      // config.json alone (to inspect a style's shapes without its weights)
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "make_random_deepseek: " << message << "\n" << kUsage;
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (flag == "--output") {
      options.output = fs::path(value()).lexically_normal();
    } else if (flag == "--style") {
      options.style = value();
      if (options.style != "v2-lite" && options.style != "v3" && options.style != "v3-real")
        usage_error("--style: expected v2-lite, v3 or v3-real");
    } else if (flag == "--seed") {
      const std::string text = value();
      if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
        usage_error("--seed '" + text + "': expected a non-negative integer");
      }
      options.seed = std::stoull(text);
    } else if (flag == "--weights") {
      options.weights = value();
      if (options.weights != "fp8" && options.weights != "bfloat16" && options.weights != "float32") {
        usage_error("--weights: expected fp8, bfloat16 or float32");
      }
    } else if (flag == "--config-only") {
      options.config_only = true;
    } else if (flag == "--shard-per-layer") {
      options.shard_per_layer = true;
    } else if (flag == "--set") {
      options.overrides.push_back(value());
    } else {
      usage_error("unknown flag '" + flag + "'");
    }
  }
  if (options.output.empty()) usage_error("--output is required");
  if (options.weights.empty()) options.weights = options.style == "v2-lite" ? "bfloat16" : "fp8";
  return options;
}

nlohmann::json v2_lite_config() {
  return {{"architectures", {"DeepseekV2ForCausalLM"}},
          {"model_type", "deepseek_v2"},
          {"hidden_size", 64},
          {"intermediate_size", 96},
          {"moe_intermediate_size", 32},
          {"num_hidden_layers", 3},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 4},
          {"vocab_size", 300},
          {"q_lora_rank", nullptr},
          {"kv_lora_rank", 32},
          {"qk_nope_head_dim", 16},
          {"qk_rope_head_dim", 8},
          {"v_head_dim", 16},
          {"n_routed_experts", 8},
          {"n_shared_experts", 2},
          {"num_experts_per_tok", 3},
          {"first_k_dense_replace", 1},
          {"moe_layer_freq", 1},
          {"n_group", 1},
          {"topk_group", 1},
          {"topk_method", "greedy"},
          {"scoring_func", "softmax"},
          {"norm_topk_prob", false},
          {"routed_scaling_factor", 1.0},
          {"max_position_embeddings", 512},
          {"rope_theta", 10000.0},
          {"rope_scaling",
           {{"type", "yarn"},
            {"factor", 8.0},
            {"original_max_position_embeddings", 64},
            {"beta_fast", 32},
            {"beta_slow", 1},
            {"mscale", 0.707},
            {"mscale_all_dim", 0.707}}},
          {"rms_norm_eps", 1e-6},
          {"hidden_act", "silu"},
          {"attention_bias", false},
          {"tie_word_embeddings", false},
          {"bos_token_id", 256},
          {"eos_token_id", 256}};
}

nlohmann::json v3_config() {
  nlohmann::json config = v2_lite_config();
  config["architectures"] = {"DeepseekV3ForCausalLM"};
  config["model_type"] = "deepseek_v3";
  config["hidden_size"] = 160;  // 128-blocks: one full and one partial along the input
  config["intermediate_size"] = 272;
  config["moe_intermediate_size"] = 48;
  config["q_lora_rank"] = 96;
  config["kv_lora_rank"] = 64;
  config["qk_nope_head_dim"] = 32;
  config["qk_rope_head_dim"] = 16;
  config["v_head_dim"] = 32;
  config["n_routed_experts"] = 16;
  config["n_shared_experts"] = 1;
  config["num_experts_per_tok"] = 4;
  config["n_group"] = 4;
  config["topk_group"] = 2;
  config["topk_method"] = "noaux_tc";
  config["scoring_func"] = "sigmoid";
  config["norm_topk_prob"] = true;
  config["routed_scaling_factor"] = 2.5;
  config["num_nextn_predict_layers"] = 1;
  config["rope_interleave"] = true;
  config["rope_scaling"] = {
      {"type", "yarn"},       {"factor", 8.0},  {"original_max_position_embeddings", 64},
      {"beta_fast", 32},      {"beta_slow", 1}, {"mscale", 1.0},
      {"mscale_all_dim", 1.0}};
  return config;
}

// DeepSeek-V3's real widths (its config.json) with 1 dense + 2 MoE layers, no MTP layer and a small vocab:
// benchmark (h). The embedding and lm_head are outside the layer loop, so their width does not matter there.
nlohmann::json v3_real_config() {
  nlohmann::json config = v3_config();
  config.update({{"hidden_size", 7168},
                 {"intermediate_size", 18432},
                 {"moe_intermediate_size", 2048},
                 {"num_hidden_layers", 3},
                 {"num_attention_heads", 128},
                 {"num_key_value_heads", 128},
                 {"vocab_size", 1024},
                 {"q_lora_rank", 1536},
                 {"kv_lora_rank", 512},
                 {"qk_nope_head_dim", 128},
                 {"qk_rope_head_dim", 64},
                 {"v_head_dim", 128},
                 {"n_routed_experts", 256},
                 {"n_shared_experts", 1},
                 {"num_experts_per_tok", 8},
                 {"n_group", 8},
                 {"topk_group", 4},
                 {"first_k_dense_replace", 1},
                 {"num_nextn_predict_layers", 0},
                 {"max_position_embeddings", 163840}});
  config["rope_scaling"] = {
      {"type", "yarn"},       {"factor", 40.0}, {"original_max_position_embeddings", 4096},
      {"beta_fast", 32},      {"beta_slow", 1}, {"mscale", 1.0},
      {"mscale_all_dim", 1.0}};
  return config;
}

void apply_override(nlohmann::json& config, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) usage_error("--set '" + assignment + "': expected key=value");
  nlohmann::json value = nlohmann::json::parse(assignment.substr(eq + 1), nullptr, false);
  config[assignment.substr(0, eq)] = value.is_discarded() ? nlohmann::json(assignment.substr(eq + 1)) : value;
}

std::int64_t field(const nlohmann::json& config, const char* key) {
  if (!config.contains(key) || !config[key].is_number_integer()) {
    throw Error(ErrorCode::kInvalidModel, std::string("config field '") + key + "' must be an integer");
  }
  return config[key].get<std::int64_t>();
}

// FP8 block quantization of one weight, as DeepSeek ships it: per 128×128 block (edge blocks partial) the
// scale maps the block's max |w| to 448, codes = e4m3(w / scale). Raw loops over block rows in parallel: a
// real-width MoE layer has 11G weights.
std::pair<at::Tensor, at::Tensor> quantize_fp8_blocks(const at::Tensor& weight, std::int64_t block) {
  const std::int64_t out = weight.size(0), in = weight.size(1);
  const std::int64_t rows = (out + block - 1) / block, cols = (in + block - 1) / block;
  at::Tensor scales = at::empty({rows, cols}, at::kFloat);
  at::Tensor codes = at::empty({out, in}, at::kByte);
  const float* w = weight.data_ptr<float>();
  float* scale = scales.data_ptr<float>();
  std::uint8_t* code = codes.data_ptr<std::uint8_t>();
  at::parallel_for(0, rows, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const std::int64_t r1 = std::min(out, (r + 1) * block);
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::int64_t c0 = c * block, c1 = std::min(in, c0 + block);
        float peak = 0;
        for (std::int64_t i = r * block; i < r1; ++i)
          for (std::int64_t j = c0; j < c1; ++j) peak = std::max(peak, std::abs(w[i * in + j]));
        const float s = std::max(peak, 1e-12f) / 448.0f;
        scale[r * cols + c] = s;
        for (std::int64_t i = r * block; i < r1; ++i)
          for (std::int64_t j = c0; j < c1; ++j)
            code[i * in + j] = modelslim::encode_e4m3fn(w[i * in + j] / s);
      }
    }
  });
  return {codes, scales};
}

// Writes tensors in the checkpoint's layout; linear weights as FP8 blocks or in the float dtype. One file
// at a time (`open`), each streamed to disk as tensors arrive, so memory holds one tensor, not the model.
class Writer {
 public:
  Writer(const fs::path& dir, const Options& options, std::int64_t block)
      : dir_(dir),
        generator_(at::make_generator<at::CPUGeneratorImpl>(options.seed)),
        fp8_(options.weights == "fp8"),
        direct_fp8_(fp8_ && options.style == "v3-real"),
        seed_(options.seed),
        dtype_(options.weights == "float32" ? at::kFloat : at::kBFloat16),
        block_(block) {}

  // Finishes the current file and starts `file_name`.
  void open(const std::string& file_name) {
    close();
    file_name_ = file_name;
    writer_ = std::make_unique<modelslim::SafetensorsWriter>(
        dir_ / file_name, std::map<std::string, std::string>{{"format", "pt"}});
  }
  at::Tensor normal(std::vector<std::int64_t> shape, double mean, double stddev) {
    return at::normal(mean, stddev, shape, generator_);
  }
  void plain(const std::string& name, const at::Tensor& tensor) { add(name, tensor.to(dtype_)); }
  void float32(const std::string& name, const at::Tensor& tensor) { add(name, tensor); }
  void norm(const std::string& name, std::int64_t size) { plain(name, normal({size}, 1.0, 0.1)); }
  // A linear weight [out, in]: FP8 with per-block scales, or float.
  // v3-real draws the codes directly (fp8_sampler.hpp): its 23 GB would take hours through float32.
  void linear(const std::string& name, std::int64_t out, std::int64_t in, double stddev = 0.08) {
    if (direct_fp8_) {
      auto [codes, scales] =
          modelslim::tools::sample_normal_fp8_blocks(out, in, block_, stddev, seed_ * 1000003 + ++linears_);
      add(name, codes);
      fp8_names_.insert(name);
      return add(name + "_scale_inv", scales);
    }
    const at::Tensor weight = normal({out, in}, 0.0, stddev);
    if (!fp8_) return plain(name, weight);
    auto [codes, scales] = quantize_fp8_blocks(weight.contiguous(), block_);
    add(name, codes);
    fp8_names_.insert(name);
    add(name + "_scale_inv", scales);
  }
  // Closes the last file; with several files, writes model.safetensors.index.json as transformers does.
  void finish(bool sharded) {
    close();
    if (!sharded) return;
    nlohmann::json index = {{"metadata", {{"total_size", total_bytes_}}}, {"weight_map", weight_map_}};
    modelslim::write_json_file_atomic(dir_ / "model.safetensors.index.json", index);
  }

 private:
  void add(const std::string& name, const at::Tensor& tensor) {
    writer_->add(name, tensor);
    weight_map_[name] = file_name_;
    total_bytes_ += static_cast<std::int64_t>(tensor.numel() * tensor.element_size());
  }
  void close() {
    if (!writer_) return;
    writer_->finish();
    writer_.reset();
    if (!fp8_names_.empty()) modelslim::retype_as_fp8_e4m3(dir_ / file_name_, fp8_names_);
    fp8_names_.clear();
  }

  fs::path dir_;
  at::Generator generator_;
  bool fp8_;
  bool direct_fp8_;
  std::uint64_t seed_;
  std::uint64_t linears_ = 0;
  at::ScalarType dtype_;
  std::int64_t block_;
  std::unique_ptr<modelslim::SafetensorsWriter> writer_;
  std::string file_name_;
  std::set<std::string> fp8_names_;  // written as U8 codes, retyped to F8_E4M3 when the file closes
  nlohmann::json weight_map_ = nlohmann::json::object();
  std::int64_t total_bytes_ = 0;
};

void write_mlp(Writer& out, const std::string& prefix, std::int64_t hidden, std::int64_t inter) {
  out.linear(prefix + ".gate_proj.weight", inter, hidden);
  out.linear(prefix + ".up_proj.weight", inter, hidden);
  out.linear(prefix + ".down_proj.weight", hidden, inter);
}

void write_layer(Writer& out, const nlohmann::json& config, std::int64_t layer) {
  const std::string prefix = "model.layers." + std::to_string(layer) + ".";
  const std::int64_t hidden = field(config, "hidden_size");
  const std::int64_t heads = field(config, "num_attention_heads");
  const std::int64_t nope = field(config, "qk_nope_head_dim");
  const std::int64_t rope = field(config, "qk_rope_head_dim");
  const std::int64_t kv_rank = field(config, "kv_lora_rank");
  const std::int64_t v_dim = field(config, "v_head_dim");
  out.norm(prefix + "input_layernorm.weight", hidden);
  out.norm(prefix + "post_attention_layernorm.weight", hidden);
  if (config["q_lora_rank"].is_null()) {
    out.linear(prefix + "self_attn.q_proj.weight", heads * (nope + rope), hidden);
  } else {
    const std::int64_t q_rank = field(config, "q_lora_rank");
    out.linear(prefix + "self_attn.q_a_proj.weight", q_rank, hidden);
    out.norm(prefix + "self_attn.q_a_layernorm.weight", q_rank);
    out.linear(prefix + "self_attn.q_b_proj.weight", heads * (nope + rope), q_rank);
  }
  out.linear(prefix + "self_attn.kv_a_proj_with_mqa.weight", kv_rank + rope, hidden);
  out.norm(prefix + "self_attn.kv_a_layernorm.weight", kv_rank);
  out.linear(prefix + "self_attn.kv_b_proj.weight", heads * (nope + v_dim), kv_rank);
  out.linear(prefix + "self_attn.o_proj.weight", hidden, heads * v_dim);
  const std::int64_t experts = field(config, "n_routed_experts");
  const bool moe =
      layer >= field(config, "first_k_dense_replace") && layer % field(config, "moe_layer_freq") == 0;
  if (!moe) return write_mlp(out, prefix + "mlp", hidden, field(config, "intermediate_size"));
  out.plain(prefix + "mlp.gate.weight", out.normal({experts, hidden}, 0.0, 0.15));  // routers stay float
  if (config.value("topk_method", "") == "noaux_tc") {
    out.float32(prefix + "mlp.gate.e_score_correction_bias", out.normal({experts}, 0.0, 0.1));
  }
  const std::int64_t inter = field(config, "moe_intermediate_size");
  for (std::int64_t e = 0; e < experts; ++e)
    write_mlp(out, prefix + "mlp.experts." + std::to_string(e), hidden, inter);
  const std::int64_t shared = field(config, "n_shared_experts");
  if (shared > 0) write_mlp(out, prefix + "mlp.shared_experts", hidden, inter * shared);
}

// DeepSeek-V3's MTP layer: a decoder layer plus its own embedding, norms, projection and head.
void write_mtp_layer(Writer& out, const nlohmann::json& config, std::int64_t layer) {
  const std::string prefix = "model.layers." + std::to_string(layer) + ".";
  const std::int64_t hidden = field(config, "hidden_size");
  const std::int64_t vocab = field(config, "vocab_size");
  write_layer(out, config, layer);
  out.plain(prefix + "embed_tokens.weight", out.normal({vocab, hidden}, 0.0, 0.5));
  out.norm(prefix + "enorm.weight", hidden);
  out.norm(prefix + "hnorm.weight", hidden);
  out.plain(prefix + "eh_proj.weight", out.normal({hidden, 2 * hidden}, 0.0, 0.08));
  out.norm(prefix + "shared_head.norm.weight", hidden);
  out.plain(prefix + "shared_head.head.weight", out.normal({vocab, hidden}, 0.0, 0.08));
}

// The shard holding decoder layer `layer` (0-based) when sharded: one file per layer (MTP layers too),
// the embedding in the first, the final norm and lm_head in the last.
std::string shard_name(std::int64_t index, std::int64_t count) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05lld-of-%05lld.safetensors", static_cast<long long>(index + 1),
                static_cast<long long>(count));
  return name;
}

void write_model(const Options& options, nlohmann::json config, const fs::path& dir) {
  std::int64_t block = 128;
  if (options.weights == "fp8") {
    config["quantization_config"] = {{"quant_method", "fp8"},
                                     {"fmt", "e4m3"},
                                     {"activation_scheme", "dynamic"},
                                     {"weight_block_size", {block, block}}};
  }
  config["torch_dtype"] = options.weights == "float32" ? "float32" : "bfloat16";
  const std::int64_t hidden = field(config, "hidden_size");
  const std::int64_t vocab = field(config, "vocab_size");
  const std::int64_t layers = field(config, "num_hidden_layers");
  const std::int64_t mtp = config.value("num_nextn_predict_layers", 0);
  if (options.config_only) return modelslim::write_json_file_atomic(dir / "config.json", config);
  const std::int64_t files = options.shard_per_layer ? layers + mtp : 1;
  Writer out(dir, options, block);
  out.open(files == 1 ? "model.safetensors" : shard_name(0, files));
  out.plain("model.embed_tokens.weight", out.normal({vocab, hidden}, 0.0, 0.5));
  for (std::int64_t layer = 0; layer < layers + mtp; ++layer) {
    if (files > 1 && layer > 0) out.open(shard_name(layer, files));
    if (layer < layers) {
      write_layer(out, config, layer);
    } else {
      write_mtp_layer(out, config, layer);
    }
  }
  out.norm("model.norm.weight", hidden);
  out.plain("lm_head.weight", out.normal({vocab, hidden}, 0.0, 0.08));
  out.finish(files > 1);
  modelslim::write_json_file_atomic(dir / "config.json", config);
  modelslim::tools::write_byte_level_tokenizer(dir, vocab);
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  try {
    nlohmann::json config = options.style == "v3"        ? v3_config()
                            : options.style == "v3-real" ? v3_real_config()
                                                         : v2_lite_config();
    for (const auto& assignment : options.overrides) apply_override(config, assignment);
    modelslim::tools::GeneratedDir output(options.output, "make_random_deepseek", {});
    write_model(options, config, output.staging());
    output.commit();
    std::cout << "wrote " << options.output.string() << " (" << options.style << ", " << options.weights
              << " weights)\n";
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "make_random_deepseek: " << error.what() << "\n";
    return 1;
  }
}
