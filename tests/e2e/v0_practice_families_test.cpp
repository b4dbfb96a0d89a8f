// Every dense practice the reference ships for Qwen2, Qwen2.5, Qwen3, QwQ and DeepSeek-R1-Distill-Qwen
// (lab_practice/, apiversion modelslim_v0 unless noted), written here with the same keys and values, runs
// unchanged through `modelslim quant --model_type <its verified model> --config_path` on random checkpoints
// of those families (config.json as the real ones declare: qwen2 / Qwen2ForCausalLM for Qwen2, Qwen2.5, QwQ
// and the R1 distills; qwen3 / Qwen3ForCausalLM for Qwen3), with local calibration files of the names the
// practices give; the sparse ones are refused naming the key, before anything is written.
#include "support/doctest.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "modelslim/config_node.hpp"
#include "modelslim/core/practice_config.hpp"
#include "modelslim/core/practice_v0.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

// Disable lists as the practices write them: one entry per decoder layer, `@down:N` or `@o:N` in the texts.
std::string per_layer(const std::string& linear, int layers) {
  std::string lines;
  for (int i = 0; i < layers; ++i)
    lines += "      - 'model.layers." + std::to_string(i) + "." + linear + "'\n";
  return lines;
}

std::string expand(std::string text) {
  const std::vector<std::pair<std::string, std::string>> tokens = {{"@down:", "mlp.down_proj"},
                                                                   {"@o:", "self_attn.o_proj"}};
  for (const auto& [token, linear] : tokens) {
    for (std::size_t at = text.find(token); at != std::string::npos; at = text.find(token)) {
      const std::size_t end = text.find('\n', at);
      const int layers = std::stoi(text.substr(at + token.size(), end - at - token.size()));
      text.replace(at, end - at + 1, per_layer(linear, layers));
    }
  }
  return text;
}

std::string header(const std::string& id, const std::string& model, int w_bit, int a_bit, bool sparse,
                   bool kv) {
  const auto flag = [](bool on) { return on ? "True" : "False"; };
  return "apiversion: modelslim_v0\nmetadata:\n  config_id: " + id + "\n  score: " + (sparse ? "80" : "90") +
         "\n  verified_model_types:\n    - " + model + "\n  label:\n    w_bit: " + std::to_string(w_bit) +
         "\n    a_bit: " + std::to_string(a_bit) + "\n    is_sparse: " + flag(sparse) +
         "\n    kv_cache: " + flag(kv) + "\n";
}

const std::string kDenseCalib = "  calib_cfg:\n    w_bit: 8\n    a_bit: 8\n    mm_tensor: False\n";
const std::string kPartFile = "  calib_save_params:\n    part_file_size: 4\n";

struct Practice {
  std::string file;        // the reference's lab_practice path
  std::string model_type;  // its verified model type, passed as --model_type
  std::string text;
};

// ---- Qwen2 / Qwen2.5 / Qwen1.5 dense (qwen2 architecture) ----
std::vector<Practice> qwen2_dense() {
  const std::string down72 = "    disable_names:\n@down:80\n";
  return {
      {"qwen2_5/qwen2.5-7b-w8a8.yaml", "Qwen2.5-7B-Instruct",
       header("qwen2.5-7b-w8a8", "Qwen2.5-7B-Instruct", 8, 8, false, false) + "spec:\n" + kDenseCalib +
           "    disable_names:\n      - 'lm_head'\n@down:28\n  calib_dataset: boolq.jsonl\n"},
      {"qwen2_5/qwen2.5-32b-w8a8.yaml", "Qwen2.5-32B-Instruct",
       header("qwen2.5-32b-w8a8", "Qwen2.5-32B-Instruct", 8, 8, false, false) + "spec:\n" + kDenseCalib +
           "    disable_names:\n      - 'lm_head'\n@down:64\n  calib_dataset: boolq.jsonl\n" + kPartFile},
      {"qwen2/qwen2-72b-w8a8.yaml", "Qwen2-72B",
       header("qwen2-72b-w8a8", "Qwen2-72B", 8, 8, false, false) + "spec:\n" + kDenseCalib + down72 +
           "  calib_dataset: boolq.jsonl\n" + kPartFile},
      {"qwen2/qwen2-72b-w8a16.yaml", "Qwen2-72B",
       header("qwen2-72b-w8a16", "Qwen2-72B", 8, 16, false, false) +
           "spec:\n  calib_cfg:\n    w_bit: 8\n    a_bit: 16\n    mm_tensor: False\n" + down72 + kPartFile},
      {"qwen2/qwen2-72b-w8a8c8.yaml", "Qwen2-72B",
       header("qwen2-72b-w8a8c8", "Qwen2-72B", 8, 8, false, true) + "spec:\n" + kDenseCalib +
           "    use_kvcache_quant: True\n" + down72 + "  calib_dataset: boolq.jsonl\n" + kPartFile},
      {"qwen1_5/qwen1.5-110b-w8a16.yaml", "Qwen1.5-110B",
       header("qwen1.5-110b-w8a16", "Qwen1.5-110B", 8, 16, false, false) +
           "spec:\n  calib_cfg:\n    w_bit: 8\n    a_bit: 16\n    mm_tensor: False\n" + kPartFile},
  };
}

