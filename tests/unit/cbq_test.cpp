// cbq (the reference's anti_method m5): the outlier scales on a hand-derived case, against a float64
// re-implementation of cbq.py (at::quantile, explicit two-class splits) on random channel ranges with planted
// outliers on both sides, and the processor on a gated MLP block: fused weights as float64 recomputes them
// from the block's own inputs, float function kept.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "../../plugins/cbq/cbq_outlier.hpp"
#include "../../plugins/cbq/cbq_processor.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/error.hpp"
#include "support/mlp_block.hpp"

using namespace modelslim;

namespace {

// ---- an independent float64 reading of cbq.py (whole-tensor ops, splits enumerated explicitly) ----

double var64(const at::Tensor& t) {
  return t.numel() < 2 ? 0.0 : t.var().item<double>();  // unbiased, as torch.var
}

// otsu(data, pos): the threshold of the best split of `data` sorted descending.
double otsu64(const at::Tensor& data, bool pos) {
  const at::Tensor sorted = std::get<0>(data.sort(0, true));
  const std::int64_t n = sorted.numel();
  double metric = -1000.0;
  double threshold = NAN;
  for (std::int64_t idx = 0; idx + 1 < n; ++idx) {
    const at::Tensor up = sorted.narrow(0, 0, idx + 1);
    const at::Tensor bottom = sorted.narrow(0, idx + 1, n - idx - 1);
    const double inter = std::abs(up.min().item<double>() - bottom.max().item<double>());
    const double current = inter - (pos ? var64(bottom) : var64(up));
    if (current > metric) {
      metric = current;
      threshold = pos ? bottom[0].item<double>() : up[idx].item<double>();
    }
  }
  return threshold;
}

at::Tensor mask64(const at::Tensor& min_in, const at::Tensor& max_in, double alpha, double rate) {
  const at::Tensor mn = min_in.to(at::kDouble);
  const at::Tensor mx = max_in.to(at::kDouble);
  const double q1n = at::quantile(mn, 0.2).item<double>(), q3n = at::quantile(mn, 0.8).item<double>();
  const double q1p = at::quantile(mx, 0.2).item<double>(), q3p = at::quantile(mx, 0.8).item<double>();
  double neg = q1n - alpha * (q3n - q1n);
  double pos = q3p + alpha * (q3p - q1p);
  if (mx.gt(pos).sum().item<int64_t>() > 1) pos = otsu64(mx.masked_select(mx.gt(pos)), true);
  if (mn.lt(neg).sum().item<int64_t>() > 1) neg = otsu64(mn.masked_select(mn.lt(neg)), false);
  const at::Tensor out_pos = mx.gt(pos);
  const at::Tensor out_neg = mn.lt(neg);
  const double max_value = mx.masked_select(out_pos.logical_not()).max().item<double>();
  const double min_value = mn.masked_select(out_neg.logical_not()).min().item<double>();
  const at::Tensor mask_pos = at::where(out_pos, at::pow(mx / max_value, rate), at::ones_like(mx));
  const at::Tensor mask_neg = at::where(out_neg, at::pow(mn / min_value, rate), at::ones_like(mn));
  return min_value != 0.0 ? at::maximum(mask_pos, mask_neg) : mask_pos;
}

double cbq_max_relative(const at::Tensor& actual, const at::Tensor& expected) {
  return (actual.to(at::kDouble) - expected.to(at::kDouble)).abs().max().item<double>() /
         expected.to(at::kDouble).abs().max().item<double>();
}

at::Tensor cbq_block_outputs(test::MlpBlock& block, const std::vector<BlockInput>& inputs) {
  std::vector<at::Tensor> outs;
  for (const auto& input : inputs) outs.push_back(block.forward(input.hidden, *input.context));
  return at::cat(outs, 1);
}

// One norm feeding two "experts" (names as an MoE adapter gives them) with a planted outlier channel.
class ExpertBlock final : public Block {
 public:
  ExpertBlock()
      : gamma_(at::ones({8})),
        e0_("blk.mlp.experts.0.gate_proj", at::randn({6, 8})),
        e1_("blk.mlp.experts.1.gate_proj", at::randn({6, 8})) {}
  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override { return {&e0_, &e1_}; }
  std::vector<NamedTensor> other_parameters() const override { return {{kNorm, gamma_}}; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext&) override {
    const at::Tensor normed = hidden * gamma_;
    return e0_.forward(normed).sum(-1, true) + e1_.forward(normed).sum(-1, true) + hidden;
  }
  std::vector<NormLinearSubgraph> norm_linear_subgraphs() override {
    return {{kNorm, gamma_, {&e0_, &e1_}, nullptr}};
  }
  at::Tensor& gamma() { return gamma_; }
  static inline const std::string kNorm = "blk.post_attention_layernorm.weight";

