// make_random_model: writes a Llama-family Hugging Face checkpoint (config.json, safetensors, tokenizer
// files) with random weights, one layer at a time so even 7B-shaped models need little memory.
//
//   make_random_model --config CONFIG_JSON_OR_DIR --output DIR [--seed N] [--dtype float32|float16|bfloat16]
//                     [--shard-size-mb N] [--tokenizer-from DIR] [--byte-tokenizer] [--scale 0.02]
//                     [--set key=value ...]
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "common/byte_level_tokenizer.hpp"

namespace fs = std::filesystem;
using modelslim::Error;
using modelslim::ErrorCode;

namespace {

struct Options {
  fs::path config;
  fs::path output;
  std::uint64_t seed = 0;
  at::ScalarType dtype = at::kFloat;
  std::string dtype_name = "float32";
  std::uint64_t shard_bytes = 0;
  fs::path tokenizer_from;
  bool byte_tokenizer = false;
  double scale = 0.02;
  std::vector<std::string> overrides;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr
      << "make_random_model: " << message
      << "\nusage: make_random_model --config CONFIG_JSON_OR_DIR --output DIR [--seed N] "
         "[--dtype float32|float16|bfloat16] [--shard-size-mb N] [--tokenizer-from DIR] [--byte-tokenizer] "
         "[--scale S] [--set key=value ...]\n";
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
    try {
      if (flag == "--config")
        options.config = value();
      else if (flag == "--output")
        options.output = value();
      else if (flag == "--seed")
        options.seed = std::stoull(value());
      else if (flag == "--dtype") {
        options.dtype_name = value();
        if (options.dtype_name == "float32")
          options.dtype = at::kFloat;
        else if (options.dtype_name == "float16")
          options.dtype = at::kHalf;
        else if (options.dtype_name == "bfloat16")
          options.dtype = at::kBFloat16;
        else
          usage_error("--dtype '" + options.dtype_name + "': expected float32, float16 or bfloat16");
      } else if (flag == "--shard-size-mb")
        options.shard_bytes = std::stoull(value()) * 1024 * 1024;
      else if (flag == "--tokenizer-from")
        options.tokenizer_from = value();
      else if (flag == "--byte-tokenizer")
        options.byte_tokenizer = true;
      else if (flag == "--scale")
        options.scale = std::stod(value());
      else if (flag == "--set")
        options.overrides.push_back(value());
      else
        usage_error("unknown flag '" + flag + "'");
    } catch (const std::invalid_argument&) {
      usage_error(flag + ": not a number");
    }
  }
  if (options.config.empty()) usage_error("--config is required");
  if (options.output.empty()) usage_error("--output is required");
  return options;
}

nlohmann::json load_config(const Options& options) {
  const fs::path file = fs::is_directory(options.config) ? options.config / "config.json" : options.config;
  nlohmann::json config = modelslim::read_json_file(file);
  for (const auto& override_text : options.overrides) {
    const auto eq = override_text.find('=');
    if (eq == std::string::npos) usage_error("--set '" + override_text + "': expected key=value");
    const std::string key = override_text.substr(0, eq);
    const std::string text = override_text.substr(eq + 1);
    config[key] = nlohmann::json::parse(text, nullptr, false).is_discarded() ? nlohmann::json(text)
                                                                             : nlohmann::json::parse(text);
  }
  config["torch_dtype"] = options.dtype_name;
  return config;
}

std::int64_t required_int(const nlohmann::json& config, const char* key) {
  if (!config.contains(key) || !config[key].is_number_integer()) {
    throw Error(ErrorCode::kInvalidModel, std::string("config.json: missing integer field '") + key + "'");
  }
  return config[key].get<std::int64_t>();
}

// Streams tensors into shards of at most `shard_bytes` (0: one model.safetensors) and writes the index.
class CheckpointWriter {
 public:
  CheckpointWriter(fs::path dir, std::uint64_t shard_bytes)
      : dir_(std::move(dir)), shard_bytes_(shard_bytes) {}

  void add(const std::string& name, const at::Tensor& tensor) {
    const std::uint64_t bytes = static_cast<std::uint64_t>(tensor.numel()) * tensor.element_size();
    if (!writer_ ||
        (shard_bytes_ > 0 && writer_->tensor_count() > 0 && writer_->data_bytes() + bytes > shard_bytes_)) {
      if (writer_) writer_->finish();
      writer_ = std::make_unique<modelslim::SafetensorsWriter>(
          dir_ / ("shard-" + std::to_string(shards_.size())),
          std::map<std::string, std::string>{{"format", "pt"}});
      shards_.emplace_back();
    }
    writer_->add(name, tensor);
    shards_.back().push_back(name);
    total_ += bytes;
  }

  void finish() {
    writer_->finish();
    writer_.reset();
    if (shard_bytes_ == 0) {
      fs::rename(dir_ / "shard-0", dir_ / "model.safetensors");
      return;
    }
    nlohmann::json weight_map = nlohmann::json::object();
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      char name[64];
      std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1, shards_.size());
      fs::rename(dir_ / ("shard-" + std::to_string(i)), dir_ / name);
      for (const auto& tensor : shards_[i]) weight_map[tensor] = name;
    }
    modelslim::write_json_file_atomic(dir_ / "model.safetensors.index.json",
                                      {{"metadata", {{"total_size", total_}}}, {"weight_map", weight_map}});
  }

 private:
  fs::path dir_;
  std::uint64_t shard_bytes_;
  std::unique_ptr<modelslim::SafetensorsWriter> writer_;
  std::vector<std::vector<std::string>> shards_;
  std::uint64_t total_ = 0;
};

