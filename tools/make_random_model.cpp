// make_random_model: writes a Llama-family or mixture-of-experts (qwen3_moe, qwen2_moe, mixtral) Hugging Face
// checkpoint (config.json, generation_config.json,
// safetensors, tokenizer files) with random weights. Tensors are generated and streamed to disk one at a
// time, so even 7B-shaped models need little memory. The output appears atomically (staging dir + rename) and
// replaces only an earlier generated output (common/generated_dir.hpp).
//
//   make_random_model --config CONFIG_JSON_OR_DIR --output DIR [--seed N] [--dtype float32|float16|bfloat16]
//                     [--shard-size-mb N] [--tokenizer-from DIR] [--byte-tokenizer] [--scale 0.02]
//                     [--set key=value ...]
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/byte_level_tokenizer.hpp"
#include "common/generated_dir.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"

namespace fs = std::filesystem;
using modelslim::Error;
using modelslim::ErrorCode;

namespace {

constexpr const char* kUsage =
    "usage: make_random_model --config CONFIG_JSON_OR_DIR --output DIR [--seed N] "
    "[--dtype float32|float16|bfloat16] [--shard-size-mb N] [--tokenizer-from DIR] [--byte-tokenizer] "
    "[--scale S] [--set key=value ...]\n";

constexpr int kExitUsage = 2;
constexpr int kExitFailure = 1;

struct Options {
  fs::path config;
  fs::path output;
  std::uint64_t seed = 0;
  at::ScalarType dtype = at::kFloat;
  std::string dtype_name = "float32";
  std::uint64_t shard_bytes = 0;  // 0: a single model.safetensors
  fs::path tokenizer_from;
  bool byte_tokenizer = false;
  double scale = 0.02;
  std::vector<std::string> overrides;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "make_random_model: " << message << "\n" << kUsage;
  std::exit(kExitUsage);
}

std::uint64_t parse_count(const std::string& flag, const std::string& text) {
  // stoull accepts "-1" (wrapping around) and trailing junk; insist on plain digits.
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    usage_error(flag + " '" + text + "': expected a non-negative integer");
  }
  try {
    return std::stoull(text);
  } catch (const std::out_of_range&) {
    usage_error(flag + " '" + text + "': too large");
  }
}

double parse_positive_real(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !std::isfinite(value) || value <= 0) {
    usage_error(flag + " '" + text + "': expected a positive number");
  }
  return value;
}

// "out/" and "out" name the same directory; the staging dir must sit beside it, not inside it.
fs::path normalized_dir(const std::string& text) {
  fs::path path = fs::path(text).lexically_normal();
  if (!path.empty() && path.filename().empty()) path = path.parent_path();
  if (path.empty() || path.filename() == "." || path.filename() == "..") {
    usage_error("--output '" + text + "': expected a directory name to create or replace");
  }
  return path;
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
    } else if (flag == "--config") {
      options.config = value();
    } else if (flag == "--output") {
      options.output = normalized_dir(value());
    } else if (flag == "--seed") {
      options.seed = parse_count(flag, value());
    } else if (flag == "--dtype") {
      options.dtype_name = value();
      static const std::map<std::string, at::ScalarType> kDtypes = {
          {"float32", at::kFloat}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16}};
      const auto found = kDtypes.find(options.dtype_name);
      if (found == kDtypes.end()) {
        usage_error("--dtype '" + options.dtype_name + "': expected float32, float16 or bfloat16");
      }
      options.dtype = found->second;
    } else if (flag == "--shard-size-mb") {
      const std::string text = value();
      const std::uint64_t megabytes = parse_count(flag, text);
      if (megabytes == 0 || megabytes > (std::uint64_t{1} << 40)) {
        usage_error("--shard-size-mb '" + text + "': expected a positive size in MiB");
      }
      options.shard_bytes = megabytes * 1024 * 1024;
    } else if (flag == "--tokenizer-from") {
      options.tokenizer_from = value();
    } else if (flag == "--byte-tokenizer") {
      options.byte_tokenizer = true;
    } else if (flag == "--scale") {
      options.scale = parse_positive_real(flag, value());
    } else if (flag == "--set") {
      options.overrides.push_back(value());
    } else {
      usage_error("unknown flag '" + flag + "'");
    }
  }
  if (options.config.empty()) usage_error("--config is required");
  if (options.output.empty()) usage_error("--output is required");
  if (options.byte_tokenizer && !options.tokenizer_from.empty()) {
    usage_error("--byte-tokenizer and --tokenizer-from exclude each other");
  }
  return options;
}

