// Hostile input to the built CLI, one defect per case on a tiny random model: safetensors, config.json,
// tokenizer.json, datasets and YAML. Every case must end in a clear error naming the file, exit != 0 without
// a signal, and nothing written (no save path, no .partial staging directory). See docs/fuzzing.md.
#include "support/doctest.hpp"

#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace fs = std::filesystem;
using modelslim::test::CommandResult;
using modelslim::test::TempDir;
namespace test = modelslim::test;

namespace {

const char* const kConfig = modelslim::test::kW8A8Practice;

// A safetensors file split into its JSON header and its data section.
struct Safetensors {
  nlohmann::json header;
  std::string data;
};

Safetensors read_safetensors(const fs::path& file) {
  const std::string bytes = test::read_text(file);
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[i]);
  return {nlohmann::json::parse(bytes.substr(8, length)), bytes.substr(8 + length)};
}

std::string length_prefix(std::uint64_t length) {
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return prefix;
}

void write_safetensors(const fs::path& file, const Safetensors& contents) {
  const std::string header = contents.header.dump();
  test::write_text(file, length_prefix(header.size()) + header + contents.data);
}

// The tiny random model every case starts from, made once per process: each fixture edits its own copy.
const fs::path& pristine_model() {
  static const TempDir dir{"bad-input-model"};
  static const fs::path model = [] {
    const fs::path fake = test::shared_dir() / "data" / "fake_llama";
    const fs::path made_model = dir / "model";
    const auto made =
        test::run_command((test::build_dir() / "bin" / "make_random_model").string() + " --config " +
                          fake.string() + " --tokenizer-from " + fake.string() + " --output " +
                          made_model.string() + " --seed 1 --set num_hidden_layers=1");
    if (made.exit_code != 0) throw std::runtime_error("make_random_model failed:\n" + made.output);
    return made_model;
  }();
  return model;
}

struct BadInputFixture {
  TempDir dir{"bad-input"};
  fs::path model = dir / "model";
  fs::path save = dir / "out";
  fs::path config = dir / "config.yaml";
  fs::path dataset = dir / "calib.jsonl";
  fs::path weights = model / "model.safetensors";

  BadInputFixture() {
    fs::copy(pristine_model(), model, fs::copy_options::recursive);
    test::write_text(dataset,
                     "{\"inputs_pretokenized\": \"In the beginning God created the heaven\"}\n"
                     "And the earth was without form, and void.\n");
    write_config(kConfig);
  }
  void write_config(const std::string& text) const {
    test::write_text(config, test::with_dataset(text, dataset));
  }
  CommandResult quant() const {
    return test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                             " --save_path " + save.string() + " --config_path " + config.string());
  }
  // Exit != 0 without a signal, a message naming `file` and each of `parts`, and nothing written.
  void expect_refused(const CommandResult& result, const fs::path& file,
                      const std::vector<std::string>& parts = {}) const {
    CAPTURE(result.output);
    CHECK(result.exit_code != 0);
    CHECK_MESSAGE(result.exit_code < 128, "killed by a signal");
    CHECK_MESSAGE(result.output.find(file.string()) != std::string::npos, "the message names " << file);
    for (const auto& part : parts) CHECK_MESSAGE(result.output.find(part) != std::string::npos, part);
    CHECK_FALSE(fs::exists(save));
    for (const auto& entry : fs::directory_iterator(dir.path())) {
      CHECK_MESSAGE(entry.path().filename().string().find(".partial") == std::string::npos, entry.path());
    }
  }
  // Rewrites one field of one tensor's header entry, keeping the data section.
  void edit_tensor(const std::string& tensor, const std::string& field, const nlohmann::json& value) const {
    Safetensors contents = read_safetensors(weights);
    REQUIRE(contents.header.contains(tensor));
    contents.header[tensor][field] = value;
    write_safetensors(weights, contents);
  }
  void edit_config(const std::string& key, const nlohmann::json* value) const {
    nlohmann::json hf = nlohmann::json::parse(test::read_text(model / "config.json"));
    if (value == nullptr) {
      hf.erase(key);
    } else {
      hf[key] = *value;
    }
    test::write_text(model / "config.json", hf.dump(2));
  }
};

const std::string kNorm = "model.layers.0.input_layernorm.weight";
const std::string kOtherNorm = "model.layers.0.post_attention_layernorm.weight";

}  // namespace

TEST_CASE("the fixture itself quantizes (so every refusal below comes from its one defect)") {
  BadInputFixture f;
  const auto result = f.quant();
  CHECK_MESSAGE(result.exit_code == 0, result.output);
}

// ------------------------------------------------------------------------------------------- safetensors