void write_model(const Options& options, const nlohmann::json& config, const fs::path& dir) {
  const std::string model_type = config.value("model_type", "");
  if (model_type != "llama" && model_type != "mistral" && model_type != "qwen2" && model_type != "qwen3") {
    throw Error(ErrorCode::kUnsupported,
                "config.json model_type '" + model_type + "': expected llama, mistral, qwen2 or qwen3");
  }
  const std::int64_t hidden = required_int(config, "hidden_size");
  const std::int64_t intermediate = required_int(config, "intermediate_size");
  const std::int64_t layers = required_int(config, "num_hidden_layers");
  const std::int64_t heads = required_int(config, "num_attention_heads");
  const std::int64_t kv_heads = config.value("num_key_value_heads", heads);
  const std::int64_t vocab = required_int(config, "vocab_size");
  const std::int64_t head_dim = config.contains("head_dim") && config["head_dim"].is_number_integer()
                                    ? config["head_dim"].get<std::int64_t>()
                                    : hidden / heads;
  const bool qkv_bias = model_type == "qwen2" || config.value("attention_bias", false);
  const bool qk_norm = model_type == "qwen3";
  const bool tied = config.value("tie_word_embeddings", false);

  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  const auto normal = [&](std::vector<std::int64_t> shape, double std) {
    return (at::normal(0.0, std, shape, generator)).to(options.dtype);
  };
  const auto norm_weight = [&](std::int64_t size) {
    return (1.0 + at::normal(0.0, 0.1, {size}, generator)).to(options.dtype);
  };

  CheckpointWriter writer(dir, options.shard_bytes);
  writer.add("model.embed_tokens.weight", normal({vocab, hidden}, options.scale));
  for (std::int64_t layer = 0; layer < layers; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    writer.add(p + "input_layernorm.weight", norm_weight(hidden));
    writer.add(p + "self_attn.q_proj.weight", normal({heads * head_dim, hidden}, options.scale));
    writer.add(p + "self_attn.k_proj.weight", normal({kv_heads * head_dim, hidden}, options.scale));
    writer.add(p + "self_attn.v_proj.weight", normal({kv_heads * head_dim, hidden}, options.scale));
    if (qkv_bias) {
      writer.add(p + "self_attn.q_proj.bias", normal({heads * head_dim}, 0.02));
      writer.add(p + "self_attn.k_proj.bias", normal({kv_heads * head_dim}, 0.02));
      writer.add(p + "self_attn.v_proj.bias", normal({kv_heads * head_dim}, 0.02));
    }
    if (qk_norm) {
      writer.add(p + "self_attn.q_norm.weight", norm_weight(head_dim));
      writer.add(p + "self_attn.k_norm.weight", norm_weight(head_dim));
    }
    writer.add(p + "self_attn.o_proj.weight", normal({hidden, heads * head_dim}, options.scale));
    writer.add(p + "post_attention_layernorm.weight", norm_weight(hidden));
    writer.add(p + "mlp.gate_proj.weight", normal({intermediate, hidden}, options.scale));
    writer.add(p + "mlp.up_proj.weight", normal({intermediate, hidden}, options.scale));
    writer.add(p + "mlp.down_proj.weight", normal({hidden, intermediate}, options.scale));
  }
  writer.add("model.norm.weight", norm_weight(hidden));
  if (!tied) writer.add("lm_head.weight", normal({vocab, hidden}, options.scale));
  writer.finish();
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  const fs::path staging = options.output.string() + ".partial";
  try {
    const nlohmann::json config = load_config(options);
    fs::remove_all(staging);
    fs::create_directories(staging);
    write_model(options, config, staging);
    std::ofstream(staging / "config.json") << config.dump(2) << "\n";
    nlohmann::json generation = {{"_from_model_config", true}};
    for (const char* key : {"bos_token_id", "eos_token_id", "pad_token_id"}) {
      if (config.contains(key)) generation[key] = config[key];
    }
    std::ofstream(staging / "generation_config.json") << generation.dump(2) << "\n";
    if (!options.tokenizer_from.empty()) {
      for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                               "added_tokens.json", "tokenizer.model"}) {
        if (fs::exists(options.tokenizer_from / name))
          fs::copy_file(options.tokenizer_from / name, staging / name);
      }
      if (!fs::exists(staging / "tokenizer.json")) {
        throw Error(ErrorCode::kInvalidModel,
                    "--tokenizer-from " + options.tokenizer_from.string() + ": no tokenizer.json there");
      }
    }
    if (options.byte_tokenizer) modelslim::tools::write_byte_level_tokenizer(staging, config["vocab_size"].get<std::int64_t>());
    fs::remove_all(options.output);
    fs::rename(staging, options.output);
  } catch (const std::exception& error) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    std::cerr << "make_random_model: " << error.what() << "\n";
    return 1;
  }
  std::cout << "wrote " << options.output.string() << "\n";
  return 0;
}
