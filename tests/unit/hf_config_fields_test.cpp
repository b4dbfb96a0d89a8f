// modelslim/hf_config_fields.hpp: typed config.json reads shared by the model adapters. Missing and null
// fields take the fallback or are refused when required; a wrong type or range is refused naming the file,
// the field and the value.
#include "support/doctest.hpp"

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"
#include "modelslim/hf_config_fields.hpp"

using namespace modelslim;

namespace {

const nlohmann::json kFieldsConfig = nlohmann::json::parse(R"({
  "hidden_size": 64, "zero": 0, "negative": -3, "fraction": 2.5, "word": "silu", "flag": true,
  "nothing": null, "layers": [0, 3, 5], "bad_layers": [1, -2], "not_a_list": 4
})");

std::string refusal(const std::function<void()>& read) {
  try {
    read();
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::kInvalidModel);
    return error.what();
  }
  FAIL("nothing was refused");
  return {};
}

}  // namespace

TEST_CASE("config fields: values as written, fallbacks for absent and null fields") {
  const HfConfigFields read(kFieldsConfig, "/m/config.json");
  CHECK(read.present("hidden_size"));
  CHECK_FALSE(read.present("nothing"));
  CHECK_FALSE(read.present("absent"));
  CHECK(read.positive_int("hidden_size") == 64);
  CHECK(read.positive_int("absent", 7) == 7);
  CHECK(read.positive_int("nothing", 7) == 7);
  CHECK(read.non_negative_int("zero", 9) == 0);
  CHECK(read.number("fraction", 0.0) == 2.5);
  CHECK(read.number("hidden_size", 0.0) == 64.0);  // an integer is a number
  CHECK(read.number("absent", 1e-6) == 1e-6);
  CHECK(read.boolean("flag", false));
  CHECK_FALSE(read.boolean("nothing", false));
  CHECK(read.text("word", "gelu") == "silu");
  CHECK(read.text("absent", "gelu") == "gelu");
  CHECK(read.layer_indices("layers") == std::vector<std::int64_t>{0, 3, 5});
  CHECK(read.layer_indices("absent").empty());
  CHECK(read.file() == "/m/config.json");
}

TEST_CASE(
    "config fields: a missing required field, a wrong type or range is refused, naming file and field") {
  const HfConfigFields read(kFieldsConfig, "/m/config.json");
  CHECK(refusal([&] { read.positive_int("absent"); }) == "/m/config.json: field 'absent' is missing");
  CHECK(refusal([&] { read.positive_int("nothing"); }) == "/m/config.json: field 'nothing' is missing");
  CHECK(refusal([&] { read.positive_int("zero"); }) ==
        "/m/config.json: field 'zero' must be a positive integer, got 0");
  CHECK(refusal([&] { read.positive_int("fraction", 1); }) ==
        "/m/config.json: field 'fraction' must be a positive integer, got 2.5");
  CHECK(refusal([&] { read.non_negative_int("negative", 0); }) ==
        "/m/config.json: field 'negative' must be an integer >= 0, got -3");
  CHECK(refusal([&] { read.number("word", 0.0); }) ==
        "/m/config.json: field 'word' must be a number, got \"silu\"");
  CHECK(refusal([&] { read.boolean("hidden_size", false); }) ==
        "/m/config.json: field 'hidden_size' must be true or false, got 64");
  CHECK(refusal([&] { read.text("flag", ""); }) == "/m/config.json: field 'flag' must be a string, got true");
  CHECK(refusal([&] { read.layer_indices("not_a_list"); }) ==
        "/m/config.json: field 'not_a_list' must be a list of layer indices, got 4");
  CHECK(refusal([&] { read.layer_indices("bad_layers"); }) ==
        "/m/config.json: field 'bad_layers' must hold layer indices >= 0, got -2");
  CHECK(refusal([&] { read.fail("rope_scaling", "must be an object or null"); }) ==
        "/m/config.json: field 'rope_scaling' must be an object or null");
}

TEST_CASE("config fields: rope_scaling's type, and a config that is no object") {
  const nlohmann::json plain = nlohmann::json::parse(R"({"hidden_size": 8})");
  CHECK(HfConfigFields(plain, "c.json").rope_scaling_type().empty());
  const nlohmann::json legacy = nlohmann::json::parse(R"({"rope_scaling": {"type": "linear", "factor": 2}})");
  CHECK(HfConfigFields(legacy, "c.json").rope_scaling_type() == "linear");
  const nlohmann::json both =
      nlohmann::json::parse(R"({"rope_scaling": {"rope_type": "yarn", "type": "x"}})");
  CHECK(HfConfigFields(both, "c.json").rope_scaling_type() == "yarn");
  const nlohmann::json untyped = nlohmann::json::parse(R"({"rope_scaling": {"factor": 2}})");
  CHECK(HfConfigFields(untyped, "c.json").rope_scaling_type() == "default");
  const nlohmann::json listed = nlohmann::json::parse(R"({"rope_scaling": [1]})");
  CHECK(refusal([&] { HfConfigFields(listed, "c.json").rope_scaling_type(); }) ==
        "c.json: field 'rope_scaling' must be an object or null, got [1]");
  const nlohmann::json numbered = nlohmann::json::parse(R"({"rope_scaling": {"rope_type": 3}})");
  CHECK(refusal([&] { HfConfigFields(numbered, "c.json").rope_scaling_type(); }) ==
        "c.json: field 'rope_scaling.rope_type' must be a string, got 3");
  // The fuzzer's first finding: a config.json holding one string.
  const nlohmann::json text = nlohmann::json::parse(R"("aUchitw")");
  CHECK(refusal([&] { HfConfigFields(text, "c.json"); }) ==
        "c.json: expected a JSON object of fields, got string");
}
