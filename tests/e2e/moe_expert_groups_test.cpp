// Issue 13 §6: mixture-of-experts blocks whose routed experts are loaded, calibrated, quantized, saved and
// freed in groups (SDK expert_streaming.hpp) write the same bytes as whole blocks. Random checkpoints of
// each family with 8 experts of 960 KiB of float32 weights each (hidden 128, expert intermediate 640), and
// an expert memory budget of 3 MiB: groups of 3, 3 and 2 experts, against MODELSLIM_EXPERT_STREAMING=0.
#include "support/doctest.hpp"

#include <string>

#include "support/moe_models.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace modelslim;

namespace {

const char* const kGrouped = "MODELSLIM_EXPERT_MEMORY_MIB=3";
const char* const kWhole = "MODELSLIM_EXPERT_STREAMING=0";

// 8 experts of 3 · 640 · 128 float32 weights (960 KiB): a 3 MiB budget holds 3 of them. Made once per
// process (the cases only read it).
fs::path moe_expert_groups_make_model(const std::string& family) {
  const std::string experts = family == "mixtral" ? "--set num_local_experts=8 --set intermediate_size=640"
                                                  : "--set num_experts=8 --set moe_intermediate_size=640";
  return test::shared_moe_model(family, experts);
}

fs::path moe_expert_groups_write_dataset(const test::TempDir& dir) {
  const fs::path file = dir / "calib.jsonl";
  test::write_text(file,
                   "{\"inputs_pretokenized\": \"THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG\"}\n"
                   "{\"inputs_pretokenized\": \"IN THE BEGINNING GOD CREATED THE HEAVEN AND THE EARTH\"}\n"
                   "{\"inputs_pretokenized\": \"AND THE EARTH WAS WITHOUT FORM AND VOID\"}\n");
  return file;
}

std::string moe_expert_groups_practice(const std::string& process, const std::string& saver,
                                       const fs::path& dataset) {
  return "apiversion: modelslim_v1\nspec:\n  process:\n" + process + "  save:\n    - {type: " + saver +
         "}\n  dataset: " + dataset.string() + "\n";
}

// Routers and the shared expert's gate stay float, as the reference's MoE practices keep them.
const char* const kFloatRouters = R"(["*mlp.gate", "*block_sparse_moe.gate", "*shared_expert_gate"])";

std::string static_everything() {
  return std::string(
             "    - type: linear_quant\n      qconfig:\n"
             "        act: {scope: per_tensor, dtype: int8, symmetric: false}\n"
             "        weight: {scope: per_channel, dtype: int8}\n      exclude: ") +
         kFloatRouters + "\n";
}

// Experts W8A8 dynamic, then the rest static: the second processor's forward sees the quantized experts.
std::string served() {
  return std::string(
      "    - type: linear_quant\n      qconfig:\n        act: {scope: per_token, dtype: int8}\n"
      "        weight: {scope: per_channel, dtype: int8}\n      include: [\"*.experts.*\"]\n"
      "    - type: linear_quant\n      qconfig:\n"
      "        act: {scope: per_tensor, dtype: int8, symmetric: false}\n"
      "        weight: {scope: per_channel, dtype: int8}\n"
      "      exclude: [\"*mlp.gate\", \"*block_sparse_moe.gate\", \"*shared_expert_gate\", "
      "\"*.experts.*\"]\n");
}

std::string weight_only() {
  return "    - type: linear_quant\n      qconfig:\n"
         "        weight: {scope: per_group, dtype: int4, symmetric: false, ext: {group_size: 64}}\n"
         "      exclude: " +
         std::string(kFloatRouters) + "\n";
}

test::CommandResult moe_expert_groups_quant(const fs::path& model, const fs::path& save,
                                            const fs::path& config, const std::string& env) {
  return test::run_command(env + " " + test::modelslim_bin().string() + " quant --model_path " +
                           model.string() + " --save_path " + save.string() + " --config_path " +
                           config.string());
}

void moe_expert_groups_require_identical_trees(const fs::path& a, const fs::path& b) {
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(a)) {
    if (!entry.is_regular_file() || entry.path().filename() == ".modelslim-output") continue;
    const fs::path relative = fs::relative(entry.path(), a);
    REQUIRE_MESSAGE(fs::exists(b / relative), relative.string());
    CHECK_MESSAGE(test::read_text(entry.path()) == test::read_text(b / relative), relative.string());
    ++files;
  }
  std::size_t other = 0;
  for (const auto& entry : fs::recursive_directory_iterator(b))
    other += entry.is_regular_file() && entry.path().filename() != ".modelslim-output" ? 1 : 0;
  CHECK(files == other);
  CHECK(files > 2);
}