// deepseek-r1-distill-qwen-{1.5b,7b}-w8a8.yaml: the same spec (no calib_dataset: the v0 default).
std::string distill_w8a8(const std::string& size) {
  const std::string id = "deepseek-r1-distill-qwen-" + size + "-w8a8";
  std::string model = "DeepSeek-R1-Distill-Qwen-" + size;
  model.back() = 'B';
  return header(id, model, 8, 8, false, false) + "spec:\n  anti_cfg:\n    anti_method: m4\n" + kDenseCalib +
         "    disable_names:\n      - 'lm_head'\n@down:28\n" + kPartFile;
}

const std::string kQwen25Pdmix =
    header("qwen2.5-w8a8c8-pdmix", "Qwen2.5-72B-Instruct", 8, 8, false, true) +
    "spec:\n  anti_cfg:\n    anti_method: m6\n    flex_config:\n      alpha: 0.75\n      beta: 0.1\n"
    "    disable_anti_names:\n@o:80\n" +
    kDenseCalib +
    "    act_method: 2\n    use_kvcache_quant: True\n    pdmix: True\n    disable_names:\n"
    "      - 'model.layers.0.mlp.down_proj'\n      - 'model.layers.1.mlp.down_proj'\n"
    "      - 'model.layers.2.mlp.down_proj'\n      - 'model.layers.79.mlp.down_proj'\n      - 'lm_head'\n"
    "  calib_dataset: qwen2.5_w8a8_pdmix_calib_prompt.jsonl\n"
    "  anti_dataset: qwen2.5_w8a8_pdmix_anti_prompt.jsonl\n" +
    kPartFile;

// ---- Qwen3 dense ----
const std::string kQwen3_14B = header("qwen3-14b-dense-w8a8", "Qwen3-14B", 8, 8, false, false) +
                               "spec:\n  anti_cfg:\n    anti_method: m4\n" + kDenseCalib +
                               "    pdmix: True\n  calib_params:\n    disable_level: L10\n"
                               "  calib_dataset: mix_calib.jsonl\n" +
                               kPartFile;

const std::vector<std::string> kQwen3_32BFloat = {
    "model.layers.1.mlp.down_proj",  "model.layers.2.mlp.gate_proj",  "model.layers.2.mlp.down_proj",
    "model.layers.6.mlp.down_proj",  "model.layers.7.mlp.down_proj",  "model.layers.11.mlp.down_proj",
    "model.layers.43.mlp.down_proj", "model.layers.44.mlp.down_proj", "model.layers.45.mlp.down_proj",
    "model.layers.62.mlp.down_proj"};

std::string qwen3_32b() {
  std::string text =
      "apiversion: modelslim_v0\nmetadata:\n  config_id: qwen3-32b-dense-w8a8\n  score: 90\n"
      "  verified_tags:\n    Qwen3-32B:\n      - - MindIE\n        - Atlas_A2_Inference\n"
      "      - - MindIE\n        - Atlas_A3_Inference\n  label:\n    w_bit: 8\n    a_bit: 8\n"
      "    is_sparse: False\n    kv_cache: False\nspec:\n  anti_cfg:\n    anti_method: m4\n" +
      kDenseCalib + "    pdmix: True\n    disable_names:\n      - 'lm_head'\n";
  for (const std::string& name : kQwen3_32BFloat) text += "      - '" + name + "'\n";
  return text + "  calib_dataset: mix_calib.jsonl\n" + kPartFile;
}

