// flex_smooth_quant and flex_awq_ssz: the strength searches against a float64 re-implementation of the
// reference's definition (alpha_beta_search.py), and the processor on a hand-sized gated MLP block: the
// chosen strengths, the fused weights (recomputed in float64 from the block's own inputs) and the block's
// float function.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "flex_search.hpp"
#include "flex_smooth_processor.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/error.hpp"
#include "support/float64_reference.hpp"
#include "support/mlp_block.hpp"

using namespace modelslim;
namespace f64 = modelslim::test::f64;

namespace {

struct Expected {
  double alpha = 0.0;
  double beta = 0.0;
  double error = std::numeric_limits<double>::infinity();
  double runner_up = std::numeric_limits<double>::infinity();  // best error of any other candidate
};

std::vector<double> grid() {
  std::vector<double> g;
  for (int i = 0; i <= 20; ++i) g.push_back(i / 20.0);  // np.round(np.arange(0, 1.05, 0.05), 2)
  return g;
}

// s_c = a_c^α · w_c^−β; W8A8 (per-token int8 X/s, per-row int8 W·s) RMS error relative to RMS(X·Wᵀ).
double flex_error64(const f64::Matrix& x, const f64::Matrix& w, double alpha, double beta) {
  const auto a = f64::column_absmax(x);
  const auto wmax = f64::column_absmax(w);
  std::vector<double> s(a.size());
  for (std::size_t c = 0; c < s.size(); ++c) s[c] = std::pow(a[c], alpha) * std::pow(wmax[c], -beta);
  const f64::Matrix golden = f64::matmul_t(x, w);
  const f64::Matrix out = f64::matmul_t(f64::int8_symmetric_rows(f64::scale_columns(x, s, true)),
                                        f64::int8_symmetric_rows(f64::scale_columns(w, s)));
  return std::sqrt(f64::mean_square_diff(out, golden)) / std::sqrt(f64::mean_square(golden));
}

// Ties go to the later candidate (the reference's <=); a candidate equal to the best (phase 2 meeting
// phase 1's pair again) is no runner-up.
void consider(Expected& best, double alpha, double beta, double error) {
  const bool same = alpha == best.alpha && std::abs(beta - best.beta) < 1e-9;
  if (error <= best.error) {
    if (!same) best.runner_up = std::min(best.runner_up, best.error);
    best.alpha = alpha;
    best.beta = beta;
    best.error = error;
  } else if (!same) {
    best.runner_up = std::min(best.runner_up, error);
  }
}

Expected flex_search64(const f64::Matrix& x, const f64::Matrix& w) {
  Expected best;
  for (const double alpha : grid())
    consider(best, alpha, 1.0 - alpha, flex_error64(x, w, alpha, 1.0 - alpha));
  const double alpha = best.alpha;
  for (const double beta : grid()) consider(best, alpha, beta, flex_error64(x, w, alpha, beta));
  return best;
}

// flex_awq_ssz with per-token int8 symmetric activations and per-channel int4 symmetric min/max weights.
double awq_ssz_error64(const f64::Matrix& x, const f64::Matrix& w, double alpha) {
  auto s = f64::column_absmax(x);
  for (double& v : s) v = std::pow(v, alpha);
  const f64::Matrix golden = f64::matmul_t(x, w);
  const f64::Matrix out = f64::matmul_t(f64::minmax_rows(f64::scale_columns(x, s, true), 8, true),
                                        f64::minmax_rows(f64::scale_columns(w, s), 4, true));
  return std::sqrt(f64::mean_square_diff(out, golden)) / std::sqrt(f64::mean_square(golden));
}

// Activations with two outlier channels and a weight with one large column.
std::pair<at::Tensor, at::Tensor> hand_case(std::uint64_t seed) {
  at::manual_seed(seed);
  at::Tensor x = at::randn({32, 12});
  x.select(1, 3).mul_(25.0);
  x.select(1, 7).mul_(8.0);
  at::Tensor w = at::randn({10, 12}) * 0.2;
  w.select(1, 5).mul_(6.0);
  return {x, w};
}

double flex_smooth_max_relative(const at::Tensor& actual, const at::Tensor& expected) {
  return (actual.to(at::kDouble) - expected.to(at::kDouble)).abs().max().item<double>() /
         expected.to(at::kDouble).abs().max().item<double>();
}

ConfigNode node(const std::string& yaml) {
  return parse_yaml_string(yaml, "p.yaml");
}

at::Tensor flex_smooth_block_outputs(test::MlpBlock& block, const std::vector<BlockInput>& inputs) {
  std::vector<at::Tensor> outs;
  for (const auto& input : inputs) outs.push_back(block.forward(input.hidden, *input.context));
  return at::cat(outs, 1);
}

void run_processor(Processor& processor, test::MlpBlock& block, const std::vector<BlockInput>& inputs) {
  BlockRequest request{"blk", block, inputs, {}, 0, nullptr};
  processor.preprocess(request);
  processor.process(request);
  processor.postprocess(request);
}

}  // namespace

