// `compressed_tensors`: the Hugging Face / vLLM quantized checkpoint layout. Weights go to
// model[-0000i-of-0000N].safetensors (+ model.safetensors.index.json when sharded) with the HF names;
// config.json gets a quantization_config (quant_method compressed-tensors) with one config group per
// distinct scheme and the float linears in `ignore`.
//
//   save:
//     - {type: compressed_tensors, part_file_size: 4}   # GiB per shard, 0 = one file; ext: {} reserved
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compressed_tensors_layout.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/expert_streaming.hpp"
#include "modelslim/practice_check.hpp"
#include "modelslim/saver.hpp"
#include "modelslim/stored_dtype_weights.hpp"
#include "modelslim/streaming_shard_writer.hpp"

namespace modelslim::compressed_tensors {

// Float weights are written in the checkpoint dtype, so weights kept in it are written unchanged. Also a
// BlockPartsSaver: a mixture-of-experts block streamed in groups arrives in parts.
class CompressedTensorsSaver final : public Saver,
                                     public PracticeCheck,
                                     public StoredDtypeWeightReader,
                                     public BlockPartsSaver {
 public:
  explicit CompressedTensorsSaver(const ConfigNode& config);
  bool reads_stored_dtype_weights() const override { return true; }
  // vLLM's rules, before any work: no asymmetric smoothing (RMSNorm has no bias), one scheme per fused
  // module, weight-only group sizes its kernels take.
  std::vector<std::string> check_practice(const PracticeView& practice) const override;
  void begin(const SaveContext& context) override;
  void save_block(Block& block) override;
  void begin_block_parts(const std::string& /*block_name*/) override { block_keys_.emplace(); }
  void end_block_parts() override { block_keys_.reset(); }
  void finish(const std::vector<NamedTensor>& non_block_parameters) override;

  // The quantization_config written into config.json (valid after finish()).
  const nlohmann::json& quantization_config() const { return quantization_config_; }

 private:
  struct Group {
    GroupScheme scheme;
    std::vector<std::string> modules;
  };
  void add_group_member(const std::string& name, GroupScheme scheme);
  nlohmann::json build_quantization_config() const;

  std::uint64_t part_bytes_ = 0;
  std::filesystem::path output_dir_;
  std::filesystem::path model_dir_;
  ModelAdapter* model_ = nullptr;
  nlohmann::json hf_config_;
  at::ScalarType float_dtype_ = at::kFloat;
  std::unique_ptr<StreamingShardWriter> writer_;
  // While a block arrives in parts: the (linear, scheme) of its parts so far, for the MoE rule.
  std::optional<std::vector<std::pair<std::string, std::string>>> block_keys_;
  std::vector<TensorSpec> tail_specs_;  // what finish() will write, guessed in begin()
  std::vector<Group> groups_;
  std::vector<std::string> ignored_;  // linears kept in float
  nlohmann::json quantization_config_;
};

}  // namespace modelslim::compressed_tensors
