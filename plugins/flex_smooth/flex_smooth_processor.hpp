// `flex_smooth_quant` (the guide's m6) and `flex_awq_ssz` (its W4A8 form): per subgraph, the smoothing
// strength that minimises the quantized output error of that subgraph (flex_search.hpp), then the
// function-preserving fusion of s = a^α / w^β:
//   flex_smooth_quant: a = max |x_c|, w = max |W[:, c]| over the readers (clamped at 1e-5), both α and β
//     searched unless both are given; OV under GQA: the mean of s over the heads sharing a kv head.
//   flex_awq_ssz: a = mean |x_c|, β = 0, α searched unless given, with the `qconfig` quantizers; norm → more
//     than three readers: the first two decide α; OV under GQA: a and w reduced by max over the heads sharing
//     a kv head first.
// s is clamped at 1e-5. Fusions run in the order up-down, ov, linear-linear, norm-linear.
//
//   - {type: flex_smooth_quant, alpha: null, beta: null,
//      enable_subgraph_type: [norm-linear, linear-linear, ov, up-down], include: ["*"], exclude: []}
//   - {type: flex_awq_ssz, alpha: null, qconfig: {act: {...}, weight: {...}}, enable_subgraph_type, include,
//      exclude}
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flex_search.hpp"
#include "input_recorder.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/processor.hpp"
#include "subgraph_selection.hpp"

namespace modelslim::flex_smooth {

enum class FlexKind { kFlexSmoothQuant, kFlexAwqSsz };

class FlexSmoothProcessor final : public Processor {
 public:
  FlexSmoothProcessor(const ConfigNode& config, FlexKind kind);

  bool is_data_free() const override { return false; }
  // The search replays every calibration token, which would have to be gathered across ranks.
  bool support_distributed() const override { return false; }
  bool block_local() const override { return true; }
  void preprocess(BlockRequest& request) override;
  void postprocess(BlockRequest& request) override;
  std::vector<std::string> warnings() const override;

  // Per processed subgraph, in order (for logs and tests).
  struct Decision {
    std::string source;
    std::string type;
    FlexChoice choice;
  };
  const std::vector<Decision>& decisions() const { return decisions_; }

 private:
  struct Pending {
    smoothing_search::SmoothSubgraph subgraph;
    std::unique_ptr<smoothing_search::InputRecorder> recorder;
  };
  FlexChoice choose(const Pending& entry, const at::Tensor& act) const;
  at::Tensor scales(const Pending& entry, const FlexChoice& choice) const;

  FlexKind kind_;
  std::string config_path_;
  smoothing_search::SubgraphSelection selection_;
  std::optional<double> alpha_;
  std::optional<double> beta_;
  LinearQuantSpec qconfig_;  // flex_awq_ssz only
  std::vector<Pending> pending_;
  std::vector<Decision> decisions_;
};

std::unique_ptr<Processor> make_flex_smooth_quant(const ConfigNode& config);
std::unique_ptr<Processor> make_flex_awq_ssz(const ConfigNode& config);

}  // namespace modelslim::flex_smooth
