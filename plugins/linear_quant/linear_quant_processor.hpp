// `linear_quant`: quantizes the selected linear layers of each block. Static activations are calibrated
// during the block's calibration forward with a per-tensor min/max observer (method minmax), a histogram
// with an L2-optimal clip search (method histogram), or per linear one of the two chosen by the reference's
// range_parm (method hybrid, v0 act_method 3: histogram when range_parm <= 50); weights use min/max.
// After a block, each quantized linear computes in fake-quant mode and carries its QuantizedLinear for
// savers.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "modelslim/calibration_prepass.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/expert_streaming.hpp"
#include "modelslim/histogram_observer.hpp"
#include "modelslim/name_pattern.hpp"
#include "modelslim/processor.hpp"
#include "modelslim/quant_math.hpp"
#include "modelslim/range_param.hpp"
#include "modelslim/stored_dtype_weights.hpp"
#include "qconfig.hpp"

namespace modelslim::linear_quant {

// `disable_level: Lx` (the reference's Calibrator option): before the blocks run, the x selected linears
// with the largest range_parm (CalibrationPrepass, over the float model) are kept in float.
// Also a StoredDtypeWeightReader: it only reads weights, and both weight quantizers give the same integers
// from bfloat16/float16 weights as from their float32 values. Works linear by linear, so the runner may hand
// it a mixture-of-experts block in parts (BlockPartsProcessor: the resident part, then one group of routed
// experts at a time).
class LinearQuantProcessor final : public Processor,
                                   public CalibrationPrepass,
                                   public StoredDtypeWeightReader,
                                   public BlockPartsProcessor {
 public:
  explicit LinearQuantProcessor(const ConfigNode& config);
  bool reads_stored_dtype_weights() const override { return true; }

  void prepass(ModelAdapter& model, const std::vector<BlockInput>& samples) override;
  void preprocess(BlockRequest& request) override;
  void postprocess(BlockRequest& request) override;
  // The disable_level ranking needs data even for weight-only schemes.
  bool is_data_free() const override { return config_.is_data_free() && disable_level_ == 0; }
  // Min/max statistics combine exactly across ranks (MIN/MAX); the mean aggregation and the histogram
  // would depend on how the samples were split, so they are refused under dp_layer_wise.
  bool support_distributed() const override;
  bool block_local() const override { return disable_level_ == 0; }
  bool processes_block_parts() const override { return true; }
  // The linears disable_level keeps in float, largest range_parm first (after prepass).
  const std::vector<std::string>& rolled_back() const { return rolled_back_; }
  std::vector<std::string> warnings() const override;

  const LinearQuantConfig& config() const { return config_; }

 private:
  struct RangeObserver {
    at::Tensor min;  // running min (or sum of per-batch mins for the mean aggregation)
    at::Tensor max;
    std::int64_t batches = 0;
    std::shared_ptr<HistogramObserver> histogram;  // act method histogram or hybrid
    RangeParamAccumulator range;                   // the reference's range_parm, first samples only
  };

  // The block's linears this config quantizes: the filter's choice, less the fused siblings of an excluded
  // part (logged).
  std::set<std::string> select(Block& block);
  // The weight part of quantize(): what dp_layer_wise splits across ranks.
  QuantizedWeight quantize_weight(const Linear& linear) const;
  // dynamic_fallback: static activations asked for, but no calibration token reached this expert linear.
  std::shared_ptr<const QuantizedLinear> quantize(const Linear& linear, const RangeObserver* observer,
                                                  QuantizedWeight weight,
                                                  bool dynamic_fallback = false) const;
  // dp_layer_wise: every rank's min, max and batch count combined, in selection order on every rank.
  void synchronize(Communicator& communicator);
  // Mixture-of-experts blocks (modelslim/expert_routing.hpp): before the calibration forward, switches
  // all_experts_calibration on and remembers the routed-token counts; after it, switches it off, logs tokens
  // per expert and returns each expert linear's expert name.
  void start_expert_calibration(Block& block);
  std::map<std::string, std::string> finish_expert_calibration(Block& block);

  LinearQuantConfig config_;
  NameFilter filter_;
  std::string config_path_;
  std::vector<Linear*> selected_;
  std::map<std::string, std::shared_ptr<RangeObserver>> observers_;
  std::map<std::string, std::size_t> observer_ids_;
  std::size_t disable_level_ = 0;
  bool ranked_ = false;
  std::vector<std::string> rolled_back_;
  // Run every calibration token through every expert (statistics only); default on for static activations.
  bool all_experts_calibration_ = true;
  std::vector<std::int64_t> routed_before_;  // routed-token counts at preprocess
  bool routing_all_experts_ = false;         // this block's forward runs every token through every expert
};

}  // namespace modelslim::linear_quant
