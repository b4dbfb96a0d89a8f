// The group container: M linear_quant children over N samples cost N block forwards (not M·N), each child
// still sees the calibration data; a child that changes the block (smoothing) is followed by a fresh forward,
// so the group saves what the same processors in sequence save; config errors name the field.
#include "support/doctest.hpp"

#include "block_fingerprint.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/error.hpp"
#include "support/test_support.hpp"
#include "support/toy_block.hpp"

#include <ATen/ATen.h>

using namespace modelslim;

namespace {

const char* kChildren = R"(
      - type: linear_quant
        qconfig:
          act: {scope: per_tensor, dtype: int8, symmetric: false}
          weight: {scope: per_channel, dtype: int8}
        include: ["*up_proj"]
      - type: linear_quant
        qconfig:
          act: {scope: per_tensor, dtype: int8, symmetric: true}
          weight: {scope: per_channel, dtype: int8}
        include: ["*down_proj"]
)";

// y = down(relu(up(x ⊙ γ))): a per-channel norm feeding up_proj, the norm-linear subgraph smoothing needs.
class NormToyBlock final : public Block {
 public:
  explicit NormToyBlock(std::int64_t width) : inner_("model.layers.0", width, 2 * width, 7) {
    at::manual_seed(11);
    gamma_ = at::rand({width}) + 0.5;
  }
  const std::string& name() const override { return inner_.name(); }
  std::vector<Linear*> linears() override { return inner_.linears(); }
  std::vector<NamedTensor> other_parameters() const override {
    return {{name() + ".post_attention_layernorm.weight", gamma_}};
  }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override {
    return inner_.forward(hidden * gamma_, context);
  }
  std::vector<NormLinearSubgraph> norm_linear_subgraphs() override {
    return {{name() + ".post_attention_layernorm.weight", gamma_, {&inner_.up()}, nullptr}};
  }
  Linear& up() { return inner_.up(); }
  Linear& down() { return inner_.down(); }
  const at::Tensor& gamma() const { return gamma_; }

 private:
  test::ToyBlock inner_;
  at::Tensor gamma_;
};

template <typename BlockType>
std::size_t forwards(core::PluginRegistry& registry, const std::string& process_yaml, BlockType& block) {
  const ConfigNode config = parse_yaml_string(process_yaml, "group.yaml");
  std::vector<std::unique_ptr<Processor>> processors;
  for (const ConfigNode& node : config["process"].items())
    processors.push_back(registry.create_processor(node));
  const auto context = std::make_shared<test::ToyContext>();
  at::manual_seed(2);
  std::vector<BlockInput> inputs;
  // Channel 3 carries an outlier (x30), so smoothing changes up_proj's input range a lot.
  at::Tensor channel_gain = at::ones({8});
  channel_gain[3] = 30.0;
  for (int i = 0; i < 5; ++i) inputs.push_back({at::randn({1, 4, 8}) * channel_gain, context});
  BlockRequest request{block.name(), block, inputs, {}, 0};
  for (auto& processor : processors) {
    processor->preprocess(request);
    processor->process(request);
    processor->postprocess(request);
  }
  return request.forward_count;
}

// Lists the children of `children` (a YAML list indented under "configs:") as top-level processors.
std::string in_sequence(std::string children) {
  for (std::size_t pos = children.find("\n      "); pos != std::string::npos;
       pos = children.find("\n      ", pos + 1)) {
    children.replace(pos, 7, "\n  ");
  }
  return "process:" + children;
}

std::string in_group(const std::string& children) {
  return "process:\n  - type: group\n    configs:" + children;
}

const char* kStaticQuant = R"(
      - type: linear_quant
        qconfig:
          act: {scope: per_tensor, dtype: int8, symmetric: false}
          weight: {scope: per_channel, dtype: int8}
)";

void check_same_quantization(const Linear& grouped, const Linear& sequential) {
  REQUIRE(grouped.quantized() != nullptr);
  REQUIRE(sequential.quantized() != nullptr);
  const QuantizedLinear& a = *grouped.quantized();
  const QuantizedLinear& b = *sequential.quantized();
  CHECK(at::equal(a.input_scale, b.input_scale));
  CHECK(at::equal(a.input_offset, b.input_offset));
  CHECK(at::equal(a.weight_scale, b.weight_scale));
  CHECK(at::equal(a.qweight, b.qweight));
}

}  // namespace

TEST_CASE("2 children over 5 samples: 5 block forwards in a group, 10 as separate processors") {
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  test::ToyBlock grouped("model.layers.0", 8, 16, 7);
  CHECK(forwards(registry, std::string("process:\n  - type: group\n    configs:") + kChildren, grouped) == 5);
  REQUIRE(grouped.up().quantized() != nullptr);
  REQUIRE(grouped.down().quantized() != nullptr);
  CHECK_FALSE(grouped.up().quantized()->act_symmetric);
  CHECK(grouped.down().quantized()->act_symmetric);

  test::ToyBlock separate("model.layers.0", 8, 16, 7);
  std::string list = kChildren;
  for (std::size_t pos = list.find("\n      "); pos != std::string::npos;
       pos = list.find("\n      ", pos + 1)) {
    list.replace(pos, 7, "\n  ");
  }
  CHECK(forwards(registry, "process:" + list, separate) == 10);
  // up_proj is calibrated on the same float inputs either way. down_proj differs by design: as separate
  // processors, the second forward already runs the fake-quantized up_proj (the reference documents the
  // same).
  CHECK(at::equal(grouped.up().quantized()->input_scale, separate.up().quantized()->input_scale));
}