 private:
  std::string name_ = "blk";
  at::Tensor gamma_;
  Linear e0_;
  Linear e1_;
};

}  // namespace

TEST_CASE("cbq outlier scales on a hand-derived case: the fine split keeps the milder coarse outlier") {
  // max: Q0.2 = 2.8, Q0.8 = 14.4, T+ = 14.4 + 1.5 · 11.6 = 31.8 → coarse outliers {60, 40}. The split
  // [60 | 40] scores gap 20 − var{40} = 20, so the threshold becomes 40: only 60 stays an outlier, scaled
  // (60 / 40)^0.7. min: all −1, no negative outliers.
  const at::Tensor mx = at::tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 40.0, 60.0}, at::kFloat);
  const at::Tensor mn = at::full({10}, -1.0, at::kFloat);
  CHECK(cbq::quantile({1, 2, 3, 4, 5, 6, 7, 8, 40, 60}, 0.8) == doctest::Approx(14.4));
  const auto t =
      cbq::outlier_thresholds(std::vector<double>(10, -1.0), {1, 2, 3, 4, 5, 6, 7, 8, 40, 60}, 1.5);
  CHECK(t.upper == 40.0);
  const at::Tensor s = cbq::outlier_scales(mn, mx, 1.5, 0.7);
  for (int c = 0; c < 9; ++c) CHECK(s[c].item<double>() == 1.0);
  CHECK(s[9].item<double>() == doctest::Approx(std::pow(1.5, 0.7)).epsilon(1e-6));
  CHECK(cbq::scaled_channels(s) == 1);

  // Negative side: min = −(the maxima above): Q0.2 = −14.4, Q0.8 = −2.8, T− = −14.4 − 1.5 · 11.6 = −31.8 →
  // coarse outliers {−40, −60}; the split [−40 | −60] scores 20 − var{−40} = 20 and the threshold becomes
  // −40, so only −60 is scaled, by (−60 / −40)^0.7.
  const at::Tensor neg = -mx;
  const at::Tensor s2 = cbq::outlier_scales(neg, at::full({10}, 1.0, at::kFloat), 1.5, 0.7);
  CHECK(s2[9].item<double>() == doctest::Approx(std::pow(1.5, 0.7)).epsilon(1e-6));
  CHECK(cbq::scaled_channels(s2) == 1);
}

TEST_CASE("cbq outlier scales match a float64 re-implementation of cbq.py on random channel ranges") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    CAPTURE(seed);
    at::manual_seed(seed);
    const std::int64_t channels = 48;
    at::Tensor mx = at::rand({channels}) + 0.5;
    at::Tensor mn = -(at::rand({channels}) + 0.5);
    // Several graded outliers on both sides (some share a channel).
    for (int k = 0; k < 4; ++k) mx[static_cast<std::int64_t>(seed * 7 + k * 5) % channels] = 4.0 + 9.0 * k;
    for (int k = 0; k < 3; ++k) mn[static_cast<std::int64_t>(seed * 3 + k * 11) % channels] = -3.0 - 15.0 * k;
    const at::Tensor expected = mask64(mn, mx, 1.5, 0.7);
    const at::Tensor actual = cbq::outlier_scales(mn, mx, 1.5, 0.7);
    CHECK(cbq_max_relative(actual, expected) < 1e-6);
    CHECK(cbq::scaled_channels(actual) >= 2);  // the planted outliers really are scaled
    // Other strengths.
    CHECK(cbq_max_relative(cbq::outlier_scales(mn, mx, 0.5, 1.0), mask64(mn, mx, 0.5, 1.0)) < 1e-6);
  }
}