fs::path config_file(const Options& options) {
  if (fs::is_directory(options.config)) {
    const fs::path file = options.config / "config.json";
    if (!fs::is_regular_file(file)) {
      throw Error(ErrorCode::kInvalidModel, "--config " + options.config.string() + ": no config.json there");
    }
    return file;
  }
  if (!fs::exists(options.config)) {
    throw Error(ErrorCode::kInvalidModel,
                "--config " + options.config.string() + ": no such file or directory");
  }
  return options.config;
}

// Applies --set key=value: the value is JSON when it parses (32, true, null, [1,2]), else a string.
void apply_override(nlohmann::json& config, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) usage_error("--set '" + assignment + "': expected key=value");
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  config[key] = value.is_discarded() ? nlohmann::json(text) : std::move(value);
}

nlohmann::json load_config(const Options& options, const fs::path& file) {
  nlohmann::json config = modelslim::read_json_file(file);
  if (!config.is_object()) throw Error(ErrorCode::kInvalidModel, file.string() + ": expected a JSON object");
  for (const auto& assignment : options.overrides) apply_override(config, assignment);
  config["torch_dtype"] = options.dtype_name;
  return config;
}

// The shapes that matter, read and checked once.
struct Architecture {
  std::string model_type;
  std::int64_t hidden = 0;
  std::int64_t intermediate = 0;
  std::int64_t layers = 0;
  std::int64_t heads = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t vocab = 0;
  bool qkv_bias = false;  // Qwen2 always, others with "attention_bias": true
  bool qk_norm = false;   // Qwen3's per-head RMSNorm on queries and keys
  bool tied_embeddings = false;
  // Mixture of experts (qwen3_moe, qwen2_moe, mixtral); sparse is empty for dense models.
  std::vector<bool> sparse;  // per layer: routed experts (else a dense MLP of `intermediate`)
  std::int64_t experts = 0;  // num_experts / num_local_experts
  std::int64_t expert_intermediate = 0;
  std::int64_t shared_intermediate = 0;  // qwen2_moe's shared expert
};

bool is_moe(const std::string& model_type) {
  return model_type == "qwen3_moe" || model_type == "qwen2_moe" || model_type == "mixtral";
}

// Which layers are sparse, as transformers' Qwen3Moe/Qwen2Moe decoder layers decide (Mixtral: all).
void read_experts(const nlohmann::json& config, Architecture& arch,
                  const std::function<std::int64_t(const char*)>& positive_int) {
  const bool mixtral = arch.model_type == "mixtral";
  arch.experts = positive_int(mixtral ? "num_local_experts" : "num_experts");
  positive_int("num_experts_per_tok");
  arch.expert_intermediate = mixtral ? arch.intermediate : positive_int("moe_intermediate_size");
  if (arch.model_type == "qwen2_moe")
    arch.shared_intermediate = positive_int("shared_expert_intermediate_size");
  const std::int64_t step =
      !mixtral && config.contains("decoder_sparse_step") ? positive_int("decoder_sparse_step") : 1;
  std::vector<std::int64_t> dense;
  if (!mixtral && config.contains("mlp_only_layers") && config["mlp_only_layers"].is_array()) {
    dense = config["mlp_only_layers"].get<std::vector<std::int64_t>>();
  }
  for (std::int64_t layer = 0; layer < arch.layers; ++layer) {
    const bool listed = std::find(dense.begin(), dense.end(), layer) != dense.end();
    arch.sparse.push_back(!listed && (layer + 1) % step == 0);
  }
}

