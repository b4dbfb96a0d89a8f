// Regression cases for what the fuzzers (fuzz/, scripts/fuzz.sh) and the bad-input review found: each input
// below once escaped as a foreign exception, read out of bounds or recursed without end; every parser must
// now refuse it with a modelslim::Error naming the file. See docs/fuzzing.md.
#include "support/doctest.hpp"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>

#include "deepseek_config.hpp"
#include "llama_config.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/core/practice_config.hpp"
#include "modelslim/core/tune_history.hpp"
#include "modelslim/core/tune_plan.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/deployed_model.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"
#include "moe_config.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

// The message of the modelslim::Error that `parse` throws; fails the test for any other outcome.
template <typename Parse>
std::string hostile_input_refusal(Parse&& parse) {
  try {
    parse();
  } catch (const Error& error) {
    return error.what();
  } catch (const std::exception& error) {
    FAIL("a foreign exception escaped: " << error.what());
  }
  FAIL("the input was accepted");
  return {};
}

using modelslim::test::contains;

std::string nested_json_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

const char* kMinimalVocab =
    R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";

}  // namespace

// ------------------------------------------------------------------------------------------- YAML

TEST_CASE("YAML: a list used as a mapping key is a config error (fuzz: tune_plan_fuzz)") {
  const std::string text =
      "strategy: {type: x}\nevaluation:\n  demand:\n    expectations:\n"
      "      - {dataset: e, [[]], target: 1}\n";
  const std::string message =
      hostile_input_refusal([&] { core::parse_tune_plan(parse_yaml_string(text, "plan.yaml")); });
  CHECK(contains(message, "plan.yaml:5:"));
  CHECK(contains(message, "a mapping key must be a plain name, got a list"));
  CHECK(contains(hostile_input_refusal([&] { parse_yaml_string("{[a]: 1}", "k.yaml").keys(); }), "k.yaml"));
}

TEST_CASE("YAML: a missing field read as a value says 'got nothing' (fuzz: practice_yaml_fuzz)") {
  const ConfigNode root = parse_yaml_string("a: 1\nlist: [x]\n", "p.yaml");
  CHECK(contains(hostile_input_refusal([&] { root["b"].as_string(); }), "b: expected a string, got nothing"));
  CHECK(contains(hostile_input_refusal([&] { root["b"]["c"].as_int(); }),
                 "b.c: expected an integer, got nothing"));
  CHECK(contains(hostile_input_refusal([&] { root["list"].at(5).as_bool(); }),
                 "list.5: expected true or false"));
}

TEST_CASE("YAML: an alias inside its own anchor is refused when the file is read") {
  const std::string message =
      hostile_input_refusal([] { parse_yaml_string("a: &loop [1, *loop]\n", "loop.yaml"); });
  CHECK(contains(message, "loop.yaml:1:"));
  CHECK(contains(message, "an alias refers to its own anchor"));
}

TEST_CASE("YAML: nested aliases that expand to a billion nodes are refused") {
  std::string text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 9; ++level) {
    const std::string prev = "*l" + std::to_string(level - 1);
    text += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", " : "") + prev;
    text += "]\n";
  }
  CHECK(contains(hostile_input_refusal([&] { parse_yaml_string(text, "laughs.yaml"); }), "billion laughs"));
  // The same aliases a few times over stay legal (the practice_config tests use anchors too).
  CHECK_NOTHROW(parse_yaml_string("a: &q {x: 1}\nb: [*q, *q, *q]\n", "ok.yaml"));
}

TEST_CASE("YAML: a label bit width beyond int is refused, not wrapped") {
  const std::string text = "apiversion: modelslim_v1\nmetadata: {label: {w_bit: 4294967304}}\n";
  const std::string message =
      hostile_input_refusal([&] { core::parse_practice_config(parse_yaml_string(text, "practice.yaml")); });
  CHECK(contains(message, "metadata.label.w_bit: expected a bit width in 0..64"));
}

// ------------------------------------------------------------------------------------------- JSON

TEST_CASE("tokenizer.json: negative, huge and non-integer ids are refused") {
  const auto load = [](const std::string& text) { return Tokenizer::from_json_text(text, "tok.json"); };
  CHECK(contains(
      hostile_input_refusal([&] { load(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": -7}}})"); }),
      "model.vocab: token 'b' has id -7"));
  CHECK(contains(hostile_input_refusal([&] {
                   load(std::string("{") + kMinimalVocab +
                        R"(, "added_tokens": [{"id": 4611686018427387904, "content": "<huge>"}]})");
                 }),
                 "added_tokens: token '<huge>' has id 4611686018427387904"));
  CHECK(contains(hostile_input_refusal([&] { load(R"({"model": {"type": "BPE", "vocab": {"a": 1.5}}})"); }),
                 "tok.json"));
}

