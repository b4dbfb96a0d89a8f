#include "ascendv1_saver.hpp"

#include <cmath>

#include "ascend_tensors.hpp"
#include "attention_tensors.hpp"
#include "kv_cache_tensors.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/model_files.hpp"
#include "modelslim/parameter_specs.hpp"
#include "modelslim/safetensors.hpp"
#include "saved_tail.hpp"
#include "vllm_ascend_rules.hpp"

namespace modelslim::ascendv1 {
namespace {
std::vector<TensorSpec> specs_of(const std::vector<TypedTensor>& tensors) {
  std::vector<TensorSpec> specs;
  specs.reserve(tensors.size());
  for (const TypedTensor& entry : tensors) specs.push_back(tensor_spec(entry.key, entry.tensor));
  return specs;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool tied_embeddings(const nlohmann::json& hf_config) {
  const auto found = hf_config.find("tie_word_embeddings");
  return found != hf_config.end() && found->is_boolean() && found->get<bool>();
}
}  // namespace

AscendV1Saver::AscendV1Saver(const ConfigNode& config) {
  config.check_keys({"type", "part_file_size", "ext", "engine"});
  check_engine_ = config.get_choice("engine", {"vllm-ascend", "none"}, "vllm-ascend") == "vllm-ascend";
  const double part_gib = config.get_double("part_file_size", 4.0);
  if (!(part_gib >= 0.0) || !std::isfinite(part_gib)) {
    config["part_file_size"].fail("expected a size in GiB >= 0 (0 = a single file), got " +
                                  config["part_file_size"].as_string());
  }
  part_bytes_ = static_cast<std::uint64_t>(part_gib * 1024.0 * 1024.0 * 1024.0);
  if (config.has("ext")) config["ext"].require_map();
}

std::vector<std::string> AscendV1Saver::check_practice(const PracticeView& practice) const {
  return check_engine_ ? check_vllm_ascend_practice(practice) : std::vector<std::string>{};
}

void AscendV1Saver::begin(const SaveContext& context) {
  output_dir_ = context.output_dir;
  model_dir_ = context.model_dir;
  model_ = &context.model;
  hf_config_ = context.model.hf_config();
  artifacts_ = context.artifacts;
  float_dtype_ = context.model.checkpoint_dtype();
  writer_ = std::make_unique<StreamingShardWriter>(output_dir_, "quant_model_weights", part_bytes_);
  // The tail as the run starts, from headers (processors may still change it; a wrong guess only costs
  // time). Tied embeddings: see tail_tensors.
  tail_specs_ = saver_rules::saved_tail_specs(non_block_parameter_specs(context.model), float_dtype_,
                                              tied_embeddings(hf_config_));
  description_ = nlohmann::ordered_json::object();
  model_quant_type_ = "FLOAT";
  group_size_ = 0;
  kv_cache_c8_ = false;
  fa_static_ = false;
}

// Float parameters are saved in the checkpoint dtype, except DeepSeek's e_score_correction_bias: DeepSeek
// ships it in float32 and vLLM models/deepseek_v2.py creates it float32 (routing adds it to sigmoid scores,
// where a bf16 rounding would change which experts are chosen).
at::ScalarType AscendV1Saver::stored_dtype(const std::string& name) const {
  return ends_with(name, ".e_score_correction_bias") ? at::kFloat : float_dtype_;
}

void AscendV1Saver::add(const std::string& key, const at::Tensor& tensor, const std::string& type) {
  writer_->enqueue(key, tensor);
  description_[key] = type;
  if (quant_type_rank(type) > quant_type_rank(model_quant_type_)) model_quant_type_ = type;
}

void AscendV1Saver::save_block(Block& block) {
  if (check_engine_) check_vllm_ascend_block(block, hf_config_, block_keys_ ? &*block_keys_ : nullptr);
  std::vector<TypedTensor> outputs;
  for (const Linear* linear : block.linears()) {
    if (linear->quantized() && linear->quantized()->group_size > 0)
      group_size_ = linear->quantized()->group_size;
    for (TypedTensor& entry : linear_tensors(*linear, float_dtype_)) outputs.push_back(std::move(entry));
  }
  for (const NamedTensor& parameter : block.other_parameters()) {
    outputs.push_back(
        {parameter.name, parameter.tensor.to(stored_dtype(parameter.name)).contiguous(), "FLOAT"});
  }
  for (TypedTensor& entry : kv_cache_tensors(block)) {
    kv_cache_c8_ = true;
    outputs.push_back(std::move(entry));
  }
  AttentionQuantOutput attention = attention_quant_output(block);  // FA3
  for (TypedTensor& entry : attention.tensors) outputs.push_back(std::move(entry));
  for (const auto& [key, type] : attention.entries) description_[key] = type;
  fa_static_ = fa_static_ || attention.static_inputs;
  // The shard writer's layout guess: the rest of the model saved like this block, then the tail.
  writer_->expect(guess_rest_of_model(*model_, block.name(), specs_of(outputs), tail_specs_));
  for (const TypedTensor& entry : outputs) add(entry.key, entry.tensor, entry.type);
}

// The parameters outside the blocks as saved (FLOAT in the checkpoint dtype). Tied embeddings: vllm-ascend
// still looks lm_head.weight up in the description (KeyError when absent); the reference writes the
// shared tensor under that name as FLOAT.
std::vector<TypedTensor> AscendV1Saver::tail_tensors(
    const std::vector<NamedTensor>& non_block_parameters) const {
  std::vector<TypedTensor> tail;
  for (NamedTensor& parameter :
       saver_rules::saved_tail(non_block_parameters, float_dtype_, tied_embeddings(hf_config_)))
    tail.push_back({std::move(parameter.name), std::move(parameter.tensor), "FLOAT"});
  return tail;
}

void AscendV1Saver::finish(const std::vector<NamedTensor>& non_block_parameters) {
  const std::vector<TypedTensor> tail = tail_tensors(non_block_parameters);
  writer_->expect(specs_of(tail));
  for (const TypedTensor& entry : tail) add(entry.key, entry.tensor, entry.type);
  writer_->finish();
  writer_.reset();
  nlohmann::json config = model_->hf_config();
  config.erase("quantization_config");  // a float or ascendv1 checkpoint carries none
  copy_model_files(model_dir_, output_dir_, config);
  nlohmann::ordered_json description = description_;
  description["version"] = "1.0.0";
  description["model_quant_type"] = model_quant_type_;
  description["metadata"] = nlohmann::ordered_json::object();
  description["group_size"] = group_size_;
  description["optional"] = write_optional_files();
  if (kv_cache_c8_) {  // int8 KV cache (the reference's json_append)
    description["kv_cache_type"] = "C8";
    description["kv_quant_type"] = "C8";
  }
  if (fa_static_) description["fa_quant_type"] = "FAKQuant";  // vllm-ascend's attention scheme
  // Loaders check this flag before looking for the rotation (QuaRot folded into the weights).
  if (description["optional"].contains("quarot")) description["is_rot_used"] = true;
  write_text_atomic(output_dir_ / "quant_model_description.json", description.dump(2) + "\n");
}

// optional/<name>.safetensors per artifact; the description maps each tensor key to its file.
nlohmann::ordered_json AscendV1Saver::write_optional_files() const {
  nlohmann::ordered_json optional = nlohmann::ordered_json::object();
  if (artifacts_ == nullptr || artifacts_->optional.empty()) return optional;
  std::filesystem::create_directories(output_dir_ / "optional");
  for (const OptionalTensors& artifact : artifacts_->optional) {
    const std::string relative = "optional/" + artifact.name + ".safetensors";
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    nlohmann::ordered_json map = nlohmann::ordered_json::object();
    for (const auto& [key, tensor] : artifact.tensors) {
      tensors.emplace_back(key, tensor.contiguous());
      map[key] = relative;
    }
    save_safetensors(output_dir_ / relative, tensors);
    optional[artifact.name][artifact.map_name] = map;
  }
  return optional;
}

}  // namespace modelslim::ascendv1