TEST_CASE("safetensors: header cut off in the middle") {
  BadInputFixture f;
  const Safetensors contents = read_safetensors(f.weights);
  const std::string header = contents.header.dump();
  test::write_text(f.weights, length_prefix(header.size()) + header.substr(0, header.size() / 2));
  f.expect_refused(f.quant(), f.weights);
}

TEST_CASE("safetensors: shorter than the 8-byte length prefix") {
  BadInputFixture f;
  test::write_text(f.weights, "\x10\x00\x00");
  f.expect_refused(f.quant(), f.weights, {"8-byte header length"});
}

TEST_CASE("safetensors: header length past the end of the file") {
  BadInputFixture f;
  std::string bytes = test::read_text(f.weights);
  bytes.replace(0, 8, length_prefix(bytes.size()));
  test::write_text(f.weights, bytes);
  f.expect_refused(f.quant(), f.weights, {"exceeds the file size"});
}

TEST_CASE("safetensors: data_offsets past the end of the data section") {
  BadInputFixture f;
  const Safetensors contents = read_safetensors(f.weights);
  const std::uint64_t size = contents.data.size();
  f.edit_tensor(kNorm, "data_offsets", {size - 4, size + 508});  // still 512 bytes = 128 floats
  f.expect_refused(f.quant(), f.weights, {kNorm, "exceed the data section"});
}

TEST_CASE("safetensors: two tensors share bytes") {
  BadInputFixture f;
  const Safetensors contents = read_safetensors(f.weights);
  f.edit_tensor(kOtherNorm, "data_offsets", contents.header[kNorm]["data_offsets"]);
  f.expect_refused(f.quant(), f.weights, {"overlap"});
}

TEST_CASE("safetensors: unknown dtype") {
  BadInputFixture f;
  f.edit_tensor(kNorm, "dtype", "F8_E5M2");
  f.expect_refused(f.quant(), f.weights, {kNorm, "unsupported dtype 'F8_E5M2'"});
}

TEST_CASE("safetensors: shape does not match the stored bytes") {
  BadInputFixture f;
  f.edit_tensor(kNorm, "shape", {64});
  f.expect_refused(f.quant(), f.weights, {kNorm, "hold 512 bytes"});
}

TEST_CASE("safetensors: header is JSON but not an object") {
  BadInputFixture f;
  const std::string header = "[1, 2, 3]";
  test::write_text(f.weights, length_prefix(header.size()) + header);
  f.expect_refused(f.quant(), f.weights, {"header must be a JSON object"});
}

// ------------------------------------------------------------------------------------------- config.json

TEST_CASE("config.json: a required key is missing") {
  BadInputFixture f;
  f.edit_config("hidden_size", nullptr);
  f.expect_refused(f.quant(), f.model / "config.json", {"hidden_size"});
}

TEST_CASE("config.json: wrong types") {
  BadInputFixture f;
  const nlohmann::json text = "128";
  f.edit_config("hidden_size", &text);
  f.expect_refused(f.quant(), f.model / "config.json", {"hidden_size"});

  BadInputFixture g;
  const nlohmann::json list = nlohmann::json::array({1, 2});
  g.edit_config("rms_norm_eps", &list);
  g.expect_refused(g.quant(), g.model / "config.json", {"rms_norm_eps"});
}

TEST_CASE("config.json: absurd sizes") {
  BadInputFixture f;
  const nlohmann::json float_size = 1e12;
  f.edit_config("hidden_size", &float_size);
  f.expect_refused(f.quant(), f.model / "config.json", {"hidden_size"});

  // An integer size that the tensors do not have: refused when the shapes are compared, before any work.
  BadInputFixture g;
  const nlohmann::json huge = std::int64_t{1000000000000};
  g.edit_config("hidden_size", &huge);
  g.expect_refused(g.quant(), g.model,
                   {"model.embed_tokens.weight", "config.json implies [29, 1000000000000]"});
}

TEST_CASE("config.json: not JSON") {
  BadInputFixture f;
  test::write_text(f.model / "config.json", "{\"hidden_size\": 128,");
  f.expect_refused(f.quant(), f.model / "config.json", {"not valid JSON"});
}

// ------------------------------------------------------------------------------------------- tokenizer.json

TEST_CASE("tokenizer.json: malformed JSON") {
  BadInputFixture f;
  test::write_text(f.model / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
  f.expect_refused(f.quant(), f.model / "tokenizer.json", {"not valid JSON"});
}

TEST_CASE("tokenizer.json: ids that are negative or absurdly large") {
  BadInputFixture f;
  const char* vocab = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": -7}, "merges": []}})";
  test::write_text(f.model / "tokenizer.json", vocab);
  f.expect_refused(f.quant(), f.model / "tokenizer.json", {"'b'"});

  BadInputFixture g;
  const char* huge = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                         "added_tokens": [{"id": 4611686018427387904, "content": "<huge>"}]})";
  test::write_text(g.model / "tokenizer.json", huge);
  g.expect_refused(g.quant(), g.model / "tokenizer.json", {"<huge>"});
}