// Quantizes with experts in groups and with whole blocks; the outputs must match byte for byte, and the
// grouped run must really have grouped (3 groups per sparse block).
void compare(const test::TempDir& dir, const fs::path& model, const std::string& name,
             const std::string& yaml) {
  const fs::path config = dir / (name + ".yaml");
  test::write_text(config, yaml);
  const auto whole = moe_expert_groups_quant(model, dir / (name + "-whole"), config, kWhole);
  REQUIRE_MESSAGE(whole.exit_code == 0, whole.output);
  CHECK(whole.output.find("routed experts in") == std::string::npos);
  const auto grouped = moe_expert_groups_quant(model, dir / (name + "-grouped"), config, kGrouped);
  REQUIRE_MESSAGE(grouped.exit_code == 0, grouped.output);
  CHECK_MESSAGE(grouped.output.find("routed experts in 3 groups of up to 3") != std::string::npos,
                grouped.output);
  moe_expert_groups_require_identical_trees(dir / (name + "-whole"), dir / (name + "-grouped"));
}

}  // namespace

TEST_CASE("moe experts in groups: byte-identical to whole blocks, every family and saver") {
  test::TempDir dir("moe-expert-groups");
  const fs::path dataset = moe_expert_groups_write_dataset(dir);
  for (const std::string family : {"qwen3_moe", "qwen2_moe", "mixtral"}) {
    CAPTURE(family);
    const fs::path model = moe_expert_groups_make_model(family);
    // Static experts: every token also runs through every expert for statistics (all_experts_calibration).
    // Static experts: vllm-ascend serves none (engine: none writes the reference's layout anyway).
    compare(dir, model, family + "-static",
            moe_expert_groups_practice(static_everything(), "ascendv1_saver, engine: none", dataset));
    compare(dir, model, family + "-served", moe_expert_groups_practice(served(), "ascendv1_saver", dataset));
  }
  const fs::path model = moe_expert_groups_make_model("qwen3_moe");
  compare(dir, model, "ct-served", moe_expert_groups_practice(served(), "compressed_tensors", dataset));
  // No processor runs a forward: the runner's own forward over the quantized experts feeds the next block.
  compare(dir, model, "int4",
          moe_expert_groups_practice(weight_only(), "ascendv1_saver, engine: none", dataset));
}

TEST_CASE("moe experts in groups: a processor that needs the whole block") {
  test::TempDir dir("moe-expert-groups-whole");
  const fs::path dataset = moe_expert_groups_write_dataset(dir);
  const fs::path model = moe_expert_groups_make_model("qwen3_moe");
  const std::string smoothed = "    - type: smooth_quant\n      alpha: 0.5\n" + static_everything();
  const fs::path config = dir / "smooth.yaml";
  test::write_text(config, moe_expert_groups_practice(smoothed, "ascendv1_saver, engine: none", dataset));
  SUBCASE("an explicit budget the experts exceed is refused, naming the budget and the processor") {
    const auto result = moe_expert_groups_quant(model, dir / "refused", config, kGrouped);
    CHECK(result.exit_code != 0);
    CHECK_MESSAGE(result.output.find("need 7.5 MiB in float32, over the expert memory budget of 3.0 MiB") !=
                      std::string::npos,
                  result.output);
    CHECK(result.output.find("processor 1 of this stage's process list needs the whole block") !=
          std::string::npos);
    CHECK(result.output.find("MODELSLIM_EXPERT_MEMORY_MIB") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "refused"));
  }
  SUBCASE("the default budget: whole blocks, the same bytes as with grouping off") {
    const auto result = moe_expert_groups_quant(model, dir / "default", config, "");
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    CHECK(result.output.find("routed experts in") == std::string::npos);
    const auto whole = moe_expert_groups_quant(model, dir / "whole", config, kWhole);
    REQUIRE_MESSAGE(whole.exit_code == 0, whole.output);
    moe_expert_groups_require_identical_trees(dir / "whole", dir / "default");
  }
}