// ---- QwQ-32B: the reference ships its dense practice as modelslim_v1 ----
const char* const kQwqW8A8 = R"(apiversion: modelslim_v1
metadata:
  config_id: qwq-32b-dense-w8a8
  score: 90
  verified_model_types:
    - Qwen-QwQ-32B
    - QwQ-32B
  label:
    w_bit: 8
    a_bit: 8
    is_sparse: False
    kv_cache: False
default_w8a8: &default_w8a8
  act:
    scope: "per_tensor"
    dtype: "int8"
    symmetric: false
    method: "minmax"
  weight:
    scope: "per_channel"
    dtype: "int8"
    symmetric: true
    method: "minmax"
spec:
  process:
    - type: "quarot"
      block_size: 32
    - type: "iter_smooth"
      alpha: 0.5
      scale_min: 1e-5
      symmetric: true
      enable_subgraph_type:
        - 'norm-linear'
        - 'up-down'
      include:
        - "*"
    - type: "linear_quant"
      qconfig: *default_w8a8
      include:
        - "*"
      exclude:
        - "lm_head"
        - "*.down_proj"
  dataset: autocodebench.jsonl
  save:
    - type: "ascendv1_saver"
      part_file_size: 4
)";

// ---- sparse practices: refused ----
struct Sparse {
  std::string file;
  std::string key;  // the key the refusal names
  std::string text;
};

std::vector<Sparse> sparse_practices() {
  const auto lowbit = [](const std::string& extra) {
    return "  calib_cfg:\n    w_bit: 4\n    a_bit: 8\n    mm_tensor: False\n" + extra;
  };
  const std::string sigma = "    use_sigma: True\n    fraction: 0.011\n";
  const std::string distill = "spec:\n  anti_cfg:\n    anti_method: m4\n" +
                              lowbit("    is_lowbit: True\n    co_sparse: True\n" + sigma +
                                     "    sigma_factor: 4.0\n    disable_names:\n      - 'lm_head'\n"
                                     "@down:28\n") +
                              "  calib_dataset: cn_en.jsonl\n" + kPartFile;
  const std::string down_float =
      "  calib_params:\n    mix_cfg:\n      \"model.layers.*.mlp.down_proj\": \"float\"\n";
  std::string qwen3_8b_mix = "  calib_params:\n    mix_cfg:\n";
  for (const char* layer : {"1", "16", "3", "4", "7"}) {
    for (const char* linear : {"gate_proj", "up_proj"})
      qwen3_8b_mix += std::string("      \"model.layers.") + layer + ".mlp." + linear + "\": \"float\"\n";
  }
  qwen3_8b_mix += "      \"model.layers.*.mlp.down_proj\": \"float\"\n";
  return {
      {"qwen2_5/qwen2.5-sparse.yaml", "co_sparse",
       header("qwen2.5-sparse", "Qwen2.5-Coder-7B-Instruct", 8, 8, true, false) + "spec:\n" +
           lowbit("    is_lowbit: False\n    co_sparse: True\n    use_sigma: True\n    fraction: 0.02\n"
                  "    sigma_factor: 3.0\n    disable_names:\n      - 'lm_head'\n@down:28\n") +
           "  calib_dataset: humaneval_x.jsonl\n" + kPartFile},
      {"qwq/qwq-32b-sparse.yaml", "is_lowbit",
       header("qwq-32b-sparse", "QwQ-32B", 8, 8, true, false) + "spec:\n" +
           lowbit("    is_lowbit: True\n    use_sigma: True\n    sigma_factor: 3.0\n    disable_names:\n"
                  "      - 'lm_head'\n@down:64\n") +
           "  calib_dataset: cn_en.jsonl\n" + kPartFile},
      {"deepseek-r1-distill/deepseek-r1-distill-qwen-1.5b-sparse.yaml", "co_sparse",
       header("deepseek-r1-distill-qwen-1.5b-sparse", "DeepSeek-R1-Distill-Qwen-1.5B", 8, 8, true, false) +
           distill},
      {"deepseek-r1-distill/deepseek-r1-distill-qwen-7b-sparse.yaml", "co_sparse",
       header("deepseek-r1-distill-qwen-7b-sparse", "DeepSeek-R1-Distill-Qwen-7B", 8, 8, true, false) +
           distill},
      {"qwen2/qwen2-72b-w8a8s.yaml", "co_sparse",
       header("qwen2-72b-w8a8s", "Qwen2-72B", 8, 8, true, false) + "spec:\n" +
           lowbit("    is_lowbit: True\n    co_sparse: True\n" + sigma + "    disable_names:\n@down:80\n") +
           "  calib_dataset: cn_en.jsonl\n" + kPartFile},
      {"qwen2/qwen2-7b-w8a8s.yaml", "co_sparse",
       header("qwen2-7b-w8a8s", "Qwen2-7B", 8, 8, true, false) + "spec:\n" +
           lowbit("    is_lowbit: True\n    co_sparse: True\n" + sigma) + "  calib_dataset: cn_en.jsonl\n" +
           kPartFile},
      {"qwen3/qwen3-14b-w8a8s.yaml", "co_sparse",
       header("qwen3-14b-w8a8s", "Qwen3-14B", 8, 8, true, false) +
           "spec:\n  anti_cfg:\n    anti_method: m4\n" +
           "  calib_cfg:\n    w_bit: 4\n    a_bit: 8\n    fraction: 0.011\n    co_sparse: True\n"
           "    use_sigma: True\n    is_lowbit: True\n    act_method: 2\n    sigma_factor: 4.0\n"
           "    mm_tensor: False\n" +
           down_float + "  calib_dataset: calib_prompt.jsonl\n" + kPartFile},
      {"qwen3/qwen3-32b-w8a8s.yaml", "co_sparse",
       header("qwen3-32b-w8a8s", "Qwen3-32B", 8, 8, true, false) +
           "spec:\n  calib_cfg:\n    w_bit: 4\n    a_bit: 8\n    fraction: 0.011\n    use_sigma: True\n"
           "    is_lowbit: True\n    co_sparse: True\n    mm_tensor: False\n" +
           down_float + "  calib_dataset: cn_en.jsonl\n" + kPartFile},
      {"qwen3/qwen3-8b-w8a8s.yaml", "is_lowbit",
       header("qwen3-8b-w8a8s", "Qwen3-8B", 8, 8, true, false) + "spec:\n  anti_cfg:\n    anti_method: m6\n" +
           lowbit("    is_lowbit: True\n    fraction: 0.012\n") + qwen3_8b_mix +
           "  calib_dataset: mix_calib.jsonl\n"},
  };
}