// ------------------------------------------------------------------------------------------- datasets

TEST_CASE("dataset: empty") {
  BadInputFixture f;
  test::write_text(f.dataset, "");
  f.expect_refused(f.quant(), f.dataset, {"no samples"});
}

TEST_CASE("dataset: binary bytes") {
  BadInputFixture f;
  std::string bytes;
  for (int i = 0; i < 4096; ++i) bytes += static_cast<char>((i * 131 + 7) % 256);
  test::write_text(f.dataset, bytes);
  f.expect_refused(f.quant(), f.dataset, {"not valid UTF-8"});
}

TEST_CASE("dataset: invalid UTF-8 in one line") {
  BadInputFixture f;
  test::write_text(f.dataset, "In the beginning\nGod created \xC3\x28 the heaven\n");
  f.expect_refused(f.quant(), f.dataset, {"line 2", "not valid UTF-8"});

  BadInputFixture g;
  g.dataset = g.dir / "calib.json";
  g.write_config(kConfig);
  test::write_text(g.dataset, "[\"fine\", \"bro\xF0\x9F\x98ken\"]");
  g.expect_refused(g.quant(), g.dataset);
}

TEST_CASE("dataset: a 100 MB line") {
  BadInputFixture f;
  {
    std::ofstream out(f.dataset, std::ios::binary | std::ios::trunc);
    out << "In the beginning\n";
    const std::string chunk(1 << 20, 'a');
    for (int i = 0; i < 100; ++i) out << chunk;
    out << "\n";
  }
  f.expect_refused(f.quant(), f.dataset, {"line 2"});
}

// ------------------------------------------------------------------------------------------- YAML

// Nine levels of ten aliases each: a billion nodes if anything expanded it.
std::string billion_laughs(const std::string& key, const std::string& indent = "") {
  std::string text =
      indent + key + ":\n" + indent + "  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int level = 1; level <= 9; ++level) {
    const std::string prev = "*l" + std::to_string(level - 1);
    text += indent + "  l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", " : "") + prev;
    text += "]\n";
  }
  return text;
}

TEST_CASE("YAML: billion laughs") {
  BadInputFixture f;
  f.write_config(std::string(kConfig) + billion_laughs("metadata"));
  f.expect_refused(f.quant(), f.config, {"alias"});
}

TEST_CASE("YAML: an anchor that contains its own alias") {
  BadInputFixture f;
  f.write_config(std::string(kConfig) + "metadata: &loop {config_id: x, verified_tags: *loop}\n");
  f.expect_refused(f.quant(), f.config, {"alias"});
}

TEST_CASE("YAML: billion laughs in a tune plan") {
  BadInputFixture f;
  const fs::path plan = f.dir / "plan.yaml";
  test::write_text(plan,
                   "strategy: {type: standing_high}\n"
                   "evaluation:\n  type: builtin\n  demand: {expectations: [{dataset: e, target: 1}]}\n" +
                       billion_laughs("extra", "  "));
  const auto result =
      test::run_command(test::modelslim_bin().string() + " tune --model_path " + f.model.string() +
                        " --save_path " + f.save.string() + " --config " + plan.string());
  CAPTURE(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.exit_code < 128);
  CHECK(result.output.find(plan.string()) != std::string::npos);
  CHECK(result.output.find("alias") != std::string::npos);
}

TEST_CASE("YAML: numbers too large for their field") {
  BadInputFixture f;
  std::string text = kConfig;
  text.replace(text.find("weight: {scope: per_channel, dtype: int8}"), 41,
               "weight: {scope: per_channel, dtype: int8, ext: {step: 4294967346}}");
  f.write_config(text);
  f.expect_refused(f.quant(), f.config, {"step"});

  BadInputFixture g;
  g.write_config(std::string(kConfig) + "metadata: {label: {w_bit: 4294967304}}\n");
  g.expect_refused(g.quant(), g.config, {"w_bit"});

  BadInputFixture h;
  h.write_config(std::string(kConfig) + "metadata: {score: 1e999}\n");
  h.expect_refused(h.quant(), h.config, {"score"});
}

TEST_CASE("YAML: wrong types") {
  BadInputFixture f;
  f.write_config("apiversion: modelslim_v1\nspec:\n  process: linear_quant\n  dataset: DATASET\n");
  f.expect_refused(f.quant(), f.config, {"spec.process"});

  BadInputFixture g;
  g.write_config("- apiversion: modelslim_v1\n- spec: {dataset: DATASET}\n");
  g.expect_refused(g.quant(), g.config, {"expected a mapping"});
}
