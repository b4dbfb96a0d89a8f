// The generator tools (make_random_model, make_random_deepseek, train_demo_model, plant_outliers) never
// delete or write into a directory they did not make: a non-empty --output without their marker is refused
// and left byte-identical, an --output overlapping an input is refused, their own earlier output is replaced
// whole, and a failed run leaves the previous output and every sibling exactly as they were.
#include <fstream>
#include <map>
#include <set>

#include "support/doctest.hpp"

#include "modelslim/json_file.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

const char* const kMarker = ".modelslim-generated";

test::CommandResult tool(const std::string& name, const std::string& args) {
  return test::run_command((test::build_dir() / "bin" / name).string() + " " + args);
}

fs::path fake_llama() {
  return test::shared_dir() / "data" / "fake_llama";
}

// A tiny generated Llama (1 layer) at `out`.
test::CommandResult make_tiny(const fs::path& out, const std::string& extra = "") {
  return tool("make_random_model", "--config " + fake_llama().string() +
                                       " --set num_hidden_layers=1 --output " + out.string() + " " + extra);
}

// Every file and directory under `dir` (recursively) with the bytes of each file.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string name = fs::relative(entry.path(), dir).string();
    files[name] = entry.is_regular_file() ? test::read_text(entry.path()) : "<dir>";
  }
  return files;
}

// A user's model directory: a config.json, weights, notes — and no marker.
fs::path users_model(const fs::path& dir) {
  const fs::path model = dir / "my-model";
  fs::create_directories(model / "sub");
  fs::copy_file(fake_llama() / "config.json", model / "config.json");
  test::write_text(model / "model.safetensors", "the user's real weights");
  test::write_text(model / "sub" / "notes.txt", "keep me");
  return model;
}

}  // namespace

TEST_CASE("a non-empty --output without the marker is refused by every generator and left byte-identical") {
  test::TempDir dir("gen-refuse");
  const fs::path model = users_model(dir.path());
  const auto before = snapshot(model);
  const fs::path corpus = dir / "corpus.txt";
  test::write_text(corpus, "Gen1:1 In the beginning God created the heaven and the earth.\n");
  const fs::path generated = dir / "generated";
  REQUIRE_MESSAGE(make_tiny(generated).exit_code == 0, "make_random_model failed");

  const std::map<std::string, std::string> runs = {
      {"make_random_model", "--config " + fake_llama().string() + " --output " + model.string()},
      {"make_random_deepseek", "--config-only --output " + model.string()},
      {"train_demo_model", "--corpus " + corpus.string() + " --steps 1 --output " + model.string()},
      {"plant_outliers", "--model_path " + generated.string() + " --output " + model.string()}};
  for (const auto& [name, args] : runs) {
    CAPTURE(name);
    const auto result = tool(name, args);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find(model.string()) != std::string::npos);
    CHECK(result.output.find(kMarker) != std::string::npos);
    CHECK(result.output.find("choose another --output") != std::string::npos);
    CHECK(snapshot(model) == before);
  }
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path())) names.insert(entry.path().filename().string());
  CHECK(names == std::set<std::string>{"corpus.txt", "generated", "my-model"});  // no stage left behind
}

TEST_CASE("a generator replaces its own earlier output whole and touches no sibling") {
  test::TempDir dir("gen-replace");
  const fs::path out = dir / "out";
  // The old tools staged in "<out>.partial" and deleted whatever was there first.
  test::write_text(dir / "out.partial" / "keep.txt", "a user's file");
  REQUIRE(make_tiny(out, "--seed 1").exit_code == 0);
  CHECK(read_json_file(out / kMarker)["tool"] == "make_random_model");
  test::write_text(out / "stray.txt", "left by the previous run");
  const std::string first_weights = test::read_text(out / "model.safetensors");

  const auto again = make_tiny(out, "--seed 2");
  REQUIRE_MESSAGE(again.exit_code == 0, again.output);
  CHECK_FALSE(fs::exists(out / "stray.txt"));
  CHECK(fs::exists(out / kMarker));
  CHECK(test::read_text(out / "model.safetensors") != first_weights);
  CHECK(test::read_text(dir / "out.partial" / "keep.txt") == "a user's file");

  // make_random_deepseek replaces an output make_random_model made (both carry the generator marker).
  const auto deepseek = tool("make_random_deepseek", "--config-only --output " + out.string());
  REQUIRE_MESSAGE(deepseek.exit_code == 0, deepseek.output);
  CHECK(read_json_file(out / kMarker)["tool"] == "make_random_deepseek");
  CHECK(read_json_file(out / "config.json")["model_type"] == "deepseek_v2");
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path())) names.insert(entry.path().filename().string());
  CHECK(names == std::set<std::string>{"out", "out.partial"});
}

TEST_CASE(
    "a generation that fails after writing weights leaves the previous output and its siblings as they "
    "were") {
  test::TempDir dir("gen-fail");
  const fs::path out = dir / "out";
  REQUIRE(make_tiny(out).exit_code == 0);
  test::write_text(dir / "out.partial" / "keep.txt", "a user's file");  // the old tools' staging name
  const auto before = snapshot(dir.path());
  fs::create_directories(dir / "empty-tokenizer");  // found missing only after the weights are written

  const auto failed = make_tiny(out, "--seed 3 --tokenizer-from " + (dir / "empty-tokenizer").string());
  CHECK(failed.exit_code == 1);
  CHECK(failed.output.find("no tokenizer.json") != std::string::npos);
  fs::remove(dir / "empty-tokenizer");
  CHECK(snapshot(dir.path()) == before);
}

TEST_CASE("an --output that is, lies inside or contains an input is refused") {
  test::TempDir dir("gen-overlap");
  const fs::path generated = dir / "generated";
  REQUIRE(make_tiny(generated).exit_code == 0);
  const auto before = snapshot(dir.path());

  auto result =
      tool("plant_outliers", "--model_path " + generated.string() + " --output " + generated.string());
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("--output " + generated.string() + " is --model_path") != std::string::npos);

  result = make_tiny(generated / "inner", "--tokenizer-from " + fake_llama().string());
  CHECK(result.exit_code == 0);  // inside a generated model, but no input there: allowed
  fs::remove_all(generated / "inner");

  result = tool("make_random_model",
                "--config " + (generated / "config.json").string() + " --output " + generated.string());
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("contains --config") != std::string::npos);

  result = tool("make_random_model", "--config " + fake_llama().string() + " --tokenizer-from " +
                                         generated.string() + " --output " + (generated / "copy").string());
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("lies inside --tokenizer-from") != std::string::npos);
  CHECK(snapshot(dir.path()) == before);
}