// ---- running them ----

// Tiny random checkpoints of the two architectures, with as many layers as the practices' lists name.
fs::path v0_practice_families_make_model(const test::TempDir& dir, const std::string& family, int layers) {
  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  const fs::path model = dir / family;
  const bool qwen3 = family == "qwen3";
  const std::string arch = qwen3 ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM";
  const auto made = test::run_command(
      (test::build_dir() / "bin" / "make_random_model").string() + " --config " + fake.string() +
      " --tokenizer-from " + fake.string() + " --output " + model.string() +
      " --seed 5 --set model_type=" + (qwen3 ? "qwen3" : "qwen2") + " --set 'architectures=[\"" + arch +
      "\"]' --set num_hidden_layers=" + std::to_string(layers) +
      " --set hidden_size=64 --set intermediate_size=128 --set head_dim=32 --set num_key_value_heads=1" +
      " --set rope_theta=1000000.0 --set use_sliding_window=false");
  REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  return model;
}

// Two short passages under every calibration name the practices use (found through MODELSLIM_DATASET_PATH).
fs::path calibration_dir(const test::TempDir& dir) {
  const std::string all = test::read_text(test::source_dir() / "data" / "datasets" / "kjv_calib.jsonl");
  const std::size_t end = all.find('\n', all.find('\n') + 1) + 1;
  const fs::path data = dir / "datasets";
  fs::create_directories(data);
  for (const char* name : {"boolq.jsonl", "teacher_qualification.jsonl", "mix_calib.jsonl",
                           "qwen2.5_w8a8_pdmix_calib_prompt.jsonl", "qwen2.5_w8a8_pdmix_anti_prompt.jsonl",
                           "autocodebench.jsonl"}) {
    test::write_text(data / name, all.substr(0, end));
  }
  return data;
}