TEST_CASE("flex_smooth_quant search: alpha, beta and error as a float64 re-implementation finds them") {
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    const auto [x, w] = hand_case(seed);
    const Expected expected = flex_search64(f64::from_tensor(x), f64::from_tensor(w));
    // The grid's optimum must be clear of float32 rounding for the comparison to mean anything.
    REQUIRE(expected.runner_up > expected.error * (1 + 1e-5));
    const flex_smooth::FlexChoice chosen = flex_smooth::search_flex_smooth(x, w);
    MESSAGE("seed " << seed << ": alpha " << chosen.alpha << " beta " << chosen.beta << " error "
                    << chosen.error << " (float64: " << expected.alpha << ", " << expected.beta << ", "
                    << expected.error << ")");
    CHECK(chosen.alpha == doctest::Approx(expected.alpha).epsilon(1e-12));
    CHECK(chosen.beta == doctest::Approx(expected.beta).epsilon(1e-9));
    CHECK(chosen.error == doctest::Approx(expected.error).epsilon(1e-4));
    // The search really searched: the chosen strength beats plain SmoothQuant α = β = 0.5.
    CHECK(chosen.error < flex_error64(f64::from_tensor(x), f64::from_tensor(w), 0.5, 0.5));
  }
}

TEST_CASE("flex_awq_ssz search: alpha and error as a float64 re-implementation finds them") {
  flex_smooth::LinearQuantSpec spec;
  spec.act = smoothing_search::QuantizerSpec{8, "per_token", true, "minmax"};
  spec.weight = smoothing_search::QuantizerSpec{4, "per_channel", true, "minmax"};
  for (const std::uint64_t seed : {4u, 5u}) {
    CAPTURE(seed);
    const auto [x, w] = hand_case(seed);
    const auto x64 = f64::from_tensor(x);
    const auto w64 = f64::from_tensor(w);
    Expected expected;
    for (const double alpha : grid()) consider(expected, alpha, 0.0, awq_ssz_error64(x64, w64, alpha));
    REQUIRE(expected.runner_up > expected.error * (1 + 1e-5));
    const flex_smooth::FlexChoice chosen = flex_smooth::search_flex_awq_ssz(x, w, spec);
    MESSAGE("seed " << seed << ": alpha " << chosen.alpha << " error " << chosen.error
                    << " (float64: " << expected.alpha << ", " << expected.error << ")");
    CHECK(chosen.alpha == doctest::Approx(expected.alpha).epsilon(1e-12));
    CHECK(chosen.beta == 0.0);
    CHECK(chosen.error == doctest::Approx(expected.error).epsilon(1e-4));
  }
}

TEST_CASE(
    "flex_smooth_quant on a gated MLP block: per-subgraph strengths and fused weights as float64 "
    "recomputes them, float function kept") {
  test::MlpBlock block(12, 16, 7);
  const auto inputs = test::MlpBlock::inputs(12, 20, 2, 30.0, 7);
  const at::Tensor before = flex_smooth_block_outputs(block, inputs);
  // float64 copies of everything before the processor runs.
  at::Tensor x = at::cat({inputs[0].hidden, inputs[1].hidden}, 1).squeeze(0).to(at::kDouble);
  const at::Tensor gamma = block.gamma().to(at::kDouble);
  const at::Tensor gate = block.gate().weight().to(at::kDouble);
  at::Tensor up = block.up().weight().to(at::kDouble);
  at::Tensor down = block.down().weight().to(at::kDouble);
  const at::Tensor normed = x * gamma;
  const at::Tensor down_in = at::silu(at::matmul(normed, gate.t())) * at::matmul(normed, up.t());

  auto processor = flex_smooth::make_flex_smooth_quant(node("{type: flex_smooth_quant}"));
  run_processor(*processor, block, inputs);
  const auto& decisions = dynamic_cast<flex_smooth::FlexSmoothProcessor&>(*processor).decisions();
  REQUIRE(decisions.size() == 2);

  // up-down first (the reference's order), on down_proj's input.
  const Expected ud = flex_search64(f64::from_tensor(down_in), f64::from_tensor(down));
  CHECK(decisions[0].type == "up-down");
  CHECK(decisions[0].choice.alpha == doctest::Approx(ud.alpha));
  CHECK(decisions[0].choice.beta == doctest::Approx(ud.beta));
  const at::Tensor s1 =
      (at::pow(down_in.abs().amax(0), ud.alpha) / at::pow(down.abs().amax(0).clamp_min(1e-5), ud.beta))
          .clamp_min(1e-5);
  down = down * s1;
  up = up / s1.unsqueeze(1);
  // Then norm-linear on the norm output, with gate and the already-scaled up.
  const at::Tensor readers = at::cat({gate, up}, 0);
  const Expected nl = flex_search64(f64::from_tensor(normed), f64::from_tensor(readers));
  CHECK(decisions[1].type == "norm-linear");
  CHECK(decisions[1].choice.alpha == doctest::Approx(nl.alpha));
  CHECK(decisions[1].choice.beta == doctest::Approx(nl.beta));
  const at::Tensor s2 =
      (at::pow(normed.abs().amax(0), nl.alpha) / at::pow(readers.abs().amax(0).clamp_min(1e-5), nl.beta))
          .clamp_min(1e-5);
  CHECK(flex_smooth_max_relative(block.gamma(), gamma / s2) < 1e-4);
  CHECK(flex_smooth_max_relative(block.gate().weight(), gate * s2) < 1e-4);
  CHECK(flex_smooth_max_relative(block.up().weight(), up * s2) < 1e-4);
  CHECK(flex_smooth_max_relative(block.down().weight(), down) < 1e-4);
  CHECK(flex_smooth_max_relative(flex_smooth_block_outputs(block, inputs), before) < 1e-5);
}

