// The builtin evaluator's reuse between evaluations (EvaluationReuse): a sequence of evaluations run with
// reuse gives bit-identical metrics to each evaluation run alone by a fresh evaluator, while blocks are
// actually skipped; and every part of the key matters: artifacts differing only in one block's tensor, or
// only in the embedding, are never answered with another's states.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cstring>
#include <fstream>

#include "builtin_evaluator.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

fs::path eval_reuse_make_model(const test::TempDir& dir) {
  const fs::path model = dir / "model";
  const auto made = test::run_command(
      (test::build_dir() / "bin" / "make_random_model").string() + " --config " +
      (test::source_dir() / "data/demo/config.json").string() +
      " --byte-tokenizer --scale 0.05 --set hidden_size=64 --set intermediate_size=128 --set "
      "num_hidden_layers=3 --set num_attention_heads=4 --set num_key_value_heads=2 --set head_dim=16 "
      "--output " +
      model.string());
  REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  return model;
}

// Short samples from the shipped KJV sets keep every forward small.
void write_samples(const fs::path& from, const fs::path& to, std::size_t count, std::size_t chars) {
  const auto texts = read_text_dataset(from);
  std::string lines;
  for (std::size_t i = 0; i < count; ++i)
    lines += nlohmann::json({{"inputs_pretokenized", texts[i].substr(0, chars)}}).dump() + "\n";
  test::write_text(to, lines);
}

fs::path quantize(const test::TempDir& dir, const fs::path& model, const std::string& name,
                  const std::string& exclude) {
  const std::string practice =
      "apiversion: modelslim_v1\nspec:\n  process:\n    - type: linear_quant\n      qconfig:\n"
      "        act: {scope: per_tensor, dtype: int8, symmetric: false}\n"
      "        weight: {scope: per_channel, dtype: int8, symmetric: true}\n"
      "      exclude: [" +
      exclude + "]\n  dataset: " + (dir / "calib.jsonl").string() + "\n";
  test::write_text(dir / (name + ".yaml"), practice);
  const fs::path out = dir / name;
  const auto result = test::run_command(test::modelslim_bin().string() + " quant --model_path " +
                                        model.string() + " --save_path " + out.string() + " --config_path " +
                                        (dir / (name + ".yaml")).string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  return out;
}

// Adds `delta` to float32 element `element` of tensor `name` in the artifact's safetensors file, in place.
void nudge_tensor(const fs::path& artifact, const std::string& name, std::uint64_t element, float delta) {
  fs::path file;
  std::uint64_t offset = 0;
  for (const auto& entry : fs::directory_iterator(artifact)) {
    if (entry.path().extension() != ".safetensors") continue;
    const auto opened = SafetensorsFile::open(entry.path());
    const TensorInfo* info = opened->find(name);
    if (info == nullptr) continue;
    REQUIRE(info->dtype == "F32");
    std::ifstream in(entry.path(), std::ios::binary);
    std::uint64_t header = 0;
    in.read(reinterpret_cast<char*>(&header), sizeof header);
    file = entry.path();
    offset = 8 + header + info->data_begin + element * sizeof(float);
  }
  REQUIRE_MESSAGE(!file.empty(), name << " is not in " << artifact);
  std::fstream io(file, std::ios::binary | std::ios::in | std::ios::out);
  float value = 0;
  io.seekg(static_cast<std::streamoff>(offset));
  io.read(reinterpret_cast<char*>(&value), sizeof value);
  value += delta;
  io.seekp(static_cast<std::streamoff>(offset));
  io.write(reinterpret_cast<const char*>(&value), sizeof value);
}

fs::path copy_artifact(const fs::path& from, const fs::path& to) {
  fs::copy(from, to, fs::copy_options::recursive);
  return to;
}

std::string evaluator_yaml(const test::TempDir& dir) {
  return "{type: builtin, max_tokens: 24, datasets: [{name: held, path: " + (dir / "eval.jsonl").string() +
         ", metrics: [ppl, acc, fidelity]}]}";
}

EvaluationRequest request_for(const fs::path& model, const std::optional<fs::path>& quant) {
  EvaluationRequest request;
  request.model_dir = model;
  request.quant_dir = quant;
  return request;
}

}  // namespace