TEST_CASE("deepseek experts in groups: byte-identical to whole blocks (v2-lite bf16, v3 FP8 with MTP)") {
  test::TempDir dir("deepseek-expert-groups");
  const fs::path dataset = moe_expert_groups_write_dataset(dir);
  const std::string process =
      "    - type: linear_quant\n      qconfig:\n        act: {scope: per_token, dtype: int8}\n"
      "        weight: {scope: per_channel, dtype: int8}\n      include: [\"*mlp.experts.*\"]\n"
      "    - type: linear_quant\n      qconfig:\n        act: {scope: per_tensor, dtype: int8, symmetric: "
      "false}\n"
      "        weight: {scope: per_channel, dtype: int8}\n      exclude: [\"*mlp.experts.*\", "
      "\"*mlp.gate\", \"*kv_b_proj\"]\n";  // kv_b_proj float: vllm-ascend absorbs it into MLA
  // v2-lite: 8 experts of 3 · 640 · 64 float32 weights (480 KiB), 2 per MiB; v3: 16 of 3 · 48 · 160 (90
  // KiB), 11.
  const std::pair<std::string, std::string> styles[] = {{"v2-lite", "--set moe_intermediate_size=640"},
                                                        {"v3", ""}};
  const std::pair<std::string, std::string> expected[] = {
      {"v2-lite", "routed experts in 4 groups of up to 2"}, {"v3", "routed experts in 2 groups of up to 11"}};
  for (std::size_t i = 0; i < 2; ++i) {
    const std::string& style = styles[i].first;
    CAPTURE(style);
    const fs::path model = dir / style;
    const auto made =
        test::run_command((test::build_dir() / "bin" / "make_random_deepseek").string() + " --style " +
                          style + " --seed 7 --output " + model.string() + " " + styles[i].second);
    REQUIRE_MESSAGE(made.exit_code == 0, made.output);
    const fs::path config = dir / (style + ".yaml");
    test::write_text(config, moe_expert_groups_practice(process, "ascendv1_saver", dataset));
    const auto whole = moe_expert_groups_quant(model, dir / (style + "-whole"), config, kWhole);
    REQUIRE_MESSAGE(whole.exit_code == 0, whole.output);
    const auto grouped =
        moe_expert_groups_quant(model, dir / (style + "-grouped"), config, "MODELSLIM_EXPERT_MEMORY_MIB=1");
    REQUIRE_MESSAGE(grouped.exit_code == 0, grouped.output);
    CHECK_MESSAGE(grouped.output.find(expected[i].second) != std::string::npos, grouped.output);
    moe_expert_groups_require_identical_trees(dir / (style + "-whole"), dir / (style + "-grouped"));
  }
  // Static experts (ExpertRouting): every calibration token also runs through every routed expert, in
  // whole layers and in groups alike.
  const std::string static_experts =
      "    - type: linear_quant\n      qconfig:\n        act: {scope: per_tensor, dtype: int8, symmetric: "
      "false}\n        weight: {scope: per_channel, dtype: int8}\n      exclude: [\"*mlp.gate\", "
      "\"*kv_b_proj\"]\n";
  const fs::path config = dir / "static.yaml";
  test::write_text(config,
                   moe_expert_groups_practice(static_experts, "ascendv1_saver, engine: none", dataset));
  const auto whole = moe_expert_groups_quant(dir / "v2-lite", dir / "static-whole", config, kWhole);
  REQUIRE_MESSAGE(whole.exit_code == 0, whole.output);
  const auto grouped = moe_expert_groups_quant(dir / "v2-lite", dir / "static-grouped", config,
                                               "MODELSLIM_EXPERT_MEMORY_MIB=1");
  REQUIRE_MESSAGE(grouped.exit_code == 0, grouped.output);
  for (const auto* run : {&whole, &grouped}) {
    CHECK_MESSAGE(run->output.find("every token also ran through every expert") != std::string::npos,
                  run->output);
  }
  moe_expert_groups_require_identical_trees(dir / "static-whole", dir / "static-grouped");
}
