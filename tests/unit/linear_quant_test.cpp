// linear_quant: config validation (every error path names the field) and calibration/fake-quant math
// against float64 recomputation.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <set>

#include "linear_quant_processor.hpp"
#include "modelslim/error.hpp"
#include "modelslim/fused_module_source.hpp"
#include "modelslim/quant_math.hpp"
#include "support/saver_rules_support.hpp"
#include "support/test_support.hpp"
#include "support/toy_block.hpp"

using namespace modelslim;
using linear_quant::LinearQuantProcessor;
using linear_quant::Scheme;

namespace {
ConfigNode entry(const std::string& yaml) {
  return parse_yaml_string(yaml, "practice.yaml")["process"].at(0);
}

std::string config_error(const std::string& yaml) {
  try {
    LinearQuantProcessor processor(entry(yaml));
  } catch (const Error& error) {
    return error.what();
  }
  FAIL("expected a config error for: " << yaml);
  return {};
}

const char* kW8A8 = R"(process:
  - type: linear_quant
    qconfig:
      act: {scope: per_tensor, dtype: int8, symmetric: false, method: minmax}
      weight: {scope: per_channel, dtype: int8, symmetric: true, method: minmax}
)";

using modelslim::test::contains;
}  // namespace

TEST_CASE("schemes and data-freeness follow the (act, weight) pair") {
  CHECK_FALSE(LinearQuantProcessor(entry(kW8A8)).is_data_free());
  const LinearQuantProcessor dynamic(entry(R"(process:
  - type: linear_quant
    qconfig:
      act: {scope: per_token, dtype: int8, symmetric: true}
      weight: {scope: per_channel, dtype: int8, symmetric: true})"));
  CHECK(dynamic.is_data_free());
  CHECK(dynamic.config().scheme == Scheme::kW8A8Dynamic);
  const LinearQuantProcessor w8a16(entry(R"(process:
  - type: linear_quant
    qconfig:
      weight: {scope: per_group, dtype: int8, symmetric: false, ext: {group_size: 64}})"));
  CHECK(w8a16.is_data_free());
  CHECK(w8a16.config().scheme == Scheme::kW8A16);
  CHECK(w8a16.config().weight.group_size == 64);
}

TEST_CASE("config errors name the field path and location") {
  std::string message = config_error(R"(process:
  - type: linear_quant
    qconfig:
      act: {scope: per_tensr, dtype: int8}
      weight: {scope: per_channel})");
  CHECK(contains(message, "practice.yaml:4:"));
  CHECK(contains(message, "process.0.qconfig.act.scope"));
  CHECK(contains(message, "per_tensr"));

  message = config_error(
      "process:\n  - {type: linear_quant, qconfig: {weight: {scope: per_channel}}, inclde: ['*']}\n");
  CHECK(contains(message, "unknown key 'inclde'"));

  message = config_error(R"(process:
  - type: linear_quant
    qconfig:
      weight: {scope: per_channel, symmetric: maybe})");
  CHECK(contains(message, "process.0.qconfig.weight.symmetric"));
  CHECK(contains(message, "expected true or false"));

  message = config_error("process:\n  - {type: linear_quant}\n");
  CHECK(contains(message, "qconfig"));

  message = config_error(
      "process:\n  - {type: linear_quant, qconfig: {weight: {scope: per_channel}}, include: 3}\n");
  CHECK(contains(message, "process.0.include"));
}

TEST_CASE("unsupported (act, weight) pairs are rejected at config time") {
  CHECK(contains(config_error(R"(process:
  - type: linear_quant
    qconfig:
      act: {scope: per_token, dtype: int8, symmetric: false}
      weight: {scope: per_channel, dtype: int8})"),
                 "symmetric"));
  CHECK(contains(config_error(R"(process:
  - type: linear_quant
    qconfig:
      act: {scope: per_tensor, dtype: int8}
      weight: {scope: per_group, dtype: int8})"),
                 "per_channel symmetric"));
  CHECK(contains(config_error(R"(process:
  - type: linear_quant
    qconfig:
      weight: {scope: per_channel, dtype: int8, method: gptq})"),
                 "weight method 'gptq'"));
  CHECK(contains(config_error(R"(process:
  - type: linear_quant
    qconfig:
      act: {scope: per_tensor, dtype: fp8_e4m3}
      weight: {scope: per_channel, dtype: int8})"),
                 "activation dtype 'fp8_e4m3'"));
  CHECK(contains(config_error(R"(process:
  - type: linear_quant
    qconfig:
      weight: {scope: per_group, dtype: int8, ext: {group_size: 0}})"),
                 "positive"));
}

TEST_CASE("every linear_quant validation path names its field") {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"{weight: {scope: per_channel, dtype: int2}}", {"process.0.qconfig.weight.dtype", "int2"}},
      {"{weight: {scope: per_channel, dtype: fp8_e4m3}}",
       {"process.0.qconfig.weight.dtype", "not supported"}},
      {"{weight: {scope: per_block}}", {"process.0.qconfig.weight.scope", "per_block"}},
      {"{weight: {dtype: int8}}", {"process.0.qconfig.weight", "scope"}},
      {"{weight: {scope: per_group, method: ssz}}", {"process.0.qconfig.weight.method", "per_channel only"}},
      {"{weight: {scope: per_channel, method: ssz, ext: {step: 0}}}", {"process.0.qconfig.weight.ext.step"}},
      {"{weight: {scope: per_channel, ext: {groupsize: 8}}}", {"unknown key 'groupsize'"}},
      {"{act: {scope: per_token, dtype: int8, method: histogram}, weight: {scope: per_channel}}",
       {"process.0.qconfig.act.method", "per_tensor"}},
      {"{act: {scope: per_tensor, dtype: int8, method: kl}, weight: {scope: per_channel}}",
       {"process.0.qconfig.act.method", "'kl'"}},
      {"{act: {scope: per_tensor, dtype: int8}, weight: {scope: per_channel, dtype: int4}}",
       {"process.0.qconfig.weight.dtype", "W4A8_DYNAMIC"}},
      {"{act: {scope: per_channel, dtype: int8}, weight: {scope: per_channel}}",
       {"process.0.qconfig.act.scope", "per_channel"}},
      {"{act: {scope: per_tensor, dtype: int8, ext: {aggregation_type: median}}, weight: {scope: "
       "per_channel}}",
       {"process.0.qconfig.act.ext.aggregation_type", "median"}},
      {"{act: {scope: per_tensor}, weight: {scope: per_channel, symmetric: false}}",
       {"process.0.qconfig.weight", "asymmetric"}},
      {"{weight: {scope: per_channel}, extra: 1}", {"unknown key 'extra'"}},
      {"[1, 2]", {"process.0.qconfig"}}};
  for (const auto& [qconfig, needles] : cases) {
    CAPTURE(qconfig);
    const std::string message =
        config_error("process:\n  - {type: linear_quant, qconfig: " + qconfig + "}\n");
    for (const std::string& needle : needles) CHECK_MESSAGE(contains(message, needle), message);
  }
}

