// apiversion modelslim_v0 practices (modelled on the reference's lab_practice files) translated into the v1
// pipeline, and the v0 keys modelslim refuses, named with their line.
#include "support/doctest.hpp"

#include "modelslim/core/practice_config.hpp"
#include "modelslim/core/practice_v0.hpp"
#include "modelslim/error.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
using namespace modelslim::core;

namespace {

PracticeConfig parse(const std::string& yaml) {
  return parse_practice_config(parse_yaml_string(yaml, "v0.yaml"));
}

Error practice_v0_error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const Error& error) {
    return error;
  }
  FAIL("expected an error for:\n" << yaml);
  return Error(ErrorCode::kUnexpected, "");
}

using modelslim::test::contains;

std::vector<std::string> strings(const ConfigNode& node) {
  return node.as_string_list();
}

// As lab_practice/qwen2/qwen2-7b-w8a8.yaml (disable_names shortened).
const char* const kQwen2W8A8 = R"(apiversion: modelslim_v0
metadata:
  config_id: qwen2-7b-w8a8
  score: 90
  verified_model_types:
    - Qwen2-7B
  label:
    w_bit: 8
    a_bit: 8
    is_sparse: False
    kv_cache: False
spec:
  calib_cfg:
    w_bit: 8
    a_bit: 8
    mm_tensor: False
    disable_names:
      - 'lm_head'
      - 'model.layers.0.mlp.down_proj'
      - 'model.layers.1.mlp.down_proj'
  calib_dataset: boolq.jsonl
  calib_save_params:
    part_file_size: 4
)";

// As lab_practice/deepseek-r1-distill/deepseek-r1-distill-qwen-7b-w8a8.yaml plus the guide's act_method 3.
const char* const kDistillW8A8 = R"(apiversion: modelslim_v0
metadata:
  config_id: deepseek-r1-distill-qwen-7b-w8a8
  score: 90
  verified_model_types: [DeepSeek-R1-Distill-Qwen-7B]
  label: {w_bit: 8, a_bit: 8, is_sparse: False, kv_cache: False}
spec:
  anti_cfg:
    anti_method: m4
  calib_cfg:
    w_bit: 8
    a_bit: 8
    mm_tensor: False
    act_method: 3
    pr: 1.0
    w_sym: True
    disable_names: ['lm_head', 'model.layers.0.mlp.down_proj']
  calib_save_params:
    part_file_size: 4
)";

// As lab_practice/qwen3_moe/qwen3-30b-a3b-w8a8.yaml (disable_names shortened).
const char* const kQwen3MoeW8A8 = R"(apiversion: modelslim_v0
metadata:
  config_id: qwen3-30b-a3b-w8a8
  score: 90
  verified_model_types: [Qwen3-30B]
  label: {w_bit: 8, a_bit: 8, is_sparse: False, kv_cache: False}
spec:
  anti_cfg:
    anti_method: m4
  calib_cfg:
    w_bit: 8
    a_bit: 8
    mm_tensor: False
    w_sym: True
    act_method: 1
    pr: 1.0
    disable_names:
      - "model.layers.0.mlp.gate"
      - "model.layers.1.mlp.gate"
  calib_params:
    disable_level: L0
    mix_cfg:
      "*.mlp.*": "w8a8_dynamic"
      "*": "w8a8"
  calib_dataset: mix_calib.jsonl
  calib_save_params:
    part_file_size: 4
)";

}  // namespace

