// awq: the candidate scales and the grid search against a float64 re-implementation of the reference's
// definition (best_scales_search.py) on a hand-sized gated MLP block: up-down replays down_proj's inputs, the
// norm's readers (gate, up) are judged by the output of their common ancestor "blk.mlp" (down_proj's output);
// the chosen ratios, the fused weights and the block's float function.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "awq_processor.hpp"
#include "awq_search.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/error.hpp"
#include "support/float64_reference.hpp"
#include "support/mlp_block.hpp"

using namespace modelslim;
namespace f64 = modelslim::test::f64;

namespace {

constexpr int kGrid = 20;

// clamp(mean^r, 1e-4) / sqrt(max · min)
std::vector<double> candidate64(const std::vector<double>& act_mean, double ratio) {
  std::vector<double> s;
  for (double a : act_mean) s.push_back(std::max(std::pow(a, ratio), 1e-4));
  const double norm =
      std::sqrt(*std::max_element(s.begin(), s.end()) * *std::min_element(s.begin(), s.end()));
  for (double& v : s) v /= norm;
  return s;
}

// Q(W·diag(s))·diag(s)⁻¹ with int4 asymmetric per-row min/max.
f64::Matrix awq_weight(const f64::Matrix& w, const std::vector<double>& s) {
  return f64::scale_columns(f64::minmax_rows(f64::scale_columns(w, s), 4, false), s, true);
}

struct Best {
  double ratio = 0.0;
  std::vector<double> scales;
  double loss = std::numeric_limits<double>::infinity();
  double runner_up = std::numeric_limits<double>::infinity();
};

template <typename LossOf>
Best awq_search64(const std::vector<double>& act_mean, LossOf loss_of) {
  Best best;
  for (int g = 0; g < kGrid; ++g) {
    const double ratio = static_cast<double>(g) / kGrid;
    const auto s = candidate64(act_mean, ratio);
    const double loss = loss_of(s);
    if (loss < best.loss) {
      best.runner_up = std::min(best.runner_up, best.loss);
      best = {ratio, s, loss, best.runner_up};
    } else {
      best.runner_up = std::min(best.runner_up, loss);
    }
  }
  return best;
}

// silu(x·gateᵀ) ⊙ (x·upᵀ) · downᵀ
f64::Matrix mlp64(const f64::Matrix& x, const f64::Matrix& gate, const f64::Matrix& up,
                  const f64::Matrix& down) {
  f64::Matrix h = f64::matmul_t(x, gate);
  const f64::Matrix u = f64::matmul_t(x, up);
  for (std::size_t i = 0; i < h.size(); ++i)
    for (std::size_t j = 0; j < h[i].size(); ++j) h[i][j] = h[i][j] / (1.0 + std::exp(-h[i][j])) * u[i][j];
  return f64::matmul_t(h, down);
}

f64::Matrix scale_rows(f64::Matrix m, const std::vector<double>& s, bool divide) {
  for (std::size_t r = 0; r < m.size(); ++r)
    for (double& v : m[r]) v = divide ? v / s[r] : v * s[r];
  return m;
}

double max_relative(const at::Tensor& actual, const f64::Matrix& expected) {
  double diff = 0.0, peak = 0.0;
  const f64::Matrix a = f64::from_tensor(actual);
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < a[i].size(); ++j) {
      diff = std::max(diff, std::abs(a[i][j] - expected[i][j]));
      peak = std::max(peak, std::abs(expected[i][j]));
    }
  return diff / peak;
}

at::Tensor awq_block_outputs(test::MlpBlock& block, const std::vector<BlockInput>& inputs) {
  std::vector<at::Tensor> outs;
  for (const auto& input : inputs) outs.push_back(block.forward(input.hidden, *input.context));
  return at::cat(outs, 1);
}

std::unique_ptr<Processor> make(const std::string& yaml) {
  return awq::make_awq(parse_yaml_string(yaml, "p.yaml"));
}

const char* const kW4 = "weight_qconfig: {scope: per_channel, dtype: int4, symmetric: false, method: minmax}";

}  // namespace

TEST_CASE("awq candidate scales follow clamp(mean^r, 1e-4) / sqrt(max min)") {
  const at::Tensor mean = at::tensor({0.5, 2.0, 1e-9, 8.0}, at::kFloat);
  for (const double ratio : {0.0, 0.35, 0.95}) {
    const auto expected = candidate64({0.5, 2.0, 1e-9, 8.0}, ratio);
    const auto actual = f64::from_vector(awq::candidate_scales(mean, ratio));
    for (std::size_t c = 0; c < expected.size(); ++c)
      CHECK(actual[c] == doctest::Approx(expected[c]).epsilon(1e-6));
  }
}

TEST_CASE("awq common ancestor of module names") {
  CHECK(awq::common_ancestor({"m.layers.0.self_attn.q_proj", "m.layers.0.self_attn.k_proj"}) ==
        "m.layers.0.self_attn");
  CHECK(awq::common_ancestor({"m.layers.0.mlp.down_proj"}) == "m.layers.0.mlp.down_proj");
  CHECK(awq::common_ancestor({"a.b", "x.y"}).empty());
}