TEST_CASE("histogram, ssz and int4 weight-only configs are accepted") {
  const auto parse = [](const std::string& qconfig) {
    return LinearQuantProcessor(
        parse_yaml_string("process:\n  - {type: linear_quant, qconfig: " + qconfig + "}\n",
                          "p.yaml")["process"]
            .at(0));
  };
  CHECK(parse("{act: {scope: per_tensor, dtype: int8, method: histogram, symmetric: false}, "
              "weight: {scope: per_channel, method: ssz}}")
            .config()
            .scheme == Scheme::kW8A8Static);
  CHECK(parse("{act: {scope: per_token, dtype: int8}, weight: {scope: per_channel, dtype: int4}}")
            .config()
            .scheme == Scheme::kW4A8Dynamic);
  CHECK(parse("{weight: {scope: per_group, dtype: int4, symmetric: false}}").config().scheme ==
        Scheme::kW4A16);
  CHECK(parse("{weight: {scope: per_channel, dtype: int4, method: ssz, ext: {step: 5}}}")
            .config()
            .weight.ssz_steps == 5);
}

TEST_CASE("static W8A8 calibrates the activation range over all samples and fake-quantizes as deployed") {
  test::ToyBlock block("model.layers.0", 32, 64, 11);
  const auto context = std::make_shared<test::ToyContext>();
  at::manual_seed(3);
  std::vector<BlockInput> inputs = {{at::randn({1, 5, 32}), context}, {at::randn({1, 7, 32}) * 3.0, context}};
  const at::Tensor float_up_weight = block.up().weight().clone();

  LinearQuantProcessor processor(entry(std::string(kW8A8) + "    exclude: ['*down_proj']\n"));
  BlockRequest request{block.name(), block, inputs, {}, 0};
  processor.preprocess(request);
  processor.process(request);
  processor.postprocess(request);
  CHECK(request.forward_count == 2);
  CHECK(block.down().quantized() == nullptr);
  REQUIRE(block.up().quantized() != nullptr);
  const QuantizedLinear& q = *block.up().quantized();

  // Independent float64: the global range of both samples (the up_proj input is the block input).
  const double mn =
      std::min(0.0, std::min(inputs[0].hidden.min().item<double>(), inputs[1].hidden.min().item<double>()));
  const double mx =
      std::max(0.0, std::max(inputs[0].hidden.max().item<double>(), inputs[1].hidden.max().item<double>()));
  const double scale = (mx - mn) / 255.0;
  const double offset = std::nearbyint(-mn / scale) - 128.0;
  CHECK(q.input_scale.item<float>() == doctest::Approx(scale).epsilon(1e-6));
  CHECK(q.input_offset.item<float>() == doctest::Approx(offset));

  // The fake-quant forward equals a float64 simulation of int8 activations × int8 weights.
  const at::Tensor x = at::randn({1, 4, 32}, at::kDouble);
  const at::Tensor xq = at::clamp(at::round(x / scale + offset), -128, 127);
  const at::Tensor w64 = float_up_weight.to(at::kDouble);
  const at::Tensor wscale = std::get<0>(w64.abs().max(1, true)) / 127.0;
  const at::Tensor wq = at::clamp(at::round(w64 / wscale), -127, 127);
  const at::Tensor expected =
      at::matmul((xq - offset) * scale, (wq * wscale).t()) + block.up().bias()->to(at::kDouble);
  const at::Tensor actual = block.up().forward(x.to(at::kFloat)).to(at::kDouble);
  CHECK((actual - expected).abs().max().item<double>() < 1e-4);
  CHECK(processor.warnings().size() == 0);
}