TEST_CASE("smoothing then linear_quant in a group saves the same scales as the two in sequence") {
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  for (const std::string smoothing :
       {"\n      - {type: iter_smooth, alpha: 0.9}", "\n      - {type: smooth_quant, alpha: 0.5}"}) {
    CAPTURE(smoothing);
    const std::string children = smoothing + kStaticQuant;
    NormToyBlock grouped(8);
    NormToyBlock sequential(8);
    NormToyBlock unsmoothed(8);
    // Smoothing runs on the first forward; linear_quant needs a second one of the smoothed block.
    CHECK(forwards(registry, in_group(children), grouped) == 10);
    CHECK(forwards(registry, in_sequence(children), sequential) == 10);
    CHECK(forwards(registry, in_group(kStaticQuant), unsmoothed) == 5);
    // Bitwise: both runs do the same float operations in the same order on the same tensors.
    CHECK(at::equal(grouped.gamma(), sequential.gamma()));
    check_same_quantization(grouped.up(), sequential.up());
    check_same_quantization(grouped.down(), sequential.down());
    // The test can fail: up_proj's range after smoothing is far narrower than before.
    REQUIRE(unsmoothed.up().quantized() != nullptr);
    CHECK(grouped.up().quantized()->input_scale.item<float>() <
          0.5F * unsmoothed.up().quantized()->input_scale.item<float>());
  }
}

TEST_CASE("linear_quant children after a smoothing child still share one forward") {
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  NormToyBlock block(8);
  // Phases: [iter_smooth] (5 forwards), [linear_quant, linear_quant] (5 forwards).
  CHECK(forwards(registry, in_group(std::string("\n      - {type: iter_smooth}") + kChildren), block) == 10);
  CHECK(block.up().quantized() != nullptr);
  CHECK(block.down().quantized() != nullptr);
}

TEST_CASE("block fingerprint: sees in-place writes, replaced and new tensors; linear_quant writes none") {
  // Declared before the block: the block's linears keep plugin objects that must die before the plugins.
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  NormToyBlock block(8);
  const group::BlockFingerprint initial(block);
  CHECK(group::BlockFingerprint(block) == initial);
  SUBCASE("in-place write of a weight") {
    block.up().weight().mul_(2.0);
    const group::BlockFingerprint after(block);
    CHECK(after != initial);
    CHECK(initial.first_difference(after) == "model.layers.0.mlp.up_proj.weight");
  }
  SUBCASE("in-place write of a norm weight") {
    block.norm_linear_subgraphs().front().norm_weight.div_(3.0);
    CHECK(initial.first_difference(group::BlockFingerprint(block)) ==
          "model.layers.0.post_attention_layernorm.weight");
  }
  SUBCASE("a bias created where there was none") {
    block.down().bias() = at::zeros({8});
    CHECK(initial.first_difference(group::BlockFingerprint(block)) == "model.layers.0.mlp.down_proj.bias");
  }
  SUBCASE("a bias replaced twice (the first replacement freed)") {
    block.up().bias() = *block.up().bias() + 1.0;
    block.up().bias() = *block.up().bias() - 1.0;
    CHECK(group::BlockFingerprint(block) != initial);
  }
  SUBCASE("linear_quant's postprocess (the premise of a shared phase)") {
    const std::string children = std::string(kChildren) + R"(
      - type: linear_quant
        qconfig:
          act: {scope: per_token, dtype: int8, symmetric: true}
          weight: {scope: per_channel, dtype: int8}
      - type: linear_quant
        qconfig:
          weight: {scope: per_group, dtype: int4, symmetric: false, ext: {group_size: 4}}
      - type: linear_quant
        qconfig:
          weight: {scope: per_channel, dtype: int8, method: ssz}
)";
    forwards(registry, in_group(children), block);
    CHECK(block.up().quantized() != nullptr);
    CHECK(group::BlockFingerprint(block) == initial);
  }
}

TEST_CASE("group config errors name the field") {
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  const auto config = parse_yaml_string(
      "process:\n  - {type: group, configs: []}\n  - {type: group}\n  - {type: group, configs: [{type: "
      "nope}]}\n",
      "g.yaml");
  CHECK_THROWS_WITH_AS(registry.create_processor(config["process"].at(0)),
                       doctest::Contains("process.0.configs"), Error);
  CHECK_THROWS_WITH_AS(registry.create_processor(config["process"].at(1)), doctest::Contains("configs"),
                       Error);
  CHECK_THROWS_WITH_AS(registry.create_processor(config["process"].at(2)),
                       doctest::Contains("process.2.configs.0.type"), Error);
}