TEST_CASE("evaluation reuse: bit-identical metrics, blocks skipped, every key part matters") {
  test::TempDir dir("eval-reuse");
  const fs::path model = eval_reuse_make_model(dir);
  write_samples(test::source_dir() / "data/datasets/kjv_calib.jsonl", dir / "calib.jsonl", 3, 100);
  write_samples(test::source_dir() / "data/datasets/kjv_eval.jsonl", dir / "eval.jsonl", 4, 80);
  const fs::path all = quantize(dir, model, "all", "");
  const fs::path last_float = quantize(dir, model, "last-float", "\"*model.layers.2.*\"");
  const fs::path first_float = quantize(dir, model, "first-float", "\"*model.layers.0.*\"");
  // Copies of `all` that differ from it in one place the key must cover: one tensor of block 1, the
  // embedding (outside every block).
  const fs::path block1 = copy_artifact(all, dir / "block1");
  nudge_tensor(block1, "model.layers.1.post_attention_layernorm.weight", 0, 0.5F);
  const fs::path embedding = copy_artifact(all, dir / "embedding");
  // Row 101 (byte 'e' of the byte tokenizer): a token every sample uses.
  nudge_tensor(embedding, "model.embed_tokens.weight", 101 * 64, 0.5F);

  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  const ConfigNode config = parse_yaml_string(evaluator_yaml(dir), "evaluation");
  const std::vector<std::optional<fs::path>> sequence = {std::nullopt, all,    last_float, all,
                                                         first_float,  block1, all,        embedding};

  // Each evaluation alone, by a fresh evaluator without reuse.
  std::vector<EvaluationResult> alone;
  for (const auto& quant : sequence) {
    eval::BuiltinEvaluator evaluator(config, registry);
    alone.push_back(evaluator.evaluate(request_for(model, quant)));
  }
  // The same sequence by one evaluator with reuse, a memory budget of one byte (every state but the
  // newest spills to disk and is read back).
  eval::BuiltinEvaluator evaluator(config, registry);
  ReuseBudget budget;
  budget.memory_bytes = 1;
  budget.spill_dir = dir / "spill";
  dynamic_cast<EvaluationReuse&>(evaluator).enable_reuse(budget);
  for (std::size_t i = 0; i < sequence.size(); ++i) {
    CAPTURE(i);
    const EvaluationResult reused = evaluator.evaluate(request_for(model, sequence[i]));
    REQUIRE(reused.metrics.size() == alone[i].metrics.size());
    for (std::size_t m = 0; m < reused.metrics.size(); ++m) {
      CAPTURE(reused.metrics[m].metric);
      CHECK(std::memcmp(&reused.metrics[m].value, &alone[i].metrics[m].value, sizeof(double)) == 0);
    }
  }
  // The nudged copies measure differently from `all`: the comparison above would have caught a key that
  // left their difference out.
  CHECK(alone[5].metrics.front().value != alone[1].metrics.front().value);
  CHECK(alone[7].metrics.front().value != alone[1].metrics.front().value);
  // Reuse happened: every fidelity reference comes from the kept float states (7 × 3 blocks), `last-float`
  // after `all` starts at block 2, `all` again is all reuse (twice), `block1` reuses block 0 of `all`.
  MESSAGE("blocks run " << evaluator.blocks_run() << ", reused " << evaluator.blocks_reused());
  CHECK(evaluator.blocks_reused() >= 7 * 3 + 2 + 3 + 1 + 3);
  CHECK(evaluator.blocks_run() + evaluator.blocks_reused() == 3 * (sequence.size() + sequence.size() - 1));
}
