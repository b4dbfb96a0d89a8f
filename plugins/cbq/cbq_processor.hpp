// `cbq` (the reference's v0 anti_method m5): SmoothQuant-style migration on the norm → linears subgraphs
// whose scales come from CBQ's outlier channel detection (cbq_outlier.hpp) on the calibrated per-channel
// min/max of the norm output, instead of a^α / w^(1−α): ordinary channels keep scale 1, outlier channels
// are divided by (extreme / ordinary extreme)^smooth_rate, and the linears take the factor. As in the
// reference, subgraphs feeding MoE experts are left alone. The reference has no v1 processor for m5, so
// `cbq` is modelslim's name:
//
//   - {type: cbq, alpha: 1.5, smooth_rate: 0.7, include: ["*"], exclude: []}   # patterns match norm names
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "modelslim/config_node.hpp"
#include "modelslim/name_pattern.hpp"
#include "modelslim/processor.hpp"
#include "modelslim/smoothing.hpp"

namespace modelslim::cbq {

struct Decision {
  std::string norm;  // the norm's module name
  std::int64_t scaled_channels = 0;
  double max_scale = 1.0;
};

class CbqProcessor final : public Processor {
 public:
  explicit CbqProcessor(const ConfigNode& config);

  bool is_data_free() const override { return false; }
  // Channel ranges combine exactly across ranks (synchronize in postprocess).
  bool support_distributed() const override { return true; }
  bool block_local() const override { return true; }
  void preprocess(BlockRequest& request) override;
  void postprocess(BlockRequest& request) override;
  std::vector<std::string> warnings() const override;

  const std::vector<Decision>& decisions() const { return decisions_; }

 private:
  struct Pending {
    NormLinearSubgraph subgraph;
    std::unique_ptr<ChannelRangeObserver> observer;
  };
  NameFilter filter_;
  std::string config_path_;
  double alpha_ = 1.5;
  double smooth_rate_ = 0.7;
  std::vector<Pending> pending_;
  std::vector<Decision> decisions_;
};

}  // namespace modelslim::cbq
