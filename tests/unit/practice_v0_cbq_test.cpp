// v0 practices with anti_method m5 (CBQ) and pdmix, written for the test after the reference's
// lab_practice files: m5 becomes the cbq processor (in the --print_v1 text too); pdmix becomes
// act.scope pd_mix, which linear_quant classifies as W8A8_MIX.
#include "support/doctest.hpp"

#include "modelslim/core/practice_config.hpp"
#include "modelslim/core/practice_v0.hpp"
#include "modelslim/error.hpp"
#include "qconfig.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
using namespace modelslim::core;

namespace {

using modelslim::test::contains;

// As the guide's m5 step on a qwen2.5 dense W8A8 practice.
const char* const kCbqW8A8 = R"(apiversion: modelslim_v0
metadata:
  config_id: qwen2.5-7b-w8a8-cbq
spec:
  anti_cfg:
    anti_method: m5
    disable_anti_names: [model.layers.0.mlp.gate_proj]
  calib_cfg:
    w_bit: 8
    a_bit: 8
    mm_tensor: False
    act_method: 1
    disable_names: ['lm_head', 'model.layers.0.mlp.down_proj']
  calib_dataset: boolq.jsonl
)";

}  // namespace

TEST_CASE("v0 anti_method m5 becomes the cbq processor before linear_quant, and --print_v1 shows it") {
  const PracticeConfig config = parse_practice_config(parse_yaml_string(kCbqW8A8, "v0.yaml"));
  REQUIRE(config.spec.process.size() == 2);
  const ConfigNode cbq = config.spec.process[0];
  CHECK(cbq["type"].as_string() == "cbq");
  CHECK_FALSE(cbq.has("alpha"));  // cbq.py's own defaults (IQR 1.5, smooth_rate 0.7), not AntiOutlierConfig's
  // The reference's m5 branch calls smooth_ln_fcs without checking disable_anti_names: the list has no
  // effect.
  CHECK_FALSE(cbq.has("exclude"));
  CHECK(config.spec.process[1]["type"].as_string() == "linear_quant");
  CHECK(config.spec.dataset == "boolq.jsonl");

  const std::string text = practice_v1_text(parse_yaml_string(kCbqW8A8, "v0.yaml"));
  CHECK(contains(text, "apiversion: modelslim_v1"));
  CHECK(contains(text, "type: cbq"));
  const PracticeConfig printed = parse_practice_config(parse_yaml_string(text, "printed.yaml"));
  CHECK(printed.spec.process[0]["type"].as_string() == "cbq");

  // With disable_level the smoothing runs in a prior stage, so the ranking sees the smoothed model.
  std::string staged = kCbqW8A8;
  staged += "  calib_params: {disable_level: L3}\n";
  const PracticeConfig prior = parse_practice_config(parse_yaml_string(staged, "v0.yaml"));
  REQUIRE(prior.spec.prior.size() == 1);
  CHECK(prior.spec.prior[0]["process"].at(0)["type"].as_string() == "cbq");
}

TEST_CASE("v0 pdmix becomes act scope pd_mix, which linear_quant classifies as W8A8_MIX") {
  const PracticeConfig config = parse_practice_config(parse_yaml_string(
      "apiversion: modelslim_v0\nspec:\n  calib_cfg: {mm_tensor: False, pdmix: True}\n", "v0.yaml"));
  const ConfigNode qconfig = config.spec.process[0]["qconfig"];
  CHECK(qconfig["act"]["scope"].as_string() == "pd_mix");
  CHECK_FALSE(qconfig["act"]["symmetric"].as_bool());
  const linear_quant::LinearQuantConfig parsed = linear_quant::parse_qconfig(qconfig);
  CHECK(std::string(linear_quant::scheme_name(parsed.scheme)) == "W8A8_MIX");
  // Calibrated like static W8A8 (its decode params), so observed.
  CHECK(parsed.act_mode() == ActivationQuantMode::kStaticPerTensor);
  // pd_mix is asymmetric only (the reference's int8_pd_mix_asym).
  const ConfigNode symmetric = parse_yaml_string(
      "{act: {scope: pd_mix, dtype: int8, symmetric: true}, weight: {scope: per_channel}}", "q.yaml");
  CHECK_THROWS_WITH_AS(linear_quant::parse_qconfig(symmetric), doctest::Contains("act.symmetric"), Error);
}