// An 80-layer qwen2 checkpoint (Qwen2-72B's depth, the longest lists), a 4-layer one for the practices whose
// calibration is costly (histogram activations, QuaRot), and the calibration files, shared by the test cases.
struct Workspace {
  test::TempDir dir{"v0-families"};
  fs::path data = calibration_dir(dir);
  fs::path qwen2 = v0_practice_families_make_model(dir, "qwen2", 80);
  fs::path qwen2_small = v0_practice_families_make_model(dir, "qwen2-small", 4);
};

const Workspace& workspace() {
  static const Workspace shared;
  return shared;
}

test::CommandResult v0_practice_families_quant(const fs::path& model, const fs::path& save,
                                               const fs::path& practice, const std::string& model_type) {
  return test::run_command("MODELSLIM_DATASET_PATH=" + workspace().data.string() + " " +
                           test::modelslim_bin().string() + " quant --model_path " + model.string() +
                           " --save_path " + save.string() + " --config_path " + practice.string() +
                           " --model_type " + model_type + " --max_calib_tokens 8");
}

// The translation `--print_v1` prints, computed in process (the same function).
std::string v1_text(const std::string& text, const std::string& name) {
  return core::practice_v1_text(parse_yaml_string(expand(text), name));
}

// The translated spec.process, one emitted YAML text per processor.
std::vector<std::string> v1_process(const std::string& text) {
  const core::PracticeConfig config = core::parse_practice_config(parse_yaml_string(expand(text), "p.yaml"));
  std::vector<std::string> process;
  for (const ConfigNode& node : config.spec.process) process.push_back(core::emit_v1_yaml(node.yaml()));
  return process;
}

void check_parts(const std::string& text, const std::vector<std::string>& parts) {
  for (const std::string& part : parts)
    CHECK_MESSAGE(text.find(part) != std::string::npos, "'" << part << "' in\n" << text);
}

std::set<std::string> float_linears(const nlohmann::json& description) {
  std::set<std::string> names;
  for (const auto& [key, type] : description.items()) {
    const bool linear = key.find("_proj.weight") != std::string::npos;
    if (linear && type == "FLOAT") names.insert(key.substr(0, key.size() - 7));
  }
  return names;
}

std::set<std::string> down_projs(int layers) {
  std::set<std::string> names;
  for (int i = 0; i < layers; ++i) names.insert("model.layers." + std::to_string(i) + ".mlp.down_proj");
  return names;
}

// Runs one practice on `model`; returns the saved description.
nlohmann::json v0_practice_families_run(const test::TempDir& dir, const fs::path& model,
                                        const Practice& practice) {
  const std::string stem = fs::path(practice.file).stem().string();
  const fs::path file = dir / (stem + ".yaml");
  test::write_text(file, expand(practice.text));
  const auto result = v0_practice_families_quant(model, dir / stem, file, practice.model_type);
  REQUIRE_MESSAGE(result.exit_code == 0, practice.file << "\n" << result.output);
  const auto description = read_json_file(dir / stem / "quant_model_description.json");
  CHECK(description.value("lm_head.weight", "FLOAT") == "FLOAT");
  return description;
}

int listed_layers(const std::string& file) {
  if (file.find("72b") != std::string::npos) return 80;
  if (file.find("32b") != std::string::npos) return 64;
  if (file.find("7b") != std::string::npos) return 28;
  return 0;
}

}  // namespace

