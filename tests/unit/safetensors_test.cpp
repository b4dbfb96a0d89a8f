// safetensors: a file whose bytes are written by hand here (the independent check), round trips of every
// dtype, sharded checkpoints, and every corruption the reader must refuse with the file and tensor named.
#include "support/doctest.hpp"

#include <cstring>

#include "modelslim/error.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

// 8-byte little-endian header length + header JSON + raw data.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string float_bytes(std::initializer_list<float> values) {
  std::string out;
  for (const float v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(float));
  return out;
}

std::string open_error(const fs::path& file) {
  try {
    SafetensorsFile::open(file);
  } catch (const Error& error) {
    return error.what();
  }
  FAIL("expected " << file << " to be refused");
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a hand-written file is read correctly") {
  test::TempDir dir("st-hand");
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"I8","shape":[3],"data_offsets":[16,19]},)"
      R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  test::write_text(dir / "x.safetensors",
                   safetensors_bytes(header, float_bytes({1.5f, -2.0f, 3.25f, 0.0f}) + "\x01\xff\x7f"));
  const auto file = SafetensorsFile::open(dir / "x.safetensors");
  CHECK(file->metadata().at("format") == "pt");
  const at::Tensor a = file->load("a");
  CHECK(a.sizes() == at::IntArrayRef({2, 2}));
  CHECK(a[0][0].item<float>() == 1.5f);
  CHECK(a[0][1].item<float>() == -2.0f);
  CHECK(a[1][0].item<float>() == 3.25f);
  const at::Tensor b = file->load("b");
  CHECK((b.scalar_type() == at::kChar));
  CHECK(b[0].item<int>() == 1);
  CHECK(b[1].item<int>() == -1);
  CHECK(b[2].item<int>() == 127);
}

TEST_CASE("every dtype round-trips bit-exactly, header padded to 8 bytes") {
  test::TempDir dir("st-roundtrip");
  at::manual_seed(3);
  const std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f64", at::randn({3, 5}, at::kDouble)},
      {"f32", at::randn({7})},
      {"f16", at::randn({4, 4}).to(at::kHalf)},
      {"bf16", at::randn({2, 3, 4}).to(at::kBFloat16)},
      {"i64", at::arange(-5, 5, at::kLong)},
      {"i32", at::arange(10, at::kInt)},
      {"i16", at::arange(6, at::kShort)},
      {"i8", at::arange(-128, 128, at::kLong).to(at::kChar)},
      {"u8", at::arange(256, at::kLong).to(at::kByte)},
      {"bool", at::rand({9}) > 0.5},
      {"empty", at::zeros({0, 4})},
      {"scalar_like", at::ones({1})}};
  save_safetensors(dir / "all.safetensors", tensors, {{"note", "hi"}});
  const std::string bytes = test::read_text(dir / "all.safetensors");
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(header_size % 8 == 0);
  const auto file = SafetensorsFile::open(dir / "all.safetensors");
  for (const auto& [name, tensor] : tensors) {
    CAPTURE(name);
    const at::Tensor loaded = file->load(name);
    CHECK((loaded.scalar_type() == tensor.scalar_type()));
    CHECK(at::equal(loaded, tensor));
  }
  CHECK(file->metadata().at("note") == "hi");
  CHECK_FALSE(fs::exists(dir / "all.safetensors.tmp"));
  CHECK_FALSE(fs::exists(dir / "all.safetensors.tmp.data"));
}

TEST_CASE("corrupt files are refused naming the file and the tensor") {
  test::TempDir dir("st-bad");
  const std::string good = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  test::write_text(dir / "short.safetensors", "abc");
  CHECK(contains(open_error(dir / "short.safetensors"), "short.safetensors"));

  std::string huge(8, '\xff');
  test::write_text(dir / "len.safetensors", huge + "{}");
  CHECK(contains(open_error(dir / "len.safetensors"), "exceeds the file size"));

  test::write_text(dir / "trunc.safetensors", safetensors_bytes(good, float_bytes({1.0f})));  // 4 of 8 bytes
  const std::string trunc = open_error(dir / "trunc.safetensors");
  CHECK(contains(trunc, "trunc.safetensors"));
  CHECK(contains(trunc, "'w'"));
  CHECK(contains(trunc, "exceed the data section"));

  test::write_text(
      dir / "count.safetensors",
      safetensors_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", float_bytes({1, 2})));
  CHECK(contains(open_error(dir / "count.safetensors"), "need 12"));

  test::write_text(dir / "dtype.safetensors",
                   safetensors_bytes(R"({"w":{"dtype":"F8_E9","shape":[2],"data_offsets":[0,2]}})", "ab"));
  CHECK(contains(open_error(dir / "dtype.safetensors"), "unsupported dtype 'F8_E9'"));

  test::write_text(dir / "json.safetensors", safetensors_bytes("{not json", ""));
  CHECK(contains(open_error(dir / "json.safetensors"), "not valid JSON"));

  test::write_text(dir / "overlap.safetensors",
                   safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                     float_bytes({1, 2})));
  CHECK(contains(open_error(dir / "overlap.safetensors"), "overlap"));
}

TEST_CASE("sharded checkpoints through the index; a missing shard is named") {
  test::TempDir dir("st-sharded");
  save_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", at::ones({2})}});
  save_safetensors(dir / "model-00002-of-00002.safetensors", {{"b", at::zeros({3})}});
  test::write_text(dir / "model.safetensors.index.json",
                   R"({"metadata":{"total_size":20},"weight_map":{"a":"model-00001-of-00002.safetensors",)"
                   R"("b":"model-00002-of-00002.safetensors"}})");
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  CHECK(checkpoint.names() == std::vector<std::string>{"a", "b"});
  CHECK(checkpoint.load("b").size(0) == 3);
  CHECK_THROWS_WITH_AS(checkpoint.load("c"), doctest::Contains("no tensor 'c'"), Error);
  fs::remove(dir / "model-00002-of-00002.safetensors");
  CHECK_THROWS_WITH_AS(SafetensorsCheckpoint::open_dir(dir.path()),
                       doctest::Contains("model-00002-of-00002.safetensors"), Error);
  test::TempDir empty("st-empty");
  CHECK_THROWS_WITH_AS(SafetensorsCheckpoint::open_dir(empty.path()), doctest::Contains("no *.safetensors"),
                       Error);
}

TEST_CASE("an unfinished writer leaves nothing; an unwritable directory is named") {
  test::TempDir dir("st-writer");
  {
    SafetensorsWriter writer(dir / "w.safetensors");
    writer.add("x", at::ones({4}));
    CHECK_THROWS_AS(writer.add("x", at::ones({4})), Error);  // duplicate name
  }
  CHECK(fs::is_empty(dir.path()));
  test::write_text(dir / "file", "x");
  CHECK_THROWS_WITH_AS(SafetensorsWriter(dir / "file" / "w.safetensors"),
                       doctest::Contains("file/w.safetensors"), Error);
}
