// Datasets in the reference formats, name lookup, and errors naming the file and line.
#include "support/doctest.hpp"

#include "modelslim/dataset.hpp"
#include "modelslim/error.hpp"
#include "support/test_support.hpp"

using namespace modelslim;

TEST_CASE("JSONL: inputs_pretokenized, else the raw line; blank lines skipped") {
  test::TempDir dir("ds");
  test::write_text(dir / "a.jsonl",
                   "{\"inputs_pretokenized\": \"first\"}\nplain text line\n\n{\"other\": 1}\r\n");
  CHECK(read_text_dataset(dir / "a.jsonl") ==
        std::vector<std::string>{"first", "plain text line", "{\"other\": 1}"});
  test::write_text(dir / "b.json", "[\"x\", \"y z\"]");
  CHECK(read_text_dataset(dir / "b.json") == std::vector<std::string>{"x", "y z"});
}

TEST_CASE("the reference's calibration set and the project's default set") {
  CHECK(read_text_dataset(test::shared_dir() / "data" / "msmodelslim_lab_calib" / "mix_calib.jsonl").size() ==
        48);
  const auto kjv = read_text_dataset(test::source_dir() / "data" / "datasets" / "kjv_calib.jsonl");
  CHECK(kjv.size() == 46);
  CHECK(kjv[0].rfind("In the beginning God created", 0) == 0);
}

TEST_CASE("lookup by name in dataset directories") {
  test::TempDir dir("ds-lookup");
  test::write_text(dir / "sets" / "calib.jsonl", "x\n");
  CHECK(resolve_dataset("calib.jsonl", {dir / "nowhere", dir / "sets"}) == dir / "sets" / "calib.jsonl");
  CHECK_THROWS_WITH_AS(resolve_dataset("missing.jsonl", {dir / "sets"}), doctest::Contains("missing.jsonl"),
                       Error);
}

TEST_CASE("bad datasets name the file") {
  test::TempDir dir("ds-bad");
  CHECK_THROWS_WITH_AS(read_text_dataset(dir / "none.jsonl"),
                       doctest::Contains("none.jsonl: dataset file not found"), Error);
  test::write_text(dir / "empty.jsonl", "\n \n");
  CHECK_THROWS_WITH_AS(read_text_dataset(dir / "empty.jsonl"),
                       doctest::Contains("empty.jsonl: contains no samples"), Error);
  test::write_text(dir / "bad.json", "[\"a\", 3]");
  CHECK_THROWS_WITH_AS(read_text_dataset(dir / "bad.json"), doctest::Contains("element 1 is not a string"),
                       Error);
  test::write_text(dir / "obj.json", "{\"a\": 1}");
  CHECK_THROWS_WITH_AS(read_text_dataset(dir / "obj.json"), doctest::Contains("expected a JSON array"),
                       Error);
  test::write_text(dir / "field.jsonl", "ok\n{\"inputs_pretokenized\": 5}\n");
  CHECK_THROWS_WITH_AS(read_text_dataset(dir / "field.jsonl"), doctest::Contains("field.jsonl: line 2"),
                       Error);
}