TEST_CASE("Qwen2, Qwen2.5 and Qwen1.5 dense v0 practices run on a random qwen2 checkpoint") {
  const Workspace& ws = workspace();
  const std::vector<Practice> practices = qwen2_dense();
  for (const Practice& practice : practices) {
    const std::set<std::string> same_as_another = {
        "qwen2/qwen2-72b-w8a8.yaml", "qwen1_5/qwen1.5-110b-w8a16.yaml", "qwen2_5/qwen2.5-32b-w8a8.yaml"};
    if (same_as_another.count(practice.file)) continue;  // checked below, without a run each
    CAPTURE(practice.file);
    const auto description = v0_practice_families_run(ws.dir, ws.qwen2, practice);
    const bool w8a16 = practice.file.find("w8a16") != std::string::npos;
    CHECK(description["model_quant_type"] == (w8a16 ? "W8A16" : "W8A8"));
    CHECK(description["model.layers.40.self_attn.q_proj.weight"] == (w8a16 ? "W8A16" : "W8A8"));
    CHECK(float_linears(description) == down_projs(listed_layers(practice.file)));
    const bool c8 = practice.file.find("c8") != std::string::npos;
    CHECK(description.value("kv_cache_type", "") == (c8 ? "C8" : ""));
    if (c8) CHECK(description["model.layers.3.self_attn.k_proj.kv_cache_scale"] == "C8");
  }
  // qwen2-72b-w8a8 is qwen2-72b-w8a8c8 without the KV cache; qwen1.5-110b-w8a16 is qwen2-72b-w8a16 without
  // disable_names.
  const auto find = [&](const std::string& file) {
    return v1_process(std::find_if(practices.begin(), practices.end(), [&](const Practice& p) {
                        return p.file == file;
                      })->text);
  };
  std::vector<std::string> c8 = find("qwen2/qwen2-72b-w8a8c8.yaml");
  REQUIRE(c8.size() == 2);
  CHECK(c8.back().find("type: dynamic_cache") != std::string::npos);
  c8.pop_back();
  CHECK(find("qwen2/qwen2-72b-w8a8.yaml") == c8);
  // qwen2.5-32b-w8a8 is qwen2.5-7b-w8a8 with 64 disable_names instead of 28.
  const std::vector<std::string> large = find("qwen2_5/qwen2.5-32b-w8a8.yaml");
  const std::vector<std::string> small = find("qwen2_5/qwen2.5-7b-w8a8.yaml");
  REQUIRE(large.size() == 1);
  REQUIRE(small.size() == 1);
  CHECK(large[0].substr(0, large[0].find("exclude:")) == small[0].substr(0, small[0].find("exclude:")));
  std::size_t listed = 0;
  for (std::size_t at = large[0].find("down_proj"); at != std::string::npos;
       at = large[0].find("down_proj", at + 1))
    ++listed;
  CHECK(listed == 64);
  const std::vector<std::string> w8a16 = find("qwen2/qwen2-72b-w8a16.yaml");
  const std::vector<std::string> qwen15 = find("qwen1_5/qwen1.5-110b-w8a16.yaml");
  REQUIRE(qwen15.size() == 1);
  CHECK(qwen15[0] == w8a16[0].substr(0, w8a16[0].find("exclude:")));
}

TEST_CASE("DeepSeek-R1-Distill-Qwen W8A8: m4 smooths norm-linear, ov and up-down; default calibration name") {
  const Workspace& ws = workspace();
  const fs::path small = ws.dir / "distill-small.yaml";
  test::write_text(small, expand(distill_w8a8("1.5b")));
  const auto printed = test::run_command(test::modelslim_bin().string() + " quant --config_path " +
                                         small.string() + " --print_v1");
  REQUIRE_MESSAGE(printed.exit_code == 0, printed.output);
  check_parts(printed.output, {"apiversion: modelslim_v1", "type: iter_smooth", "- norm-linear", "- ov",
                               "- up-down", "dataset: teacher_qualification.jsonl", "part_file_size: 4"});
  // The 7B practice differs only in its metadata.
  CHECK(v1_process(distill_w8a8("7b")) == v1_process(distill_w8a8("1.5b")));

  const auto description =
      v0_practice_families_run(ws.dir, ws.qwen2,
                               {"deepseek-r1-distill/deepseek-r1-distill-qwen-1.5b-w8a8.yaml",
                                "DeepSeek-R1-Distill-Qwen-1.5B", distill_w8a8("1.5b")});
  CHECK(description["model_quant_type"] == "W8A8");
  CHECK(float_linears(description) == down_projs(28));
}

TEST_CASE("Qwen2.5 W8A8C8 pdmix: m6 on its own dataset, o_proj kept out of smoothing, W8A8_MIX and C8") {
  const Workspace& ws = workspace();
  const std::string printed = v1_text(kQwen25Pdmix, "pdmix.yaml");
  check_parts(printed, {"type: flex_smooth_quant", "alpha: 0.75", "beta: 0.1", "- ov",
                        "- model.layers.79.self_attn.v_proj", "dataset: qwen2.5_w8a8_pdmix_anti_prompt.jsonl",
                        "scope: pd_mix", "method: histogram", "type: dynamic_cache"});
  CHECK(printed.find("o_proj") == std::string::npos);

  // On 4 layers: histogram calibration is costly; the names of layers 4-79 are warnings here.
  const auto description = v0_practice_families_run(
      ws.dir, ws.qwen2_small, {"qwen2_5/qwen2.5-w8a8c8-pdmix.yaml", "Qwen2.5-72B-Instruct", kQwen25Pdmix});
  CHECK(description["model_quant_type"] == "W8A8_MIX");
  CHECK(description["model.layers.3.mlp.up_proj.weight"] == "W8A8_MIX");
  CHECK(float_linears(description) == down_projs(3));
  CHECK(description.value("kv_cache_type", "") == "C8");
  CHECK(description["model.layers.3.self_attn.v_proj.kv_cache_offset"] == "C8");
}

