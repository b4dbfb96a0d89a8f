// `fa3_quant` (FA3): int8 quantization of the attention inputs Q, K and V, by the reference's keys.
//
//   - type: fa3_quant
//     qconfig: {dtype: int8, scope: per_head, symmetric: true, method: minmax}   # the default
//     include: ["*"]          # attention module names, e.g. "model.layers.*.self_attn"
//     exclude: []
//     details: {fa_q: <qconfig>, fa_k: <qconfig>, fa_v: <qconfig>}   # instead of qconfig; absent = float
//
// per_head (static): each calibration forward keeps, per head, the narrowest range holding the adapter's
// recall ratio of the head's values (recall_window_per_head); the ranges combine by min/max over samples;
// scale = max(|min|, |max|) / 127. per_token (dynamic): scales computed per token at run time (data-free).
// After a block's calibration its attention computes with the fake-quantized inputs (later blocks see it).
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "modelslim/attention_quant.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/name_pattern.hpp"
#include "modelslim/processor.hpp"

namespace modelslim::fa3 {

enum class Fa3Scope { kPerHead, kPerToken };

class Fa3Quant final : public Processor {
 public:
  explicit Fa3Quant(const ConfigNode& config);

  bool is_data_free() const override;
  bool support_distributed() const override { return true; }  // min/max combine exactly
  bool block_local() const override { return true; }
  void preprocess(BlockRequest& request) override;
  void postprocess(BlockRequest& request) override;
  void post_run(RunContext& context) override;
  std::vector<std::string> warnings() const override;

  // The scope of each input (Q, K, V); nullopt: left in float.
  const std::array<std::optional<Fa3Scope>, kAttentionInputs>& scopes() const { return scopes_; }

 private:
  struct Range {
    at::Tensor lo, hi;  // float32 [heads]; undefined until the first forward
  };
  struct Pending {
    AttentionQuantPoint point;
    std::array<Range, kAttentionInputs> ranges;
  };
  void observe(Pending& pending);

  std::array<std::optional<Fa3Scope>, kAttentionInputs> scopes_;
  NameFilter filter_;
  std::string config_path_;
  std::vector<std::unique_ptr<Pending>> pending_;
  bool preprocessed_ = false;   // some block ran preprocess
  bool saw_attention_ = false;  // some block exposed its attention inputs  // hooks point into them
};

}  // namespace modelslim::fa3
