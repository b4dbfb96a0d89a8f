// awq on a mixture-of-experts block (random Qwen3-MoE): post_attention_layernorm feeds the router and every
// expert's gate/up, whose common ancestor "mlp" outputs the router-weighted mix of the chosen experts. The
// search must judge candidates by that mix (the reference inspects the MoE module's output); it used to take
// the last expert's down_proj output, whose token count changes when a candidate changes the routing, and
// failed with a tensor size mismatch. Checked against a float64 re-implementation: candidate scales from
// mean |y| over every token, int4 asymmetric weights Q(W·s)/s on the router and the experts' gate/up, and the
// MoE output of tests/support/reference_moe.hpp (softmax, top-k, renormalised).
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <map>

#include "awq_processor.hpp"
#include "input_recorder.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/float64_reference.hpp"
#include "support/moe_models.hpp"
#include "support/reference_moe.hpp"

using namespace modelslim;
namespace f64 = modelslim::test::f64;

namespace {

constexpr int kMoeGrid = 20;
const std::string kLayer = "model.layers.0.";

at::Tensor to_tensor(const f64::Matrix& m) {
  at::Tensor t =
      at::empty({static_cast<std::int64_t>(m.size()), static_cast<std::int64_t>(m[0].size())}, at::kDouble);
  for (std::size_t r = 0; r < m.size(); ++r)
    for (std::size_t c = 0; c < m[r].size(); ++c) t[r][c] = m[r][c];
  return t;
}

// clamp(mean^r, 1e-4) / sqrt(max · min)
std::vector<double> moe_candidate64(const std::vector<double>& act_mean, double ratio) {
  std::vector<double> s;
  for (double a : act_mean) s.push_back(std::max(std::pow(a, ratio), 1e-4));
  const double norm =
      std::sqrt(*std::max_element(s.begin(), s.end()) * *std::min_element(s.begin(), s.end()));
  for (double& v : s) v /= norm;
  return s;
}

using Weights = std::map<std::string, at::Tensor>;  // module name → float64 [out, in]

at::Tensor moe64(const nlohmann::json& config, const Weights& weights, const at::Tensor& y) {
  const test::MoeReferenceLinear linear = [&](const std::string& module, const at::Tensor& x) {
    return at::matmul(x, weights.at(module).t());
  };
  return test::moe_reference_detail::sparse_mlp(config, linear, kLayer, y);
}

// The router and every expert's gate/up with weights Q4(W·diag(s))·diag(s)⁻¹ (int4 asymmetric per row).
Weights candidate_weights(Weights weights, const std::vector<double>& s) {
  for (auto& [name, w] : weights) {
    const bool scaled = name == kLayer + "mlp.gate" || name.find("gate_proj") != std::string::npos ||
                        name.find("up_proj") != std::string::npos;
    if (scaled)
      w = to_tensor(f64::scale_columns(f64::minmax_rows(f64::scale_columns(f64::from_tensor(w), s), 4, false),
                                       s, true));
  }
  return weights;
}

struct MoeBest {
  double ratio = 0.0;
  double loss = std::numeric_limits<double>::infinity();
  double runner_up = std::numeric_limits<double>::infinity();
};

MoeBest search64(const nlohmann::json& config, const Weights& weights, const at::Tensor& y) {
  const at::Tensor golden = moe64(config, weights, y);
  const std::vector<double> act_mean = f64::column_absmean(f64::from_tensor(y));
  MoeBest best;
  for (int g = 0; g < kMoeGrid; ++g) {
    const double ratio = static_cast<double>(g) / kMoeGrid;
    const at::Tensor out = moe64(config, candidate_weights(weights, moe_candidate64(act_mean, ratio)), y);
    const double loss = (out - golden).pow(2).mean().item<double>();
    if (loss < best.loss) {
      best.runner_up = std::min(best.runner_up, best.loss);
      best = {ratio, loss, best.runner_up};
    } else {
      best.runner_up = std::min(best.runner_up, loss);
    }
  }
  return best;
}

at::Tensor block_outputs(Block& block, const std::vector<BlockInput>& inputs) {
  std::vector<at::Tensor> outs;
  for (const auto& input : inputs) outs.push_back(block.forward(input.hidden, *input.context));
  return at::cat(outs, 1);
}

}  // namespace

TEST_CASE("awq on a MoE block judges router + experts by the MoE output, as a float64 re-implementation") {
  test::TempDir dir("awq-moe");
  const auto model_dir = test::make_moe_model(dir, "qwen3_moe");  // layer 0 sparse: 4 experts, top 2
  const nlohmann::json config = nlohmann::json::parse(test::read_text(model_dir / "config.json"));
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  auto model = registry.load_model(model_dir, "");
  auto block = model->load_block(0);
  const auto inputs = embed_texts(*model, {"IN THE BEGINNING GOD CREATED", "AND THE EARTH WAS VOID"});

  // The norm's output (the router sees every token) and the float64 weights of the MoE part.
  Linear* router = block->find_linear(kLayer + "mlp.gate");
  REQUIRE(router != nullptr);
  at::Tensor y;
  {
    smoothing_search::InputRecorder recorder(*router);
    block_outputs(*block, inputs);
    y = recorder.rows().to(at::kDouble);
  }
  Weights weights;
  for (Linear* linear : block->linears()) {
    if (linear->name().rfind(kLayer + "mlp.", 0) == 0)
      weights[linear->name()] = linear->weight().to(at::kDouble);
  }
  const MoeBest expected = search64(config, weights, y);
  REQUIRE(expected.runner_up > expected.loss * (1 + 1e-3));

  const at::Tensor before = block_outputs(*block, inputs);
  auto processor = awq::make_awq(parse_yaml_string(
      "{type: awq, weight_qconfig: {scope: per_channel, dtype: int4, symmetric: false, method: minmax}, "
      "enable_subgraph_type: [norm-linear], include: ['*post_attention_layernorm']}",
      "p.yaml"));
  BlockRequest request{"model.layers.0", *block, inputs, {}, 0, nullptr};
  processor->preprocess(request);
  processor->process(request);
  processor->postprocess(request);
  const auto& decisions = dynamic_cast<awq::AwqProcessor&>(*processor).decisions();
  REQUIRE(decisions.size() == 1);
  CHECK(decisions[0].source == kLayer + "post_attention_layernorm");
  MESSAGE("ratio " << decisions[0].ratio << " (float64 " << expected.ratio << "), loss " << decisions[0].loss
                   << " (float64 " << expected.loss << ")");
  CHECK(decisions[0].ratio == doctest::Approx(expected.ratio));
  CHECK(decisions[0].loss == doctest::Approx(expected.loss).epsilon(1e-3));
  // The fused scales keep the block's float function.
  const at::Tensor after = block_outputs(*block, inputs);
  CHECK(((after - before).abs().max() / before.abs().max()).item<double>() < 1e-5);
}
