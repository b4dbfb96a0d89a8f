#include "compressed_tensors_saver.hpp"

#include <cmath>

#include "modelslim/model_adapter.hpp"
#include "modelslim/model_files.hpp"
#include "modelslim/parameter_specs.hpp"
#include "saved_tail.hpp"
#include "vllm_rules.hpp"

namespace modelslim::compressed_tensors {
namespace {
// The compressed-tensors release whose schema this layout was checked against (docs/savers.md).
constexpr const char* kSchemaVersion = "0.10.2";

std::vector<TensorSpec> specs_of(const std::vector<NamedTensor>& tensors) {
  std::vector<TensorSpec> specs;
  specs.reserve(tensors.size());
  for (const NamedTensor& entry : tensors) specs.push_back(tensor_spec(entry.name, entry.tensor));
  return specs;
}
}  // namespace

CompressedTensorsSaver::CompressedTensorsSaver(const ConfigNode& config) {
  config.check_keys({"type", "part_file_size", "ext"});
  if (config.has("ext")) config["ext"].require_map();
  const double part_gib = config.get_double("part_file_size", 4.0);
  if (!(part_gib >= 0.0) || !std::isfinite(part_gib)) {
    config["part_file_size"].fail("expected a size in GiB >= 0 (0 = a single file), got " +
                                  config["part_file_size"].as_string());
  }
  part_bytes_ = static_cast<std::uint64_t>(part_gib * 1024.0 * 1024.0 * 1024.0);
}

std::vector<std::string> CompressedTensorsSaver::check_practice(const PracticeView& practice) const {
  return check_vllm_practice(practice);
}

void CompressedTensorsSaver::begin(const SaveContext& context) {
  output_dir_ = context.output_dir;
  model_dir_ = context.model_dir;
  model_ = &context.model;
  hf_config_ = context.model.hf_config();
  float_dtype_ = context.model.checkpoint_dtype();
  writer_ = std::make_unique<StreamingShardWriter>(output_dir_, "model", part_bytes_);
  // The tail as the run starts, from headers (processors may still change it; a wrong guess only costs
  // time).
  tail_specs_ = saver_rules::saved_tail_specs(non_block_parameter_specs(context.model), float_dtype_, false);
  groups_.clear();
  ignored_.clear();
}

void CompressedTensorsSaver::add_group_member(const std::string& name, GroupScheme scheme) {
  for (Group& group : groups_) {
    if (group.scheme == scheme) {
      group.modules.push_back(name);
      return;
    }
  }
  groups_.push_back({std::move(scheme), {name}});
}

void CompressedTensorsSaver::save_block(Block& block) {
  // The engine's rules and every quantized linear's layout first: nothing of a refused block is written.
  check_vllm_block(block, hf_config_, block_keys_ ? &*block_keys_ : nullptr);
  const std::vector<Linear*> linears = block.linears();
  std::vector<std::vector<std::pair<std::string, at::Tensor>>> quantized;
  for (const Linear* linear : linears) {
    if (linear->quantized())
      quantized.push_back(quantized_tensors(*linear->quantized(), linear->name(), float_dtype_));
  }
  // Quantized tensors as computed; float ones converted one at a time while writing (a fallback block is
  // never held whole in the checkpoint dtype).
  struct Output {
    std::string key;
    at::Tensor tensor;
    bool to_float;  // saved in the checkpoint dtype, converted when written
  };
  std::vector<Output> outputs;
  std::vector<TensorSpec> specs;
  const auto add_float = [&](const std::string& key, const at::Tensor& tensor) {
    outputs.push_back({key, tensor, true});
    specs.push_back({key, float_dtype_, tensor.sizes().vec()});
  };
  auto next = quantized.begin();
  for (const Linear* linear : linears) {
    if (linear->quantized()) {
      for (auto& [key, tensor] : *next++) {
        specs.push_back(tensor_spec(key, tensor));
        outputs.push_back({key, std::move(tensor), false});
      }
      add_group_member(linear->name(), scheme_of(*linear->quantized(), linear->name()));
      continue;
    }
    ignored_.push_back(linear->name());
    add_float(linear->name() + ".weight", linear->weight());
    if (linear->bias()) add_float(linear->name() + ".bias", *linear->bias());
  }
  for (const NamedTensor& parameter : block.other_parameters()) add_float(parameter.name, parameter.tensor);
  writer_->expect(guess_rest_of_model(*model_, block.name(), std::move(specs), tail_specs_));
  for (const Output& output : outputs) {
    writer_->enqueue(output.key,
                     output.to_float ? output.tensor.to(float_dtype_).contiguous() : output.tensor);
  }
}

nlohmann::json CompressedTensorsSaver::build_quantization_config() const {
  nlohmann::json config_groups = nlohmann::json::object();
  std::string format;
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    const Group& group = groups_[i];
    // One scheme: every Linear not ignored. Several: each group names its modules exactly.
    const nlohmann::json targets =
        groups_.size() == 1 ? nlohmann::json::array({"Linear"}) : nlohmann::json(group.modules);
    config_groups["group_" + std::to_string(i)] = {{"targets", targets},
                                                   {"weights", group.scheme.weights},
                                                   {"input_activations", group.scheme.activations},
                                                   {"output_activations", nullptr},
                                                   {"format", group.scheme.format}};
    format = format.empty() || format == group.scheme.format ? group.scheme.format : "mixed-precision";
  }
  // Key set of llm-compressor's writer (model_free/save_utils.py update_config); version is informational.
  return {{"quant_method", "compressed-tensors"},
          {"version", kSchemaVersion},
          {"format", format},
          {"quantization_status", "compressed"},
          {"config_groups", config_groups},
          {"ignore", ignored_},
          {"kv_cache_scheme", nullptr},
          {"global_compression_ratio", nullptr},
          {"sparsity_config", nlohmann::json::object()},
          {"transform_config", nlohmann::json::object()}};
}

void CompressedTensorsSaver::finish(const std::vector<NamedTensor>& non_block_parameters) {
  const std::vector<NamedTensor> tail = saver_rules::saved_tail(non_block_parameters, float_dtype_, false);
  writer_->expect(specs_of(tail));
  for (const NamedTensor& entry : tail) writer_->enqueue(entry.name, entry.tensor);
  // lm_head is saved in float. HF's compressed-tensors matches `Linear` targets by class, so a tied lm_head
  // (no tensor of its own) must be named in `ignore` too, or it is replaced by an empty quantized layer.
  ignored_.push_back("lm_head");
  writer_->finish();
  writer_.reset();
  quantization_config_ = build_quantization_config();
  nlohmann::json config = model_->hf_config();
  config.erase("quantization_config");
  if (!groups_.empty()) config["quantization_config"] = quantization_config_;
  copy_model_files(model_dir_, output_dir_, config);
}

}  // namespace modelslim::compressed_tensors