Architecture read_architecture(const nlohmann::json& config, const fs::path& file) {
  const auto fail = [&](const std::string& what) -> Error {
    return Error(ErrorCode::kInvalidModel, file.string() + " (after --set overrides): " + what);
  };
  const auto positive_int = [&](const char* key) {
    if (!config.contains(key) || !config[key].is_number_integer() || config[key].get<std::int64_t>() <= 0) {
      throw fail(std::string("\"") + key + "\" must be a positive integer" +
                 (config.contains(key) ? ", got " + config[key].dump() : " (missing)"));
    }
    return config[key].get<std::int64_t>();
  };
  const auto flag = [&](const char* key) {
    if (!config.contains(key) || config[key].is_null()) return false;
    if (!config[key].is_boolean()) throw fail(std::string("\"") + key + "\" must be true or false");
    return config[key].get<bool>();
  };

  Architecture arch;
  arch.model_type = config.value("model_type", "");
  if (arch.model_type != "llama" && arch.model_type != "mistral" && arch.model_type != "qwen2" &&
      arch.model_type != "qwen3" && !is_moe(arch.model_type)) {
    throw Error(
        ErrorCode::kUnsupported,
        file.string() + ": model_type '" + arch.model_type +
            "' is not supported; expected llama, mistral, qwen2, qwen3, qwen3_moe, qwen2_moe or mixtral");
  }
  arch.hidden = positive_int("hidden_size");
  arch.intermediate = positive_int("intermediate_size");
  arch.layers = positive_int("num_hidden_layers");
  arch.heads = positive_int("num_attention_heads");
  arch.vocab = positive_int("vocab_size");
  arch.kv_heads = config.contains("num_key_value_heads") && !config["num_key_value_heads"].is_null()
                      ? positive_int("num_key_value_heads")
                      : arch.heads;
  if (arch.heads % arch.kv_heads != 0) {
    throw fail("num_attention_heads (" + std::to_string(arch.heads) + ") must be a multiple of " +
               "num_key_value_heads (" + std::to_string(arch.kv_heads) + ")");
  }
  if (config.contains("head_dim") && !config["head_dim"].is_null()) {
    arch.head_dim = positive_int("head_dim");
  } else if (arch.hidden % arch.heads != 0) {
    throw fail("hidden_size (" + std::to_string(arch.hidden) +
               ") must be a multiple of num_attention_heads (" + std::to_string(arch.heads) +
               ") when head_dim is not given");
  } else {
    arch.head_dim = arch.hidden / arch.heads;
  }
  arch.qkv_bias = arch.model_type == "qwen2" || arch.model_type == "qwen2_moe" || flag("attention_bias");
  arch.qk_norm = arch.model_type == "qwen3" || arch.model_type == "qwen3_moe";
  if (is_moe(arch.model_type)) read_experts(config, arch, positive_int);
  arch.tied_embeddings = flag("tie_word_embeddings");
  return arch;
}

// Streams tensors into shards of at most `shard_bytes` (0: one model.safetensors) and writes the index.
class CheckpointWriter {
 public:
  CheckpointWriter(fs::path dir, std::uint64_t shard_bytes)
      : dir_(std::move(dir)), shard_bytes_(shard_bytes) {}

  void add(const std::string& name, const at::Tensor& tensor) {
    const std::uint64_t bytes = static_cast<std::uint64_t>(tensor.numel()) * tensor.element_size();
    const bool shard_full = writer_ && shard_bytes_ > 0 && writer_->tensor_count() > 0 &&
                            writer_->data_bytes() + bytes > shard_bytes_;
    if (!writer_ || shard_full) start_shard();
    writer_->add(name, tensor);
    shard_tensors_.back().push_back(name);
    total_bytes_ += bytes;
  }

