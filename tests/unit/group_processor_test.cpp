// The group container: M children over N samples cost N block forwards (not M·N), each child still sees the
// calibration data, and config errors name the field.
#include "support/doctest.hpp"

#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/error.hpp"
#include "support/test_support.hpp"
#include "support/toy_block.hpp"

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

std::size_t forwards(core::PluginRegistry& registry, const std::string& process_yaml, test::ToyBlock& block) {
  const ConfigNode config = parse_yaml_string(process_yaml, "group.yaml");
  std::vector<std::unique_ptr<Processor>> processors;
  for (const ConfigNode& node : config["process"].items())
    processors.push_back(registry.create_processor(node));
  const auto context = std::make_shared<test::ToyContext>();
  at::manual_seed(2);
  std::vector<BlockInput> inputs;
  for (int i = 0; i < 5; ++i) inputs.push_back({at::randn({1, 4, 8}), context});
  BlockRequest request{block.name(), block, inputs, {}, 0};
  for (auto& processor : processors) {
    processor->preprocess(request);
    processor->process(request);
    processor->postprocess(request);
  }
  return request.forward_count;
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