TEST_CASE("patterns that matched nothing are reported") {
  test::ToyBlock block("model.layers.0", 8, 16, 1);
  LinearQuantProcessor processor(entry(R"(process:
  - type: linear_quant
    qconfig: {weight: {scope: per_channel}}
    include: ["*up_proj", "*.o_proj"]
    exclude: ["lm_head"])"));
  std::vector<BlockInput> none;
  BlockRequest request{block.name(), block, none, {}, 0};
  processor.preprocess(request);
  processor.process(request);
  processor.postprocess(request);
  CHECK(request.forward_count == 0);  // W8A16 is data-free
  CHECK(block.up().quantized() != nullptr);
  const auto warnings = processor.warnings();
  REQUIRE(warnings.size() == 2);
  CHECK(contains(warnings[0] + warnings[1], "*.o_proj"));
  CHECK(contains(warnings[0] + warnings[1], "lm_head"));
}

TEST_CASE("a static linear that saw no calibration data is a clear error") {
  test::ToyBlock block("model.layers.0", 8, 16, 1);
  LinearQuantProcessor processor(entry(kW8A8));
  std::vector<BlockInput> none;
  BlockRequest request{block.name(), block, none, {}, 0};
  processor.preprocess(request);
  processor.process(request);
  CHECK_THROWS_WITH_AS(processor.postprocess(request), doctest::Contains("no calibration data reached"),
                       Error);
}

TEST_CASE("a group_size that does not divide in_features fails at process time naming the module") {
  test::ToyBlock block("model.layers.4", 24, 16, 2);  // up_proj in 24, down_proj in 16
  LinearQuantProcessor processor(entry(R"(process:
  - type: linear_quant
    qconfig:
      weight: {scope: per_group, dtype: int4, ext: {group_size: 16}}
)"));
  std::vector<BlockInput> none;
  BlockRequest request{block.name(), block, none, {}, 0};
  processor.preprocess(request);
  processor.process(request);
  try {
    processor.postprocess(request);
    FAIL("expected a group_size error");
  } catch (const Error& error) {
    const std::string message = error.what();
    CHECK(contains(message, "process.0.qconfig.weight"));
    CHECK(contains(message, "model.layers.4.mlp.up_proj"));
    CHECK(contains(message, "in_features 24"));
    CHECK(contains(message, "group_size 16"));
  }
}

TEST_CASE(
    "more validation paths: group_size, act dtype/symmetric, int4 pairs, missing or malformed sections") {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"{weight: {scope: per_group, ext: {group_size: -8}}}",
       {"process.0.qconfig.weight.ext.group_size", "positive"}},
      {"{weight: {scope: per_group, ext: {group_size: abc}}}", {"process.0.qconfig.weight.ext.group_size"}},
      {"{weight: {scope: per_channel, method: ssz, ext: {step: 20000}}}",
       {"process.0.qconfig.weight.ext.step", "1..10000"}},
      {"{weight: {scope: per_channel, method: histogram}}",
       {"process.0.qconfig.weight.method", "'histogram'"}},
      {"{weight: {scope: per_token}}", {"process.0.qconfig.weight.scope", "per_token"}},
      {"{act: {scope: per_tensor, dtype: int4}, weight: {scope: per_channel}}",
       {"process.0.qconfig.act.dtype", "'int4'"}},
      {"{act: {scope: per_token, dtype: int8, symmetric: false}, weight: {scope: per_channel}}",
       {"process.0.qconfig.act.symmetric", "W8A8_DYNAMIC"}},
      {"{act: {scope: per_token, dtype: int8, symmetric: yes please}, weight: {scope: per_channel}}",
       {"process.0.qconfig.act.symmetric", "expected true or false"}},
      {"{act: {scope: per_token, dtype: int8}, weight: {scope: per_group, dtype: int4}}",
       {"process.0.qconfig.weight", "per_group"}},
      {"{act: {scope: per_token, dtype: int8}, weight: {scope: per_channel, dtype: int4, symmetric: false}}",
       {"process.0.qconfig.weight", "asymmetric"}},
      {"{act: {scope: per_token, dtype: int8}, weight: {scope: per_channel, dtype: int4, method: gptq}}",
       {"process.0.qconfig.weight.method", "'gptq'"}},
      {"{act: {dtype: int8}, weight: {scope: per_channel}}", {"process.0.qconfig.act", "scope"}},
      {"{act: {scope: per_tensor, dtype: int8, mode: x}, weight: {scope: per_channel}}",
       {"unknown key 'mode'"}},
      {"{act: 3, weight: {scope: per_channel}}", {"process.0.qconfig.act"}},
      {"{act: {scope: per_tensor, dtype: int8}}", {"process.0.qconfig", "weight"}},
      {"{weight: [per_channel]}", {"process.0.qconfig.weight"}}};
  for (const auto& [qconfig, needles] : cases) {
    CAPTURE(qconfig);
    const std::string message =
        config_error("process:\n  - {type: linear_quant, qconfig: " + qconfig + "}\n");
    for (const std::string& needle : needles) CHECK_MESSAGE(contains(message, needle), message);
  }
}