TEST_CASE("a dense v0 W8A8 practice becomes linear_quant + ascendv1_saver") {
  const PracticeConfig config = parse(kQwen2W8A8);
  CHECK(config.metadata.config_id == "qwen2-7b-w8a8");
  CHECK(config.metadata.label.w_bit == 8);
  CHECK(config.metadata.verified_model_types == std::vector<std::string>{"Qwen2-7B"});
  CHECK(config.spec.dataset == "boolq.jsonl");
  REQUIRE(config.spec.process.size() == 1);
  const ConfigNode quant = config.spec.process[0];
  CHECK(quant["type"].as_string() == "linear_quant");
  // v0 activations are per-tensor asymmetric (QuantConfig sets a_sym False), weights per-channel symmetric.
  CHECK(quant["qconfig"]["act"]["scope"].as_string() == "per_tensor");
  CHECK_FALSE(quant["qconfig"]["act"]["symmetric"].as_bool());
  CHECK(quant["qconfig"]["act"]["method"].as_string() == "minmax");
  CHECK(quant["qconfig"]["weight"]["scope"].as_string() == "per_channel");
  CHECK(quant["qconfig"]["weight"]["symmetric"].as_bool());
  // lm_head is outside the blocks (never quantized); the rest of disable_names stay float.
  CHECK(strings(quant["exclude"]) ==
        std::vector<std::string>{"model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"});
  REQUIRE(config.spec.save.size() == 1);
  CHECK(config.spec.save[0]["type"].as_string() == "ascendv1_saver");
  CHECK(config.spec.save[0]["part_file_size"].as_int() == 4);
}

TEST_CASE("anti_method m4 becomes iter_smooth before linear_quant; act_method 3 is hybrid") {
  const PracticeConfig config = parse(kDistillW8A8);
  // No calib_dataset: the reference's v0 default.
  CHECK(config.spec.dataset == "teacher_qualification.jsonl");
  REQUIRE(config.spec.process.size() == 2);
  CHECK(config.spec.process[0]["type"].as_string() == "iter_smooth");
  CHECK(config.spec.process[0]["alpha"].as_double() == 0.5);
  // v0 m4/m6 smooth the v → o and up → down pairs too (DefaultModelAdapter's linear-linear subgraphs).
  CHECK(strings(config.spec.process[0]["enable_subgraph_type"]) ==
        std::vector<std::string>{"norm-linear", "ov", "up-down"});
  CHECK(config.spec.process[1]["qconfig"]["act"]["method"].as_string() == "hybrid");
  CHECK(config.spec.prior.empty());
}

TEST_CASE("v0 act_method 1/2/3 and W8A16 / W4A16 / dynamic schemes") {
  const auto act_method = [](int method) {
    const std::string yaml = "apiversion: modelslim_v0\nspec:\n  calib_cfg: {mm_tensor: False, act_method: " +
                             std::to_string(method) + "}\n";
    return parse(yaml).spec.process[0]["qconfig"]["act"]["method"].as_string();
  };
  CHECK(act_method(1) == "minmax");
  CHECK(act_method(2) == "histogram");
  CHECK(act_method(3) == "hybrid");
  CHECK(contains(practice_v0_error_of(
                     "apiversion: modelslim_v0\nspec:\n  calib_cfg: {mm_tensor: False, act_method: 4}\n")
                     .what(),
                 "spec.calib_cfg.act_method"));

  const PracticeConfig w8a16 =
      parse("apiversion: modelslim_v0\nspec:\n  calib_cfg: {w_bit: 8, a_bit: 16, mm_tensor: False}\n");
  CHECK_FALSE(w8a16.spec.process[0]["qconfig"]["act"].defined());
  CHECK(w8a16.spec.process[0]["qconfig"]["weight"]["dtype"].as_string() == "int8");
  const PracticeConfig w4a16 = parse(
      "apiversion: modelslim_v0\nspec:\n  calib_cfg: {w_bit: 4, a_bit: 16, mm_tensor: False, w_sym: "
      "False}\n");
  CHECK(w4a16.spec.process[0]["qconfig"]["weight"]["dtype"].as_string() == "int4");
  CHECK_FALSE(w4a16.spec.process[0]["qconfig"]["weight"]["symmetric"].as_bool());
  const PracticeConfig dynamic =
      parse("apiversion: modelslim_v0\nspec:\n  calib_cfg: {mm_tensor: False, is_dynamic: True}\n");
  CHECK(dynamic.spec.process[0]["qconfig"]["act"]["scope"].as_string() == "per_token");
  const PracticeConfig pdmix =
      parse("apiversion: modelslim_v0\nspec:\n  calib_cfg: {mm_tensor: False, pdmix: True}\n");
  CHECK(pdmix.spec.process[0]["qconfig"]["act"]["scope"].as_string() == "pd_mix");
}