TEST_CASE("tokenizer.json: a component without its required key is refused, not read past the end") {
  for (const std::string component :
       {R"("normalizer": {"type": "Sequence"})", R"("normalizer": {"type": "Prepend"})",
        R"("pre_tokenizer": {"type": "Split"})", R"("post_processor": {"type": "TemplateProcessing"})",
        R"("post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}]})"}) {
    CAPTURE(component);
    const std::string text = std::string("{") + kMinimalVocab + ", " + component + "}";
    CHECK(contains(hostile_input_refusal([&] { Tokenizer::from_json_text(text, "tok.json"); }), "tok.json"));
  }
  const std::string out_of_vocab =
      std::string("{") + kMinimalVocab +
      R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}],
          "special_tokens": {"<s>": {"ids": [99]}}}})";
  CHECK(
      contains(hostile_input_refusal([&] { Tokenizer::from_json_text(out_of_vocab, "tok.json"); }), "id 99"));
}

TEST_CASE("tokenizer: decoding a '<0xZZ>' token that is not a hex byte keeps the text") {
  const Tokenizer tokenizer = Tokenizer::from_json_text(
      R"({"model": {"type": "BPE", "vocab": {"<0xZZ>": 0, "<0x41>": 1}, "byte_fallback": true}})",
      "tok.json");
  CHECK(tokenizer.decode({0, 1}) == "<0xZZ>A");
}

TEST_CASE("JSON nested a million levels deep is refused by every reader, not recursed into") {
  const std::string deep = nested_json_arrays(1000000);
  CHECK(contains(hostile_input_refusal([&] { Tokenizer::from_json_text(deep, "tok.json"); }),
                 "nested deeper than 128"));

  test::TempDir dir("hostile-json");
  const std::string header = R"({"t": {"dtype": "F32", "shape": )" + deep + R"(, "data_offsets": [0, 0]}})";
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  test::write_text(dir / "deep.safetensors", prefix + header);
  const std::string message = hostile_input_refusal([&] { SafetensorsFile::open(dir / "deep.safetensors"); });
  CHECK(contains(message, "deep.safetensors"));
  CHECK(contains(message, "nested deeper than 128"));

  test::write_text(dir / "quant_model_description.json", deep);
  CHECK(contains(
      hostile_input_refusal([&] { eval::read_quant_description(dir / "quant_model_description.json"); }),
      "nested deeper than 128"));
}

TEST_CASE("quant_model_description.json: not an object, or a tensor entry that is not a type string") {
  test::TempDir dir("hostile-description");
  const fs::path file = dir / "quant_model_description.json";
  test::write_text(file, "[\"W8A8\"]");
  CHECK(
      contains(hostile_input_refusal([&] { eval::read_quant_description(file); }), "expected a JSON object"));
  test::write_text(file, R"({"version": "1.0.0", "group_size": 0, "model.layers.0.mlp.up_proj.weight": 8})");
  const std::string message = hostile_input_refusal([&] { eval::read_quant_description(file); });
  CHECK(contains(message, file.string()));
  CHECK(contains(message, "entry 'model.layers.0.mlp.up_proj.weight' must be a type string"));
  test::write_text(file, R"({"version": "1.0.0", "group_size": 0, "metadata": {}, "a.weight": "W8A8"})");
  CHECK(eval::read_quant_description(file) == eval::QuantDescription{{"a.weight", "W8A8"}});
}

TEST_CASE("tune history: a stored result that is not the expected JSON is an Error") {
  for (const std::string text : {"[1]", "{\"ok\": 3}", "{\"metrics\": [5]}",
                                 "{\"metrics\": [{\"value\": \"x\", \"metric\": 1}]}", "not json"}) {
    CAPTURE(text);
    CHECK(contains(hostile_input_refusal([&] { core::result_from_json(text); }),
                   "unreadable evaluation result"));
  }
  // A null value is how older histories stored a non-finite metric: it reads back as NaN (docs/tuning.md).
  CHECK(std::isnan(
      core::result_from_json(std::string(R"({"metrics": [{"value": null}]})")).metrics.at(0).value));
}

// ------------------------------------------------------------------------------------------- datasets