namespace {

// Two linears whose names follow no engine's naming, fused by the block's own description: only the
// optional FusedModuleSource interface can say they belong together.
class DescribedBlock final : public Block, public FusedModuleSource {
 public:
  DescribedBlock() : first_("blk.first", at::randn({8, 8}) * 0.1), second_("blk.second", at::randn({8, 8})) {}
  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override { return {&first_, &second_}; }
  std::vector<NamedTensor> other_parameters() const override { return {}; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext&) override { return hidden; }
  std::vector<FusedModule> fused_modules() const override {
    return {{"blk.both", {"blk.first", "blk.second"}}};
  }

 private:
  std::string name_ = "blk";
  Linear first_;
  Linear second_;
};

void run_data_free(LinearQuantProcessor& processor, Block& block) {
  std::vector<BlockInput> none;
  BlockRequest request{block.name(), block, none, {}, 0};
  processor.preprocess(request);
  processor.process(request);
  processor.postprocess(request);
}

std::string w8a16(const std::string& extra) {
  return "process:\n  - type: linear_quant\n    qconfig: {weight: {scope: per_channel}}\n" + extra;
}

}  // namespace

TEST_CASE("excluding one part of a fused module keeps its siblings in float (names of q/k/v, gate/up)") {
  test::LlamaNamedBlock block("model.layers.2");
  LinearQuantProcessor processor(entry(w8a16("    exclude: ['*layers.2.self_attn.k_proj', '*gate_proj']\n")));
  run_data_free(processor, block);
  for (const char* leaf :
       {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj"}) {
    CHECK_MESSAGE(block.linear(leaf).quantized() == nullptr, leaf);
  }
  for (const char* leaf : {"self_attn.o_proj", "mlp.down_proj"})
    CHECK_MESSAGE(block.linear(leaf).quantized() != nullptr, leaf);
  CHECK(processor.warnings().empty());  // both patterns matched a linear
}

TEST_CASE("without an exclusion in the module, a fused module is quantized whole; o_proj alone stays alone") {
  test::LlamaNamedBlock block("model.layers.0");
  LinearQuantProcessor processor(entry(w8a16("    exclude: ['*o_proj']\n")));
  run_data_free(processor, block);
  CHECK(block.linear("self_attn.o_proj").quantized() == nullptr);
  for (const char* leaf : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj",
                           "mlp.up_proj", "mlp.down_proj"}) {
    CHECK_MESSAGE(block.linear(leaf).quantized() != nullptr, leaf);
  }
}