TEST_CASE("mix_cfg becomes a group of linear_quant, each excluding what earlier rules took") {
  const PracticeConfig config = parse(kQwen3MoeW8A8);
  REQUIRE(config.spec.process.size() == 2);
  const ConfigNode group = config.spec.process[1];
  CHECK(group["type"].as_string() == "group");
  // "*" takes the rest, so no calib_cfg fallback is left to add.
  REQUIRE(group["configs"].size() == 2);
  const ConfigNode mlp = group["configs"].at(0);
  CHECK(strings(mlp["include"]) == std::vector<std::string>{"*.mlp.*"});
  CHECK(mlp["qconfig"]["act"]["scope"].as_string() == "per_token");
  CHECK(strings(mlp["exclude"]) ==
        std::vector<std::string>{"model.layers.0.mlp.gate", "model.layers.1.mlp.gate"});
  const ConfigNode rest = group["configs"].at(1);
  CHECK(strings(rest["include"]) == std::vector<std::string>{"*"});
  CHECK(rest["qconfig"]["act"]["scope"].as_string() == "per_tensor");
  CHECK(strings(rest["exclude"]) ==
        std::vector<std::string>{"model.layers.0.mlp.gate", "model.layers.1.mlp.gate", "*.mlp.*"});

  // An exact name wins over an earlier pattern (the reference looks names up before matching patterns).
  const PracticeConfig exact = parse(R"(apiversion: modelslim_v0
spec:
  calib_cfg: {mm_tensor: False}
  calib_params:
    mix_cfg:
      "*down_proj": float
      "model.layers.0.mlp.down_proj": w8a16
)");
  const ConfigNode children = exact.spec.process[0]["configs"];
  REQUIRE(children.size() == 2);
  CHECK(strings(children.at(0)["include"]) == std::vector<std::string>{"model.layers.0.mlp.down_proj"});
  CHECK_FALSE(children.at(0)["qconfig"]["act"].defined());
  CHECK(strings(children.at(1)["exclude"]) ==
        std::vector<std::string>{"model.layers.0.mlp.down_proj", "*down_proj"});
}

TEST_CASE("disable_level and anti_dataset put the outlier suppression in a prior stage") {
  const PracticeConfig config = parse(R"(apiversion: modelslim_v0
spec:
  anti_cfg:
    anti_method: m6
    flex_config: {alpha: 0.75, beta: 0.1}
    disable_anti_names: [model.layers.0.self_attn.o_proj]
  calib_cfg: {w_bit: 8, a_bit: 8, mm_tensor: False, act_method: 2}
  calib_params: {disable_level: L10}
  calib_dataset: calib.jsonl
  anti_dataset: anti.jsonl
)");
  REQUIRE(config.spec.prior.size() == 1);
  const ConfigNode flex = config.spec.prior[0]["process"].at(0);
  CHECK(flex["type"].as_string() == "flex_smooth_quant");
  CHECK(flex["alpha"].as_double() == 0.75);
  CHECK(flex["beta"].as_double() == 0.1);
  // o_proj is the target of the v_proj → o_proj subgraph, which v1 names by its source.
  CHECK(strings(flex["exclude"]) == std::vector<std::string>{"model.layers.0.self_attn.v_proj"});
  CHECK(config.spec.prior[0]["dataset"].as_string() == "anti.jsonl");
  REQUIRE(config.spec.process.size() == 1);
  CHECK(config.spec.process[0]["disable_level"].as_string() == "L10");
  CHECK(config.spec.dataset == "calib.jsonl");

  const PracticeConfig m3 = parse(
      "apiversion: modelslim_v0\nspec:\n  anti_cfg: {anti_method: m3, w_bit: 8, a_bit: 16, w_sym: False}\n"
      "  calib_cfg: {w_bit: 8, a_bit: 16, mm_tensor: False, w_sym: False}\n");
  CHECK(m3.spec.process[0]["type"].as_string() == "awq");
  CHECK_FALSE(m3.spec.process[0]["weight_qconfig"]["symmetric"].as_bool());
  const PracticeConfig m1 = parse(
      "apiversion: modelslim_v0\nspec:\n  anti_cfg: {anti_method: m1}\n"
      "  calib_cfg: {mm_tensor: False}\n");
  CHECK(m1.spec.process[0]["type"].as_string() == "smooth_quant");
}

