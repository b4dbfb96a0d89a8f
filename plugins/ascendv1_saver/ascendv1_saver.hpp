// `ascendv1_saver`: the reference's deployable layout (quant_model_weights*.safetensors, the description
// json, copies of the checkpoint's non-weight files). Blocks are written as they finish.
//
//   save:
//     - {type: ascendv1_saver, part_file_size: 4, engine: vllm-ascend}
//
// engine: vllm-ascend (default) refuses, before any work, what vllm-ascend cannot load or computes wrongly
// (docs/savers.md); none writes the reference's layout for any form (other Ascend runtimes, evaluation).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ascend_tensors.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/expert_streaming.hpp"
#include "modelslim/practice_check.hpp"
#include "modelslim/saver.hpp"
#include "modelslim/stored_dtype_weights.hpp"
#include "modelslim/streaming_shard_writer.hpp"

namespace modelslim::ascendv1 {

// Float weights are written in the checkpoint dtype, so weights kept in it are written unchanged. Also a
// BlockPartsSaver: a mixture-of-experts block streamed in groups arrives in parts.
class AscendV1Saver final : public Saver,
                            public PracticeCheck,
                            public StoredDtypeWeightReader,
                            public BlockPartsSaver {
 public:
  explicit AscendV1Saver(const ConfigNode& config);
  bool reads_stored_dtype_weights() const override { return true; }
  std::vector<std::string> check_practice(const PracticeView& practice) const override;
  void begin(const SaveContext& context) override;
  void save_block(Block& block) override;
  void begin_block_parts(const std::string& /*block_name*/) override { block_keys_.emplace(); }
  void end_block_parts() override { block_keys_.reset(); }
  void finish(const std::vector<NamedTensor>& non_block_parameters) override;

 private:
  void add(const std::string& key, const at::Tensor& tensor, const std::string& type);
  void check_block_for_engine(Block& block) const;
  at::ScalarType stored_dtype(const std::string& parameter_name) const;
  std::vector<TypedTensor> tail_tensors(const std::vector<NamedTensor>& non_block_parameters) const;
  nlohmann::ordered_json write_optional_files() const;

  std::uint64_t part_bytes_ = 0;
  bool check_engine_ = true;  // engine: vllm-ascend
  std::filesystem::path output_dir_;
  std::filesystem::path model_dir_;
  ModelAdapter* model_ = nullptr;  // the run's adapter, valid from begin() to finish()
  nlohmann::json hf_config_;
  const RunArtifacts* artifacts_ = nullptr;  // processors' extra tensors
  at::ScalarType float_dtype_ = at::kFloat;
  std::unique_ptr<StreamingShardWriter> writer_;
  // While a block arrives in parts: the (linear, scheme) of its parts so far, for the MoE rule.
  std::optional<std::vector<std::pair<std::string, std::string>>> block_keys_;
  std::vector<TensorSpec> tail_specs_;  // what finish() will write, guessed in begin()
  nlohmann::ordered_json description_;
  std::string model_quant_type_ = "FLOAT";
  std::int64_t group_size_ = 0;
  bool kv_cache_c8_ = false;  // some block saved C8 tensors (int8 KV cache)
  bool fa_static_ = false;    // some attention input saved with static scales (FA3)
};

}  // namespace modelslim::ascendv1