TEST_CASE("Qwen3 dense v0 practices (m4, pdmix, disable_level / disable_names) run on a random qwen3 model") {
  const Workspace& ws = workspace();
  const fs::path model = v0_practice_families_make_model(ws.dir, "qwen3", 64);

  const auto ranked =
      v0_practice_families_run(ws.dir, model, {"qwen3/qwen3-14b-dense-w8a8.yaml", "Qwen3-14B", kQwen3_14B});
  CHECK(ranked["model_quant_type"] == "W8A8_MIX");
  // Ten linears by range_parm, plus the fused siblings (q/k/v, gate/up) an engine loads with them.
  const std::size_t rolled_back = float_linears(ranked).size();
  CHECK(rolled_back >= 10);
  CHECK(rolled_back <= 30);

  const auto listed =
      v0_practice_families_run(ws.dir, model, {"qwen3/qwen3-32b-dense-w8a8.yaml", "Qwen3-32B", qwen3_32b()});
  CHECK(listed["model_quant_type"] == "W8A8_MIX");
  std::set<std::string> expected(kQwen3_32BFloat.begin(), kQwen3_32BFloat.end());
  expected.insert("model.layers.2.mlp.up_proj");  // gate_proj's fused sibling
  CHECK(float_linears(listed) == expected);
}

TEST_CASE("QwQ-32B's shipped dense practice (modelslim_v1: quarot, iter_smooth) runs on a qwen2 model") {
  const Workspace& ws = workspace();
  const auto description =
      v0_practice_families_run(ws.dir, ws.qwen2_small, {"qwq/qwq-32b-w8a8.yaml", "QwQ-32B", kQwqW8A8});
  CHECK(description["model_quant_type"] == "W8A8");
  CHECK(float_linears(description) == down_projs(4));
}

TEST_CASE("sparse v0 practices of these families are refused naming the key, before anything is written") {
  for (const Sparse& practice : sparse_practices()) {
    CAPTURE(practice.file);
    const std::string stem = fs::path(practice.file).stem().string();
    const std::string text = expand(practice.text);
    const std::size_t key_at = text.find("    " + practice.key + ":");
    REQUIRE(key_at != std::string::npos);
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(key_at), '\n');
    try {
      v1_text(practice.text, stem + ".yaml");
      FAIL("translated");
    } catch (const Error& error) {
      CHECK(error.code() == ErrorCode::kUnsupported);
      CHECK_MESSAGE(
          std::string(error.what()).find(stem + ".yaml:" + std::to_string(line)) != std::string::npos,
          error.what());
      CHECK_MESSAGE(std::string(error.what()).find("calib_cfg." + practice.key) != std::string::npos,
                    error.what());
      CHECK_MESSAGE(error.tip().find("dense W8A8") != std::string::npos, error.tip());  // the alternative
    }
  }
  // Through the CLI: refused while the practice is read, so no save, staging or lock file is left.
  const Workspace& ws = workspace();
  const test::TempDir dir("v0-families-sparse");
  const Sparse qwq = sparse_practices()[1];
  test::write_text(dir / "qwq-32b-sparse.yaml", expand(qwq.text));
  const auto result =
      v0_practice_families_quant(ws.qwen2, dir / "out", dir / "qwq-32b-sparse.yaml", "QwQ-32B");
  CHECK(result.exit_code != 0);
  CHECK_MESSAGE(result.output.find("qwq-32b-sparse.yaml:17") != std::string::npos, result.output);
  CHECK_MESSAGE(result.output.find("is_lowbit") != std::string::npos, result.output);
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    left.push_back(entry.path().filename().string());
  CHECK(left == std::vector<std::string>{"qwq-32b-sparse.yaml"});
}