TEST_CASE("disable_anti_names: each linear becomes the source of the subgraph that holds it") {
  const auto excludes = [](const std::string& method, const std::string& names) {
    const PracticeConfig config = parse(
        "apiversion: modelslim_v0\nspec:\n  anti_cfg: {anti_method: " + method + ", disable_anti_names: [" +
        names + "]}\n  calib_cfg: {mm_tensor: False, w_bit: 8, a_bit: 16}\n");
    const ConfigNode smoothing = config.spec.process[0];
    return smoothing.has("exclude") ? strings(smoothing["exclude"]) : std::vector<std::string>{};
  };
  const std::string all =
      "model.layers.1.self_attn.q_proj, model.layers.1.self_attn.k_proj, model.layers.1.self_attn.o_proj, "
      "model.layers.2.mlp.up_proj, model.layers.2.mlp.down_proj";
  CHECK(excludes("m4", all) ==
        std::vector<std::string>{"model.layers.1.input_layernorm", "model.layers.1.self_attn.v_proj",
                                 "model.layers.2.post_attention_layernorm", "model.layers.2.mlp.up_proj"});
  CHECK(excludes("m6", "model.layers.0.mlp.gate_proj") ==
        std::vector<std::string>{"model.layers.0.post_attention_layernorm"});
  // m3 smooths norm → linears only, so o_proj/down_proj name nothing it smooths.
  CHECK(excludes("m3", all) == std::vector<std::string>{"model.layers.1.input_layernorm",
                                                        "model.layers.2.post_attention_layernorm"});
  // m1 and m5 ignore the list in the reference.
  CHECK(excludes("m1", all).empty());
  const Error odd = practice_v0_error_of(
      "apiversion: modelslim_v0\nspec:\n  anti_cfg:\n    anti_method: m4\n    disable_anti_names:\n"
      "      - model.layers.0.self_attn.q_proj\n      - lm_head\n  calib_cfg: {mm_tensor: False}\n");
  CHECK(odd.code() == ErrorCode::kUnsupported);
  CHECK_MESSAGE(contains(odd.what(), "lm_head"), odd.what());
  CHECK_MESSAGE(contains(odd.what(), "v0.yaml:7"), odd.what());
}

TEST_CASE("use_kvcache_quant becomes dynamic_cache (symmetric per-channel int8) after linear_quant") {
  // lab_practice/qwen2/qwen2-72b-w8a8c8.yaml, shortened
  const PracticeConfig config = parse(
      "apiversion: modelslim_v0\nspec:\n  calib_cfg:\n    w_bit: 8\n    a_bit: 8\n    mm_tensor: False\n"
      "    use_kvcache_quant: True\n    disable_names: ['model.layers.0.mlp.down_proj']\n");
  REQUIRE(config.spec.process.size() == 2);
  CHECK(config.spec.process[0]["type"].as_string() == "linear_quant");
  const auto& kv = config.spec.process[1];
  CHECK(kv["type"].as_string() == "dynamic_cache");
  CHECK(kv["qconfig"]["scope"].as_string() == "per_channel");
  CHECK(kv["qconfig"]["dtype"].as_string() == "int8");
  CHECK(kv["qconfig"]["symmetric"].as_bool());
  const PracticeConfig without =
      parse("apiversion: modelslim_v0\nspec:\n  calib_cfg: {mm_tensor: False, use_kvcache_quant: False}\n");
  CHECK(without.spec.process.size() == 1);
}