  // Returns the number of files written.
  std::size_t finish() {
    if (writer_) writer_->finish();
    writer_.reset();
    if (shard_bytes_ == 0) {
      fs::rename(shard_path(0), dir_ / "model.safetensors");
      return 1;
    }
    nlohmann::json weight_map = nlohmann::json::object();
    const std::size_t count = shard_tensors_.size();
    for (std::size_t i = 0; i < count; ++i) {
      char name[64];
      std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1, count);
      fs::rename(shard_path(i), dir_ / name);
      for (const auto& tensor : shard_tensors_[i]) weight_map[tensor] = name;
    }
    modelslim::write_json_file_atomic(
        dir_ / "model.safetensors.index.json",
        {{"metadata", {{"total_size", total_bytes_}}}, {"weight_map", weight_map}});
    return count + 1;
  }

  std::uint64_t total_bytes() const { return total_bytes_; }

 private:
  // Shard file names need the final count, so shards get working names until finish().
  fs::path shard_path(std::size_t index) const { return dir_ / ("shard-" + std::to_string(index) + ".part"); }

  void start_shard() {
    if (writer_) writer_->finish();
    writer_ = std::make_unique<modelslim::SafetensorsWriter>(
        shard_path(shard_tensors_.size()), std::map<std::string, std::string>{{"format", "pt"}});
    shard_tensors_.emplace_back();
  }

  fs::path dir_;
  std::uint64_t shard_bytes_;
  std::unique_ptr<modelslim::SafetensorsWriter> writer_;
  std::vector<std::vector<std::string>> shard_tensors_;
  std::uint64_t total_bytes_ = 0;
};

// Draws normal(0, stddev) samples in the output dtype. Small tensors come straight from the model's seeded
// generator. Large ones (7B-shaped linears and embeddings) are split into fixed-size chunks, each drawn from
// its own generator seeded from the model's, on all cores, and converted chunk by chunk; the result depends
// on the seed only, never on the thread count, and no full float32 copy of the tensor is ever held.
class RandomTensors {
 public:
  RandomTensors(std::uint64_t seed, at::ScalarType dtype)
      : generator_(at::make_generator<at::CPUGeneratorImpl>(seed)), dtype_(dtype) {}

  at::Tensor normal(const std::vector<std::int64_t>& shape, double mean, double stddev) {
    std::int64_t numel = 1;
    for (const auto extent : shape) numel *= extent;
    if (numel <= kChunkElements) return at::normal(mean, stddev, shape, generator_).to(dtype_);

    const std::uint64_t tensor_seed = next_seed();
    at::Tensor out = at::empty(shape, at::TensorOptions().dtype(dtype_));
    at::Tensor flat = out.view({-1});
    const std::int64_t chunks = (numel + kChunkElements - 1) / kChunkElements;
    std::atomic<std::int64_t> next_chunk{0};
    std::exception_ptr failure;  // the first error of any thread, rethrown once all have joined
    std::mutex failure_mutex;
    const auto work = [&] {
      try {
        for (std::int64_t chunk = next_chunk++; chunk < chunks; chunk = next_chunk++) {
          const std::int64_t begin = chunk * kChunkElements;
          const std::int64_t length = std::min(kChunkElements, numel - begin);
          at::Generator chunk_generator =
              at::make_generator<at::CPUGeneratorImpl>(mix(tensor_seed + static_cast<std::uint64_t>(chunk)));
          flat.narrow(0, begin, length).copy_(at::normal(mean, stddev, {length}, chunk_generator));
        }
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next_chunk = chunks;  // the others stop at their next chunk
      }
    };
    const auto thread_count =
        std::min<std::int64_t>(chunks, std::max(1u, std::thread::hardware_concurrency()));
    std::vector<std::thread> helpers;
    for (std::int64_t i = 1; i < thread_count; ++i) helpers.emplace_back(work);
    work();
    for (auto& helper : helpers) helper.join();
    if (failure) std::rethrow_exception(failure);
    return out;
  }

 private:
  static constexpr std::int64_t kChunkElements = std::int64_t{1} << 24;