TEST_CASE("dataset: invalid UTF-8 is refused naming the line") {
  test::TempDir dir("hostile-dataset");
  const std::vector<std::string> bad = {"\xC3\x28",
                                        "\xE0\x80\xAF" /* overlong '/' */,
                                        "\xED\xA0\x80" /* surrogate */,
                                        "\xF4\x90\x80\x80" /* > U+10FFFF */,
                                        "\xF0\x9F\x98" /* cut short */,
                                        "\xFF"};
  for (const std::string& bytes : bad) {
    test::write_text(dir / "d.jsonl", "fine\nthen " + bytes + " here\n");
    const std::string message = hostile_input_refusal([&] { read_text_dataset(dir / "d.jsonl"); });
    CHECK(contains(message, "line 2 is not valid UTF-8 (byte 5)"));
  }
  test::write_text(dir / "ok.jsonl", "caf\xC3\xA9 \xE2\x96\x81 \xF0\x9F\x98\x80 \xEF\xBB\xBF\n");
  CHECK(read_text_dataset(dir / "ok.jsonl").size() == 1);
}

TEST_CASE("dataset: one sample above 8 MiB is refused naming the line") {
  test::TempDir dir("hostile-dataset");
  {
    std::ofstream out(dir / "big.jsonl", std::ios::binary);
    out << "short\n" << std::string((std::size_t{8} << 20) + 1, 'a') << "\n";
  }
  CHECK(contains(hostile_input_refusal([&] { read_text_dataset(dir / "big.jsonl"); }),
                 "line 2 is 8388609 bytes"));
}

TEST_CASE(
    "JSON numbers beyond double range are parse errors naming the file (fuzz: quant_description_fuzz)") {
  test::TempDir dir("hostile-number");
  test::write_text(dir / "quant_model_description.json", R"({"a.weight": 55555555.5e99999999999900})");
  const std::string message =
      hostile_input_refusal([&] { eval::read_quant_description(dir / "quant_model_description.json"); });
  CHECK(contains(message, "quant_model_description.json: not valid JSON"));
  CHECK(contains(message, "number overflow"));

  const std::string header = R"({"t": {"dtype": "F32", "shape": [1e99999], "data_offsets": [0, 4]}})";
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  test::write_text(dir / "big.safetensors", prefix + header + "0000");
  CHECK(contains(hostile_input_refusal([&] { SafetensorsFile::open(dir / "big.safetensors"); }),
                 "header is not valid JSON"));

  CHECK(
      contains(hostile_input_refusal([&] { Tokenizer::from_json_text(R"({"model": 1e99999})", "tok.json"); }),
               "tok.json: not valid JSON"));
  // In JSONL such a line is not a JSON object, so it is a plain-text sample, as every other such line.
  test::write_text(dir / "d.jsonl", "{\"inputs_pretokenized\": \"x\", \"n\": 1e99999}\n");
  CHECK(read_text_dataset(dir / "d.jsonl") ==
        std::vector<std::string>{"{\"inputs_pretokenized\": \"x\", \"n\": 1e99999}"});
}

TEST_CASE(
    "config.json: no object, or a text field of another type, is a model error (fuzz: hf_config_fuzz)") {
  const fs::path root = test::source_dir();
  struct Family {
    const char* name;
    fs::path config;
    std::function<void(const nlohmann::json&)> parse;
  };
  const std::vector<Family> families = {
      {"llama", root / "data" / "demo" / "config.json",
       [](const nlohmann::json& c) { llama::parse_llama_config(c, "/m"); }},
      {"moe", root / "data" / "demo-moe-model" / "config.json",
       [](const nlohmann::json& c) { moe::parse_moe_config(c, "/m"); }},
      {"deepseek", root / "fuzz" / "corpus" / "hf_config" / "deepseek_v3.json",
       [](const nlohmann::json& c) { deepseek::parse_deepseek_config(c, "/m"); }}};
  for (const Family& family : families) {
    CAPTURE(family.name);
    const nlohmann::json good = read_json_file(family.config);
    CHECK_NOTHROW(family.parse(good));
    std::vector<nlohmann::json> bad = {nlohmann::json("aUchitw"), nlohmann::json::array()};
    for (const char* field : {"model_type", "hidden_act"}) {
      nlohmann::json changed = good;
      changed[field] = 5;
      bad.push_back(changed);
    }
    nlohmann::json rope = good;
    rope["rope_scaling"] = {{"rope_type", 3}};
    bad.push_back(rope);
    for (const nlohmann::json& config : bad) {
      CAPTURE(config.dump().substr(0, 80));
      try {
        family.parse(config);
        FAIL("accepted");
      } catch (const Error& error) {
        CHECK(error.code() == ErrorCode::kInvalidModel);
        CHECK(std::string(error.what()).find("/m/config.json") != std::string::npos);
      }
    }
  }
}