TEST_CASE("v0 keys modelslim does not build are refused by name and line") {
  struct Case {
    std::string yaml;
    std::string key;
    std::string line;
  };
  const std::string head = "apiversion: modelslim_v0\nspec:\n";
  const std::vector<Case> cases = {
      // lab_practice/qwen2/qwen2-7b-w8a8s.yaml
      {head + "  calib_cfg:\n    w_bit: 4\n    a_bit: 8\n    mm_tensor: False\n    is_lowbit: True\n    "
              "co_sparse: True\n",
       "co_sparse", "v0.yaml:8"},
      // lab_practice/qwen3/qwen3-8b-w8a8s.yaml
      {head + "  calib_cfg:\n    w_bit: 4\n    a_bit: 8\n    mm_tensor: False\n    is_lowbit: True\n",
       "is_lowbit", "v0.yaml:7"},
      {head + "  calib_cfg: {mm_tensor: False, use_fa_quant: True, fa_amp: 2}\n", "fa_amp", "v0.yaml:3"},
      {head + "  anti_cfg: {anti_method: m2}\n  calib_cfg: {mm_tensor: False}\n", "m2", "v0.yaml:3"},
      {head + "  calib_cfg: {w_bit: 8}\n", "mm_tensor", "v0.yaml:3"},
      {head + "  calib_cfg: {mm_tensor: False, pr: 0.5}\n", "pr", "v0.yaml:3"},
      {head + "  calib_cfg: {mm_tensor: False, w_method: GPTQ}\n", "w_method", "v0.yaml:3"},
      {head + "  calib_cfg: {mm_tensor: False}\n  calib_params: {mix_cfg: {'*': w4a8_dynamic}}\n",
       "w4a8_dynamic", "v0.yaml:4"},
  };
  for (const Case& c : cases) {
    const Error error = practice_v0_error_of(c.yaml);
    CAPTURE(c.yaml);
    CHECK(error.code() == ErrorCode::kUnsupported);
    CHECK_MESSAGE(contains(error.what(), c.key), error.what());
    CHECK_MESSAGE(contains(error.what(), c.line), error.what());
  }
  // Keys the reference does not know are schema errors naming them.
  const Error unknown = practice_v0_error_of(head + "  calib_cfg: {mm_tensor: False, a_bits: 8}\n");
  CHECK(unknown.code() == ErrorCode::kSchemaValidate);
  CHECK(contains(unknown.what(), "a_bits"));
  CHECK(contains(
      practice_v0_error_of(head + "  calib_cfg: {mm_tensor: False}\n  calib_params: {disable_level: 10}\n")
          .what(),
      "disable_level"));
}

TEST_CASE("use_fa_quant becomes fa3_quant (int8 per-head Q/K/V) before the linears; fa_amp 0 is accepted") {
  const PracticeConfig fa = parse(
      "apiversion: modelslim_v0\nspec:\n  calib_cfg: {mm_tensor: False, use_fa_quant: True, fa_amp: 0}\n");
  REQUIRE(fa.spec.process.size() == 2);
  CHECK(fa.spec.process[0]["type"].as_string() == "fa3_quant");
  CHECK_FALSE(fa.spec.process[0].has("qconfig"));  // the processor's default: int8 per_head symmetric
  CHECK(fa.spec.process[1]["type"].as_string() == "linear_quant");
  const PracticeConfig off =
      parse("apiversion: modelslim_v0\nspec:\n  calib_cfg: {mm_tensor: False, use_fa_quant: False}\n");
  REQUIRE(off.spec.process.size() == 1);
  CHECK(off.spec.process[0]["type"].as_string() == "linear_quant");
}

TEST_CASE("--print_v1 text parses back as the same modelslim_v1 practice") {
  const std::string text = practice_v1_text(parse_yaml_string(kDistillW8A8, "v0.yaml"));
  CHECK(contains(text, "apiversion: modelslim_v1"));
  const PracticeConfig printed = parse_practice_config(parse_yaml_string(text, "printed.yaml"));
  const PracticeConfig direct = parse(kDistillW8A8);
  CHECK(emit_v1_yaml(printed.root.yaml()) == emit_v1_yaml(direct.root.yaml()));
}
