// Datasets in the reference formats, name lookup, and errors naming the file and line.
#include "support/doctest.hpp"

#include "modelslim/dataset.hpp"
#include "modelslim/error.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

using Samples = std::vector<std::string>;

std::string dataset_error(const fs::path& file) {
  try {
    read_text_dataset(file);
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::kInvalidDataset);
    return error.what();
  }
  FAIL("expected " << file << " to be refused");
  return {};
}

using modelslim::test::contains;

}  // namespace

TEST_CASE("JSONL: inputs_pretokenized, else the raw line; blank lines skipped") {
  test::TempDir dir("ds");
  test::write_text(dir / "a.jsonl",
                   "{\"inputs_pretokenized\": \"first\", \"targets\": \"x\"}\n"
                   "plain text line\n"
                   "\n"
                   "   \t \n"
                   "{\"other\": 1}\r\n"
                   "{not json, starts with a brace}\n"
                   "42\n"
                   "[\"an\", \"array\"]\n"
                   "{\"inputs_pretokenized\": \"unicode: caf\xc3\xa9 \\u4e2d\\n2nd line\"}\r\n"
                   "last line without newline");
  CHECK(read_text_dataset(dir / "a.jsonl") ==
        Samples{"first", "plain text line", "{\"other\": 1}", "{not json, starts with a brace}", "42",
                "[\"an\", \"array\"]", "unicode: caf\xc3\xa9 \xe4\xb8\xad\n2nd line",
                "last line without newline"});
  // Any extension other than .json reads as JSONL; a UTF-8 byte-order mark is not part of the first sample.
  test::write_text(dir / "b.txt", "\xEF\xBB\xBFhello\n  indented stays indented\n");
  CHECK(read_text_dataset(dir / "b.txt") == Samples{"hello", "  indented stays indented"});
}

TEST_CASE(".json: an array of strings") {
  test::TempDir dir("ds-json");
  test::write_text(dir / "b.json", "[\"x\", \"y z\",\n \"\"]");
  CHECK(read_text_dataset(dir / "b.json") == Samples{"x", "y z", ""});
  test::write_text(dir / "bom.json", "\xEF\xBB\xBF[\"a\"]");
  CHECK(read_text_dataset(dir / "bom.json") == Samples{"a"});
}

TEST_CASE("the reference's calibration set and the project's default set") {
  const auto mix =
      read_text_dataset(test::shared_dir() / "data" / "msmodelslim_lab_calib" / "mix_calib.jsonl");
  CHECK(mix.size() == 48);
  for (const auto& sample : mix) CHECK_FALSE(sample.empty());
  CHECK(mix[0].rfind("Question: Kenny is selling his Pokemon cards", 0) == 0);  // the field, not the line
  const auto kjv = read_text_dataset(test::source_dir() / "data" / "datasets" / "kjv_calib.jsonl");
  CHECK(kjv.size() == 46);
  CHECK(kjv[0].rfind("In the beginning God created", 0) == 0);
}

TEST_CASE("lookup by name in dataset directories") {
  test::TempDir dir("ds-lookup");
  test::write_text(dir / "sets" / "calib.jsonl", "x\n");
  test::write_text(dir / "later" / "calib.jsonl", "y\n");
  CHECK(resolve_dataset("calib.jsonl", {dir / "nowhere", dir / "sets", dir / "later"}) ==
        dir / "sets" / "calib.jsonl");
  // An existing path wins over the directories.
  const fs::path direct = dir / "later" / "calib.jsonl";
  CHECK(resolve_dataset(direct.string(), {dir / "sets"}) == direct);
  try {
    resolve_dataset("missing.jsonl", {dir / "sets", dir / "nowhere"});
    FAIL("expected missing.jsonl to be refused");
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::kInvalidDataset);
    CHECK(contains(error.what(), "'missing.jsonl' not found"));
    CHECK(contains(error.what(), (dir / "sets" / "missing.jsonl").string()));
    CHECK(contains(error.what(), (dir / "nowhere" / "missing.jsonl").string()));
  }
  // An absolute path is not looked up in the directories.
  CHECK_THROWS_WITH_AS(resolve_dataset((dir / "abs.jsonl").string(), {dir / "sets"}),
                       doctest::Contains("abs.jsonl"), Error);
}

TEST_CASE("bad datasets name the file (and the line or element)") {
  test::TempDir dir("ds-bad");
  CHECK(contains(dataset_error(dir / "none.jsonl"), "none.jsonl: dataset file not found"));
  fs::create_directories(dir / "folder.jsonl");
  CHECK(contains(dataset_error(dir / "folder.jsonl"), "folder.jsonl: is not a regular file"));

  test::write_text(dir / "empty.jsonl", "\n \n\r\n");
  CHECK(contains(dataset_error(dir / "empty.jsonl"), "empty.jsonl: contains no samples"));
  test::write_text(dir / "zero.jsonl", "");
  CHECK(contains(dataset_error(dir / "zero.jsonl"), "zero.jsonl: contains no samples"));
  test::write_text(dir / "zero.json", "  \n");
  CHECK(contains(dataset_error(dir / "zero.json"), "zero.json: contains no samples"));
  test::write_text(dir / "none.json", "[]");
  CHECK(contains(dataset_error(dir / "none.json"), "none.json: contains no samples"));

  test::write_text(dir / "bad.json", "[\"a\", \"b\", 3]");
  const std::string element = dataset_error(dir / "bad.json");
  CHECK(contains(element, "bad.json: element 2 is not a string"));
  test::write_text(dir / "obj.json", "{\"a\": 1}");
  CHECK(contains(dataset_error(dir / "obj.json"),
                 "obj.json: expected a JSON array of strings, found a JSON object"));
  test::write_text(dir / "broken.json", "[\"a\",\n \"b\"");
  const std::string broken = dataset_error(dir / "broken.json");
  CHECK(contains(broken, "broken.json: not valid JSON"));
  CHECK(contains(broken, "line 2"));

  test::write_text(dir / "field.jsonl", "ok\n\n{\"inputs_pretokenized\": 5}\n");
  CHECK(contains(dataset_error(dir / "field.jsonl"),
                 "field.jsonl: line 3: \"inputs_pretokenized\" must be a string"));
}