TEST_CASE("cbq on a gated MLP block: fused weights as float64 recomputes them, float function kept") {
  test::MlpBlock block(16, 24, 5);
  auto inputs = test::MlpBlock::inputs(16, 20, 2, 30.0, 5);
  for (auto& input : inputs) input.hidden.select(2, 6).sub_(12.0);  // a negative outlier channel too
  const at::Tensor before = cbq_block_outputs(block, inputs);
  const at::Tensor x = at::cat({inputs[0].hidden, inputs[1].hidden}, 1).squeeze(0).to(at::kDouble);
  const at::Tensor gamma = block.gamma().to(at::kDouble);
  const at::Tensor gate = block.gate().weight().to(at::kDouble);
  const at::Tensor up = block.up().weight().to(at::kDouble);
  const at::Tensor down = block.down().weight().to(at::kDouble);
  const at::Tensor normed = x * gamma;

  cbq::CbqProcessor processor(parse_yaml_string("{type: cbq}", "p.yaml"));
  BlockRequest request{"blk", block, inputs, {}, 0, nullptr};
  processor.preprocess(request);
  processor.process(request);
  processor.postprocess(request);

  const at::Tensor s = mask64(std::get<0>(normed.min(0)), std::get<0>(normed.max(0)), 1.5, 0.7);
  REQUIRE(processor.decisions().size() == 1);
  CHECK(processor.decisions()[0].norm == "blk.post_attention_layernorm");
  CHECK(processor.decisions()[0].scaled_channels == s.ne(1.0).sum().item<std::int64_t>());
  CHECK(processor.decisions()[0].scaled_channels >= 1);
  CHECK(cbq_max_relative(block.gamma(), gamma / s) < 1e-5);
  CHECK(cbq_max_relative(block.gate().weight(), gate * s) < 1e-5);
  CHECK(cbq_max_relative(block.up().weight(), up * s) < 1e-5);
  CHECK(cbq_max_relative(block.down().weight(), down) == 0.0);
  CHECK(cbq_max_relative(cbq_block_outputs(block, inputs), before) < 1e-5);
}

TEST_CASE("cbq leaves norm-linear subgraphs that feed MoE experts alone, as the reference") {
  at::manual_seed(3);
  ExpertBlock block;
  at::Tensor x = at::randn({1, 16, 8});
  x.select(2, 2).mul_(40.0);
  const std::vector<BlockInput> inputs = {{x, std::make_shared<test::MlpContext>()}};
  cbq::CbqProcessor processor(parse_yaml_string("{type: cbq}", "p.yaml"));
  BlockRequest request{"blk", block, inputs, {}, 0, nullptr};
  processor.preprocess(request);
  processor.process(request);
  processor.postprocess(request);
  CHECK(processor.decisions().empty());
  CHECK(block.gamma().eq(1.0).all().item<bool>());
  // The same outlier channel is scaled when the readers are not experts (the detection itself fires).
  const at::Tensor normed = x.squeeze(0);
  CHECK(cbq::scaled_channels(
            cbq::outlier_scales(std::get<0>(normed.min(0)), std::get<0>(normed.max(0)), 1.5, 0.7)) >= 1);
}

TEST_CASE("cbq config errors name the field") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{type: cbq, alpha: -1}", "alpha"},
      {"{type: cbq, smooth_rate: 0}", "smooth_rate"},
      {"{type: cbq, smooth_rate: 1.5}", "smooth_rate"},
      {"{type: cbq, scale_min: 0.1}", "unknown key 'scale_min'"},
  };
  for (const auto& [yaml, expected] : cases) {
    CAPTURE(yaml);
    CHECK_THROWS_WITH_AS(cbq::CbqProcessor(parse_yaml_string(yaml, "p.yaml")),
                         doctest::Contains(expected.c_str()), Error);
  }
}