TEST_CASE(
    "awq on a gated MLP block: ratios and fused weights as a float64 re-implementation finds them, "
    "float function kept") {
  test::MlpBlock block(16, 24, 11);
  const auto inputs = test::MlpBlock::inputs(16, 24, 2, 20.0, 11);
  const at::Tensor before = awq_block_outputs(block, inputs);
  const f64::Matrix x = f64::from_tensor(at::cat({inputs[0].hidden, inputs[1].hidden}, 1));
  const auto gamma = f64::from_vector(block.gamma());
  const f64::Matrix gate = f64::from_tensor(block.gate().weight());
  f64::Matrix up = f64::from_tensor(block.up().weight());
  f64::Matrix down = f64::from_tensor(block.down().weight());
  const f64::Matrix normed = f64::scale_columns(x, gamma);

  auto processor = make(std::string("{type: awq, ") + kW4 + "}");
  BlockRequest request{"blk", block, inputs, {}, 0, nullptr};
  processor->preprocess(request);
  processor->process(request);
  processor->postprocess(request);
  const auto& decisions = dynamic_cast<awq::AwqProcessor&>(*processor).decisions();
  REQUIRE(decisions.size() == 2);

  // up-down: down_proj alone, replayed on its inputs.
  f64::Matrix down_in = f64::matmul_t(normed, gate);
  const f64::Matrix up_out = f64::matmul_t(normed, up);
  for (std::size_t i = 0; i < down_in.size(); ++i)
    for (std::size_t j = 0; j < down_in[i].size(); ++j)
      down_in[i][j] = down_in[i][j] / (1.0 + std::exp(-down_in[i][j])) * up_out[i][j];
  const f64::Matrix down_golden = f64::matmul_t(down_in, down);
  const Best ud = awq_search64(f64::column_absmean(down_in), [&](const std::vector<double>& s) {
    return f64::mean_square_diff(f64::matmul_t(down_in, awq_weight(down, s)), down_golden);
  });
  REQUIRE(ud.runner_up > ud.loss * (1 + 1e-4));
  CHECK(decisions[0].type == "up-down");
  CHECK(decisions[0].ratio == doctest::Approx(ud.ratio));
  CHECK(decisions[0].loss == doctest::Approx(ud.loss).epsilon(1e-3));
  down = f64::scale_columns(down, ud.scales);
  up = scale_rows(up, ud.scales, true);

  // norm-linear: gate and up scaled together, judged by the MLP's output (down_proj's).
  const f64::Matrix mlp_golden = mlp64(normed, gate, up, down);
  const Best nl = awq_search64(f64::column_absmean(normed), [&](const std::vector<double>& s) {
    return f64::mean_square_diff(mlp64(normed, awq_weight(gate, s), awq_weight(up, s), down), mlp_golden);
  });
  REQUIRE(nl.runner_up > nl.loss * (1 + 1e-4));
  CHECK(decisions[1].type == "norm-linear");
  CHECK(decisions[1].ratio == doctest::Approx(nl.ratio));
  CHECK(decisions[1].loss == doctest::Approx(nl.loss).epsilon(1e-3));
  MESSAGE("up-down ratio " << ud.ratio << ", norm-linear ratio " << nl.ratio);

  std::vector<double> gamma_after = gamma;
  for (std::size_t c = 0; c < gamma.size(); ++c) gamma_after[c] = gamma[c] / nl.scales[c];
  CHECK(max_relative(block.gamma().unsqueeze(0), {gamma_after}) < 1e-4);
  CHECK(max_relative(block.gate().weight(), f64::scale_columns(gate, nl.scales)) < 1e-4);
  CHECK(max_relative(block.up().weight(), f64::scale_columns(up, nl.scales)) < 1e-4);
  CHECK(max_relative(block.down().weight(), down) < 1e-4);
  const at::Tensor after = awq_block_outputs(block, inputs);
  CHECK(((after - before).abs().max() / before.abs().max()).item<double>() < 1e-5);
}

TEST_CASE("awq config errors name the field") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{type: awq}", "weight_qconfig"},
      {"{type: awq, weight_qconfig: {dtype: int4}}", "scope"},
      {"{type: awq, weight_qconfig: {scope: per_token}}", "weight_qconfig.scope"},
      {"{type: awq, weight_qconfig: {scope: per_channel, method: gptq}}", "weight_qconfig.method"},
      {"{type: awq, weight_qconfig: {scope: per_channel}, n_grid: 0}", "n_grid"},
      {"{type: awq, weight_qconfig: {scope: per_channel}, enable_subgraph_type: [qkv]}",
       "enable_subgraph_type.0"},
      {"{type: awq, weight_qconfig: {scope: per_channel}, alpha: 0.5}", "unknown key 'alpha'"},
  };
  for (const auto& [yaml, expected] : cases) {
    CAPTURE(yaml);
    CHECK_THROWS_WITH_AS(make(yaml), doctest::Contains(expected.c_str()), Error);
  }
}