  // splitmix64's finalizer: neighbouring chunk indices get unrelated generator seeds.
  static std::uint64_t mix(std::uint64_t value) {
    value += 0x9E3779B97F4A7C15ull;
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ull;
    value = (value ^ (value >> 27)) * 0x94D049BB133111EBull;
    return value ^ (value >> 31);
  }

  std::uint64_t next_seed() {
    const std::lock_guard<std::mutex> lock(generator_.mutex());
    return at::check_generator<at::CPUGeneratorImpl>(generator_)->random64();
  }

  at::Generator generator_;
  at::ScalarType dtype_;
};

// A SwiGLU MLP's three linears under `prefix` (Mixtral's experts name them w1, w3, w2).
void write_swiglu(CheckpointWriter& writer, const std::string& prefix, std::int64_t hidden,
                  std::int64_t inter, bool mixtral,
                  const std::function<at::Tensor(std::int64_t, std::int64_t)>& linear) {
  writer.add(prefix + (mixtral ? "w1" : "gate_proj") + ".weight", linear(inter, hidden));
  writer.add(prefix + (mixtral ? "w3" : "up_proj") + ".weight", linear(inter, hidden));
  writer.add(prefix + (mixtral ? "w2" : "down_proj") + ".weight", linear(hidden, inter));
}

// A layer's MLP: dense (`mlp.gate_proj` ...) or the HF sparse block: router `mlp.gate` (Mixtral
// `block_sparse_moe.gate`), experts `...experts.N.*`, Qwen2-MoE's `mlp.shared_expert.*` and
// `mlp.shared_expert_gate`.
void write_mlp(CheckpointWriter& writer, const Architecture& arch, std::int64_t layer,
               const std::string& prefix,
               const std::function<at::Tensor(std::int64_t, std::int64_t)>& linear) {
  if (arch.sparse.empty() || !arch.sparse[static_cast<std::size_t>(layer)]) {
    write_swiglu(writer, prefix + "mlp.", arch.hidden, arch.intermediate, false, linear);
    return;
  }
  const bool mixtral = arch.model_type == "mixtral";
  const std::string moe = prefix + (mixtral ? "block_sparse_moe." : "mlp.");
  writer.add(moe + "gate.weight", linear(arch.experts, arch.hidden));
  for (std::int64_t e = 0; e < arch.experts; ++e) {
    write_swiglu(writer, moe + "experts." + std::to_string(e) + ".", arch.hidden, arch.expert_intermediate,
                 mixtral, linear);
  }
  if (arch.shared_intermediate > 0) {
    write_swiglu(writer, moe + "shared_expert.", arch.hidden, arch.shared_intermediate, false, linear);
    writer.add(moe + "shared_expert_gate.weight", linear(1, arch.hidden));
  }
}

// Generates every tensor in the HF LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM (and the MoE
// families') layout, one at a time (so a seed always gives the same checkpoint), and streams it to disk.
std::uint64_t write_weights(const Options& options, const Architecture& arch, const fs::path& dir) {
  RandomTensors random(options.seed, options.dtype);
  const auto linear = [&](std::int64_t out_features, std::int64_t in_features) {
    return random.normal({out_features, in_features}, 0.0, options.scale);
  };
  const auto norm_weight = [&](std::int64_t size) { return random.normal({size}, 1.0, 0.1); };
  const auto bias = [&](std::int64_t size) { return random.normal({size}, 0.0, 0.02); };

  const std::int64_t q_size = arch.heads * arch.head_dim;
  const std::int64_t kv_size = arch.kv_heads * arch.head_dim;
  CheckpointWriter writer(dir, options.shard_bytes);
  writer.add("model.embed_tokens.weight", linear(arch.vocab, arch.hidden));
  for (std::int64_t layer = 0; layer < arch.layers; ++layer) {
    const std::string prefix = "model.layers." + std::to_string(layer) + ".";
    writer.add(prefix + "input_layernorm.weight", norm_weight(arch.hidden));
    writer.add(prefix + "self_attn.q_proj.weight", linear(q_size, arch.hidden));
    writer.add(prefix + "self_attn.k_proj.weight", linear(kv_size, arch.hidden));
    writer.add(prefix + "self_attn.v_proj.weight", linear(kv_size, arch.hidden));
    if (arch.qkv_bias) {
      writer.add(prefix + "self_attn.q_proj.bias", bias(q_size));
      writer.add(prefix + "self_attn.k_proj.bias", bias(kv_size));
      writer.add(prefix + "self_attn.v_proj.bias", bias(kv_size));
    }
    if (arch.qk_norm) {
      writer.add(prefix + "self_attn.q_norm.weight", norm_weight(arch.head_dim));
      writer.add(prefix + "self_attn.k_norm.weight", norm_weight(arch.head_dim));
    }
    writer.add(prefix + "self_attn.o_proj.weight", linear(arch.hidden, q_size));
    writer.add(prefix + "post_attention_layernorm.weight", norm_weight(arch.hidden));
    write_mlp(writer, arch, layer, prefix, linear);
  }
  writer.add("model.norm.weight", norm_weight(arch.hidden));
  if (!arch.tied_embeddings) writer.add("lm_head.weight", linear(arch.vocab, arch.hidden));
  writer.finish();
  return writer.total_bytes();
}