TEST_CASE("a block's own fused-module description decides, not the names") {
  DescribedBlock described;
  LinearQuantProcessor processor(entry(w8a16("    exclude: ['blk.first']\n")));
  run_data_free(processor, described);
  CHECK(described.find_linear("blk.first")->quantized() == nullptr);
  CHECK(described.find_linear("blk.second")->quantized() == nullptr);
}

TEST_CASE("fused_fallbacks: what an exclusion splits, and the note naming the siblings") {
  const std::vector<FusedModule> modules = {{"l.qkv_proj", {"l.q_proj", "l.k_proj", "l.v_proj"}},
                                            {"l.gate_up_proj", {"l.gate_proj", "l.up_proj"}}};
  const auto is = [](std::set<std::string> names) {
    return [names](const std::string& name) { return names.count(name) > 0; };
  };
  // q excluded, k/v selected: extended to k and v; gate/up untouched (none excluded).
  auto fallbacks =
      fused_fallbacks(modules, is({"l.k_proj", "l.v_proj", "l.gate_proj", "l.up_proj"}), is({"l.q_proj"}));
  REQUIRE(fallbacks.size() == 1);
  CHECK(fallbacks[0].module.name == "l.qkv_proj");
  CHECK(fallbacks[0].excluded == std::vector<std::string>{"l.q_proj"});
  CHECK(fallbacks[0].extended == std::vector<std::string>{"l.k_proj", "l.v_proj"});
  CHECK(describe_fused_fallback(fallbacks[0]) ==
        "l.q_proj is excluded, so its fused siblings k_proj, v_proj (one module l.qkv_proj in vLLM and "
        "vllm-ascend) stay in float too");
  // The whole module excluded, or nothing of it selected: nothing to extend.
  CHECK(fused_fallbacks(modules, is({}), is({"l.q_proj", "l.k_proj", "l.v_proj"})).empty());
  CHECK(fused_fallbacks(modules, is({"l.gate_proj", "l.up_proj"}), is({"l.q_proj"})).empty());
  // Two parts excluded, one selected.
  fallbacks = fused_fallbacks(modules, is({"l.v_proj"}), is({"l.q_proj", "l.k_proj"}));
  REQUIRE(fallbacks.size() == 1);
  CHECK(describe_fused_fallback(fallbacks[0]) ==
        "l.q_proj, l.k_proj are excluded, so their fused sibling v_proj (one module l.qkv_proj in vLLM and "
        "vllm-ascend) stays in float too");
}