TEST_CASE("flex_smooth_quant with alpha and beta given applies them without searching") {
  test::MlpBlock block(12, 16, 8);
  const auto inputs = test::MlpBlock::inputs(12, 20, 1, 30.0, 8);
  const at::Tensor normed = (inputs[0].hidden.squeeze(0) * block.gamma()).to(at::kDouble);
  const at::Tensor gamma = block.gamma().to(at::kDouble);
  const at::Tensor readers = at::cat({block.gate().weight(), block.up().weight()}, 0).to(at::kDouble);
  auto processor = flex_smooth::make_flex_smooth_quant(
      node("{type: flex_smooth_quant, alpha: 0.3, beta: 0.6, enable_subgraph_type: [norm-linear]}"));
  run_processor(*processor, block, inputs);
  const at::Tensor s = at::pow(normed.abs().amax(0), 0.3) / at::pow(readers.abs().amax(0), 0.6);
  CHECK(flex_smooth_max_relative(block.gamma(), gamma / s) < 1e-5);
}

TEST_CASE(
    "flex_awq_ssz on a gated MLP block: mean-based scales with the searched alpha, float function "
    "kept") {
  test::MlpBlock block(12, 16, 9);
  const auto inputs = test::MlpBlock::inputs(12, 20, 2, 30.0, 9);
  const at::Tensor before = flex_smooth_block_outputs(block, inputs);
  const at::Tensor x = at::cat({inputs[0].hidden, inputs[1].hidden}, 1).squeeze(0).to(at::kDouble);
  const at::Tensor gamma = block.gamma().to(at::kDouble);
  const at::Tensor normed = x * gamma;
  const f64::Matrix readers = f64::from_tensor(at::cat({block.gate().weight(), block.up().weight()}, 0));
  auto processor = flex_smooth::make_flex_awq_ssz(
      node("{type: flex_awq_ssz, enable_subgraph_type: [norm-linear], qconfig: {act: {scope: per_token, "
           "dtype: int8, symmetric: true, method: minmax}, weight: {scope: per_channel, dtype: int4, "
           "symmetric: true, method: minmax}}}"));
  run_processor(*processor, block, inputs);
  Expected expected;
  for (const double alpha : grid())
    consider(expected, alpha, 0.0, awq_ssz_error64(f64::from_tensor(normed), readers, alpha));
  const auto& decisions = dynamic_cast<flex_smooth::FlexSmoothProcessor&>(*processor).decisions();
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0].choice.alpha == doctest::Approx(expected.alpha));
  // s = mean|x|^α (the reference: max decides α, the mean scales).
  const at::Tensor s = at::pow(normed.abs().mean(0), expected.alpha).clamp_min(1e-5);
  CHECK(flex_smooth_max_relative(block.gamma(), gamma / s) < 1e-4);
  CHECK(flex_smooth_max_relative(flex_smooth_block_outputs(block, inputs), before) < 1e-5);
}

TEST_CASE("flex_smooth_quant and flex_awq_ssz config errors name the field") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{type: flex_smooth_quant, alpha: 0}", "alpha"},
      {"{type: flex_smooth_quant, beta: 1.0}", "beta"},
      {"{type: flex_smooth_quant, enable_subgraph_type: [qkv]}", "enable_subgraph_type.0"},
      {"{type: flex_smooth_quant, scale_min: 0.1}", "unknown key 'scale_min'"},
      {"{type: flex_smooth_quant, qconfig: {}}", "unknown key 'qconfig'"},
      {"{type: flex_awq_ssz}", "qconfig"},
      {"{type: flex_awq_ssz, qconfig: {act: {scope: per_token}}}", "weight"},
      {"{type: flex_awq_ssz, qconfig: {weight: {scope: per_group, method: ssz}}}", "qconfig.weight.method"},
      {"{type: flex_awq_ssz, qconfig: {weight: {scope: per_channel, dtype: fp8}}}", "qconfig.weight.dtype"},
      {"{type: flex_awq_ssz, qconfig: {act: {scope: per_head}, weight: {scope: per_channel}}}",
       "qconfig.act.scope"},
  };
  for (const auto& [yaml, expected] : cases) {
    CAPTURE(yaml);
    const ConfigNode config = node(yaml);
    const bool awq = config.get_string("type", "") == "flex_awq_ssz";
    CHECK_THROWS_WITH_AS(
        awq ? flex_smooth::make_flex_awq_ssz(config) : flex_smooth::make_flex_smooth_quant(config),
        doctest::Contains(expected.c_str()), Error);
  }
}