// Derived from the final config (after --set), so token ids always agree with it.
void write_generation_config(const nlohmann::json& config, const fs::path& dir) {
  nlohmann::json generation = {{"_from_model_config", true}};
  for (const char* key : {"bos_token_id", "eos_token_id", "pad_token_id"}) {
    if (config.contains(key)) generation[key] = config[key];
  }
  modelslim::write_json_file_atomic(dir / "generation_config.json", generation);
}

void copy_tokenizer(const fs::path& from, const fs::path& dir) {
  if (!fs::is_directory(from)) {
    throw Error(ErrorCode::kInvalidModel, "--tokenizer-from " + from.string() + ": not a directory");
  }
  bool has_tokenizer = false;
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                           "special_tokens_map.json", "added_tokens.json"}) {
    if (!fs::is_regular_file(from / name)) continue;
    fs::copy_file(from / name, dir / name);
    has_tokenizer = has_tokenizer || std::string(name).rfind("tokenizer.", 0) == 0;
  }
  if (!has_tokenizer) {
    throw Error(ErrorCode::kInvalidModel,
                "--tokenizer-from " + from.string() + ": no tokenizer.json (or tokenizer.model) there");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  try {
    const fs::path config_path = config_file(options);
    const nlohmann::json config = load_config(options, config_path);
    const Architecture arch = read_architecture(config, config_path);
    if (options.byte_tokenizer && arch.vocab <= modelslim::tools::kEndOfText) {
      // Checked before generating gigabytes of weights, not after.
      const std::string got = std::to_string(arch.vocab);
      throw Error(ErrorCode::kInvalidModel,
                  "--byte-tokenizer needs vocab_size >= 257 (256 bytes + <|endoftext|>), got " + got);
    }
    modelslim::tools::GeneratedDir output(
        options.output, "make_random_model",
        {{"--config", options.config}, {"--tokenizer-from", options.tokenizer_from}});
    const fs::path& staging = output.staging();

    const std::uint64_t bytes = write_weights(options, arch, staging);
    modelslim::write_json_file_atomic(staging / "config.json", config);
    write_generation_config(config, staging);
    if (!options.tokenizer_from.empty()) copy_tokenizer(options.tokenizer_from, staging);
    if (options.byte_tokenizer) modelslim::tools::write_byte_level_tokenizer(staging, arch.vocab);

    output.commit();
    std::cout << "wrote " << options.output.string() << " (" << arch.model_type << ", " << arch.layers
              << " layers, " << bytes / (1024 * 1024) << " MiB of " << options.dtype_name << " weights)\n";
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "make_random_model: " << error.what() << "\n";
    if (const auto* typed = dynamic_cast<const Error*>(&error); typed != nullptr && !typed->tip().empty()) {
      std::cerr << "TIP: " << typed->tip() << "\n";
    }
    return kExitFailure;
  }
}
