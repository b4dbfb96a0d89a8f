// safetensors: a file whose bytes are written by hand here (the independent check), round trips of every
// dtype, sharded checkpoints, and every corruption the reader must refuse with the file and tensor named.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "modelslim/error.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/sharded_writer.hpp"
#include "modelslim/streaming_shard_writer.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

// close(2) failing as it does on NFS or FUSE when deferred writes fail (EIO, ENOSPC, EDQUOT): no local file
// system produces that on demand, so this executable interposes close() (the SDK library calls it through
// the dynamic linker). While armed, closing a descriptor whose path ends with the armed suffix releases
// the descriptor and reports EIO; every other close goes through unchanged.
namespace {
std::atomic<const char*> g_fail_close_suffix{nullptr};
std::atomic<int> g_failed_closes{0};

bool path_ends_with(int fd, const char* suffix) {
  char link[64];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  char target[PATH_MAX];
  const ssize_t length = ::readlink(link, target, sizeof(target) - 1);
  if (length <= 0) return false;
  const std::size_t n = std::strlen(suffix);
  return static_cast<std::size_t>(length) >= n && std::memcmp(target + length - n, suffix, n) == 0;
}

// Arms the fault for the scope: closes of files whose path ends with `suffix` fail.
struct CloseFault {
  explicit CloseFault(const char* suffix) {
    g_failed_closes = 0;
    g_fail_close_suffix = suffix;
  }
  ~CloseFault() { g_fail_close_suffix = nullptr; }
};
}  // namespace

extern "C" int close(int fd) {
  using Close = int (*)(int);
  static const auto real = reinterpret_cast<Close>(::dlsym(RTLD_NEXT, "close"));
  const char* suffix = g_fail_close_suffix.load();
  if (suffix != nullptr && path_ends_with(fd, suffix)) {
    real(fd);
    ++g_failed_closes;
    errno = EIO;
    return -1;
  }
  return real(fd);
}

// While armed, a pwrite through a descriptor opened with O_DIRECT fails with EINVAL, as on a file system
// that accepts O_DIRECT at open() but not the writes; every other pwrite goes through unchanged. While
// writes are held (a slow disk, on demand), every pwrite waits until they are released; one that fails with
// ENOSPC reports a full disk.
namespace {
std::atomic<bool> g_refuse_direct_writes{false};
std::atomic<int> g_refused_direct_writes{0};
std::atomic<bool> g_hold_writes{false};
std::atomic<bool> g_disk_full{false};
}  // namespace

extern "C" ssize_t pwrite(int fd, const void* data, size_t size, off_t offset) {
  using Pwrite = ssize_t (*)(int, const void*, size_t, off_t);
  static const auto real = reinterpret_cast<Pwrite>(::dlsym(RTLD_NEXT, "pwrite"));
  while (g_hold_writes.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (g_disk_full.load()) {
    errno = ENOSPC;
    return -1;
  }
  if (g_refuse_direct_writes.load() && (::fcntl(fd, F_GETFL) & O_DIRECT) != 0) {
    ++g_refused_direct_writes;
    errno = EINVAL;
    return -1;
  }
  return real(fd, data, size, offset);
}

namespace {

// 8-byte little-endian header length + header JSON + raw data.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

template <typename T>
std::string raw_bytes(std::initializer_list<T> values) {
  std::string out;
  for (const T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return out;
}

std::string open_error(const fs::path& file) {
  try {
    SafetensorsFile::open(file);
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::kInvalidModel);
    return error.what();
  }
  FAIL("expected " << file << " to be refused");
  return {};
}

// Writes a one-tensor file with the given header entry for tensor 'w' and data, returns the open error.
std::string refused(const test::TempDir& dir, const std::string& file, const std::string& entry,
                    const std::string& data) {
  test::write_text(dir / file, safetensors_bytes("{\"w\":" + entry + "}", data));
  return open_error(dir / file);
}

using modelslim::test::contains;

// Resident file-backed pages of this process (kB), from /proc/self/status.
long rss_file_kb() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "RssFile:") {
      long kb = 0;
      status >> kb;
      return kb;
    }
    status.ignore(1 << 10, '\n');
  }
  return -1;
}

}  // namespace

TEST_CASE("a hand-written file is read correctly") {
  test::TempDir dir("st-hand");
  // Offsets out of name order, a space-padded header, and dtypes whose bits are written out by hand:
  // BF16 0x3FC0 = 1.5, 0xC020 = -2.5; F16 0x3C00 = 1.0, 0xBE00 = -1.5; I64 little-endian; BOOL bytes.
  const std::string header = R"({"__metadata__":{"format":"pt","note":"hand"},)"
                             R"("b":{"dtype":"I8","shape":[3],"data_offsets":[16,19]},)"
                             R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("h":{"dtype":"BF16","shape":[2],"data_offsets":[19,23]},)"
                             R"("f":{"dtype":"F16","shape":[1,2],"data_offsets":[23,27]},)"
                             R"("l":{"dtype":"I64","shape":[1],"data_offsets":[27,35]},)"
                             R"("z":{"dtype":"BOOL","shape":[2],"data_offsets":[35,37]},)"
                             R"("e":{"dtype":"F32","shape":[0,3],"data_offsets":[37,37]}}   )";
  const std::string data = raw_bytes<float>({1.5f, -2.0f, 3.25f, 0.0f}) + std::string("\x01\xff\x7f", 3) +
                           raw_bytes<std::uint16_t>({0x3FC0, 0xC020}) +
                           raw_bytes<std::uint16_t>({0x3C00, 0xBE00}) +
                           raw_bytes<std::int64_t>({-5000000000LL}) + std::string("\x01\x00", 2);
  test::write_text(dir / "x.safetensors", safetensors_bytes(header, data));

  const auto file = SafetensorsFile::open(dir / "x.safetensors");
  CHECK(file->metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"note", "hand"}});
  CHECK(file->tensors().size() == 7);
  REQUIRE(file->find("a") != nullptr);
  CHECK(file->find("a")->dtype == "F32");
  CHECK(file->find("a")->data_begin == 0);
  CHECK(file->find("a")->data_end == 16);
  CHECK(file->find("missing") == nullptr);

  const at::Tensor a = file->load("a");
  CHECK((a.scalar_type() == at::kFloat));
  CHECK(a.sizes() == at::IntArrayRef({2, 2}));
  CHECK(at::equal(a, at::tensor({1.5f, -2.0f, 3.25f, 0.0f}).view({2, 2})));
  const at::Tensor b = file->load("b");
  CHECK((b.scalar_type() == at::kChar));
  CHECK(at::equal(b, at::tensor({1, -1, 127}, at::kChar)));
  const at::Tensor h = file->load("h");
  CHECK((h.scalar_type() == at::kBFloat16));
  CHECK(h[0].item<float>() == 1.5f);
  CHECK(h[1].item<float>() == -2.5f);
  const at::Tensor f = file->load("f");
  CHECK((f.scalar_type() == at::kHalf));
  CHECK(f.sizes() == at::IntArrayRef({1, 2}));
  CHECK(f[0][0].item<float>() == 1.0f);
  CHECK(f[0][1].item<float>() == -1.5f);
  CHECK(file->load("l").item<std::int64_t>() == -5000000000LL);
  const at::Tensor z = file->load("z");
  CHECK((z.scalar_type() == at::kBool));
  CHECK(z[0].item<bool>());
  CHECK_FALSE(z[1].item<bool>());
  CHECK(file->load("e").sizes() == at::IntArrayRef({0, 3}));
  // Loaded tensors are owned copies: they outlive the file.
  const at::Tensor kept = file->load("a");
  CHECK_THROWS_WITH_AS(file->load("nope"), doctest::Contains("x.safetensors: no tensor named 'nope'"), Error);
}

TEST_CASE("every dtype round-trips bit-exactly, header padded to 8 bytes") {
  test::TempDir dir("st-roundtrip");
  at::manual_seed(3);
  // bf16/f16 specials: -0, a subnormal and the f16 maximum must survive bit for bit (NaN and ±inf are
  // written, but refused when read: see the test below and docs/quantization.md).
  const at::Tensor specials = at::tensor({-0.0f, 1e-40f, 65504.0f, -65504.0f});
  const std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f64", at::randn({3, 5}, at::kDouble)},
      {"f32", at::randn({7})},
      {"f16", at::randn({4, 4}).to(at::kHalf)},
      {"bf16", at::randn({2, 3, 4}).to(at::kBFloat16)},
      {"bf16_specials", specials.to(at::kBFloat16)},
      {"f16_specials", specials.to(at::kHalf)},
      {"i64", at::arange(-5, 5, at::kLong)},
      {"i32", at::arange(10, at::kInt)},
      {"i16", at::arange(-300, 300, at::kShort)},
      {"i8", at::arange(-128, 128, at::kLong).to(at::kChar)},
      {"u8", at::arange(256, at::kLong).to(at::kByte)},
      {"bool", at::rand({9}) > 0.5},
      {"empty", at::zeros({0, 4})},
      {"transposed", at::arange(12, at::kFloat).view({3, 4}).t()},  // stored contiguous
      {"scalar_like", at::ones({1})}};
  save_safetensors(dir / "all.safetensors", tensors, {{"note", "hi"}});

  const std::string bytes = test::read_text(dir / "all.safetensors");
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(header_size % 8 == 0);
  CHECK(bytes.substr(8, 15) == R"({"__metadata__")");
  // Insertion order is kept in the header.
  CHECK(bytes.find("\"f64\"") < bytes.find("\"f32\""));
  CHECK(bytes.find("\"bool\"") < bytes.find("\"empty\""));

  const auto file = SafetensorsFile::open(dir / "all.safetensors");
  for (const auto& [name, tensor] : tensors) {
    CAPTURE(name);
    const at::Tensor loaded = file->load(name);
    CHECK((loaded.scalar_type() == tensor.scalar_type()));
    CHECK(loaded.sizes() == tensor.sizes());
    CHECK(loaded.is_contiguous());
    const at::Tensor expected = tensor.contiguous();
    CHECK(std::memcmp(loaded.data_ptr(), expected.data_ptr(), expected.numel() * expected.element_size()) ==
          0);
  }
  CHECK(file->metadata().at("note") == "hi");
  CHECK(file->find("bf16_specials")->dtype == "BF16");
  CHECK(file->find("u8")->dtype == "U8");
  CHECK_FALSE(fs::exists(dir / "all.safetensors.tmp"));
  CHECK_FALSE(fs::exists(dir / "all.safetensors.tmp.data"));
  // Non-finite values are written as they are, and reading them back is an error naming the tensor.
  save_safetensors(dir / "nonfinite.safetensors",
                   {{"bf16_nan", at::tensor({1.0f, std::nanf("")}).to(at::kBFloat16)},
                    {"f16_inf", at::tensor({-INFINITY, 2.0f}).to(at::kHalf)}},
                   {});
  const auto nonfinite = SafetensorsFile::open(dir / "nonfinite.safetensors");
  CHECK_THROWS_WITH_AS(nonfinite->load("bf16_nan"), doctest::Contains("tensor 'bf16_nan' holds nan"), Error);
  CHECK_THROWS_WITH_AS(nonfinite->load("f16_inf"), doctest::Contains("tensor 'f16_inf'"), Error);
}

TEST_CASE("loading gives the mapped pages back (resident memory follows what is in use)") {
  test::TempDir dir("st-rss");
  const std::int64_t elements = 16 * 1024 * 1024;  // 64 MiB of float32
  save_safetensors(dir / "big.safetensors", {{"big", at::ones({elements})}});
  const auto file = SafetensorsFile::open(dir / "big.safetensors");
  const long before = rss_file_kb();
  REQUIRE(before >= 0);
  const at::Tensor loaded = file->load("big");
  const long after = rss_file_kb();
  CHECK(loaded.sum().item<double>() == static_cast<double>(elements));
  // Without MADV_DONTNEED the 64 MiB of file pages would stay mapped and resident.
  CHECK_MESSAGE(after - before < 8 * 1024, "RssFile grew by " << (after - before) << " kB");
}

TEST_CASE("corrupt files are refused naming the file and the tensor") {
  test::TempDir dir("st-bad");
  const std::string two_floats = raw_bytes<float>({1, 2});

  test::write_text(dir / "short.safetensors", "abc");
  const std::string too_short = open_error(dir / "short.safetensors");
  CHECK(contains(too_short, "short.safetensors: file is 3 bytes"));

  test::write_text(dir / "len.safetensors", std::string(8, '\xff') + "{}");
  const std::string length = open_error(dir / "len.safetensors");
  CHECK(contains(length, "len.safetensors: header length"));
  CHECK(contains(length, "exceeds the file size (10 bytes)"));

  const std::string truncated =
      refused(dir, "trunc.safetensors", R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", "\1\2\3\4");
  CHECK(contains(truncated,
                 "trunc.safetensors: tensor 'w' data_offsets [0, 8] exceed the data section (4 bytes)"));
  CHECK(contains(truncated, "truncated or corrupt"));

  const std::string count =
      refused(dir, "count.safetensors", R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", two_floats);
  CHECK(contains(count, "count.safetensors: tensor 'w'"));
  CHECK(contains(count, "hold 8 bytes"));
  CHECK(contains(count, "need 12"));

  const std::string dtype =
      refused(dir, "dtype.safetensors", R"({"dtype":"F8_E9","shape":[2],"data_offsets":[0,2]})", "ab");
  CHECK(contains(dtype, "dtype.safetensors: tensor 'w' has unsupported dtype 'F8_E9'"));

  const std::string negative =
      refused(dir, "neg.safetensors", R"({"dtype":"U8","shape":[-2],"data_offsets":[0,2]})", "ab");
  CHECK(contains(negative, "neg.safetensors: tensor 'w' shape [-2]"));

  const std::string reversed =
      refused(dir, "rev.safetensors", R"({"dtype":"U8","shape":[2],"data_offsets":[2,0]})", "ab");
  CHECK(contains(reversed, "rev.safetensors: tensor 'w' data_offsets [2, 0] end before they begin"));

  const std::string missing_field = refused(dir, "field.safetensors", R"({"dtype":"U8","shape":[2]})", "ab");
  CHECK(contains(missing_field, "field.safetensors: tensor 'w' needs dtype, shape and data_offsets"));

  const std::string huge =
      refused(dir, "huge.safetensors",
              R"({"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]})", two_floats);
  CHECK(contains(huge, "huge.safetensors: tensor 'w' shape"));

  test::write_text(dir / "json.safetensors", safetensors_bytes("{not json", ""));
  CHECK(contains(open_error(dir / "json.safetensors"), "json.safetensors: header is not valid JSON"));

  test::write_text(dir / "array.safetensors", safetensors_bytes("[1, 2]", ""));
  CHECK(contains(open_error(dir / "array.safetensors"), "array.safetensors: header must be a JSON object"));

  test::write_text(dir / "meta.safetensors", safetensors_bytes(R"({"__metadata__":{"n":1}})", ""));
  CHECK(contains(open_error(dir / "meta.safetensors"), "meta.safetensors: __metadata__ value 'n'"));

  test::write_text(dir / "overlap.safetensors",
                   safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                     two_floats));
  const std::string overlap = open_error(dir / "overlap.safetensors");
  CHECK(contains(overlap, "overlap.safetensors: tensors 'a' and 'b' overlap"));

  CHECK(contains(open_error(dir / "absent.safetensors"), "absent.safetensors: cannot open"));

  // Empty tensors occupy nothing, so one sitting at another tensor's offset is fine.
  test::write_text(dir / "empty_ok.safetensors",
                   safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})",
                                     two_floats));
  CHECK(SafetensorsFile::open(dir / "empty_ok.safetensors")->load("e").numel() == 0);
}

TEST_CASE("a directory of plain files: every *.safetensors, duplicates across files named") {
  test::TempDir dir("st-plain");
  save_safetensors(dir / "part-a.safetensors", {{"a", at::ones({2})}, {"shared", at::ones({1})}});
  save_safetensors(dir / "part-b.safetensors", {{"b", at::zeros({3})}});
  test::write_text(dir / "notes.txt", "not weights");
  {
    const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
    CHECK(checkpoint.names() == std::vector<std::string>{"a", "b", "shared"});
    CHECK(checkpoint.contains("b"));
    CHECK_FALSE(checkpoint.contains("c"));
    CHECK(checkpoint.info("b").shape == std::vector<std::int64_t>{3});
    CHECK(at::equal(checkpoint.load("a"), at::ones({2})));
  }
  save_safetensors(dir / "part-c.safetensors", {{"shared", at::zeros({1})}});
  const auto duplicate = [&] { SafetensorsCheckpoint::open_dir(dir.path()); };
  CHECK_THROWS_WITH_AS(duplicate(), doctest::Contains("tensor 'shared' appears in both"), Error);
  CHECK_THROWS_WITH_AS(duplicate(), doctest::Contains("part-a.safetensors"), Error);
  CHECK_THROWS_WITH_AS(duplicate(), doctest::Contains("part-c.safetensors"), Error);

  test::TempDir empty("st-empty");
  CHECK_THROWS_WITH_AS(
      SafetensorsCheckpoint::open_dir(empty.path()),
      doctest::Contains((empty.path().string() + ": no *.safetensors weights found").c_str()), Error);
  CHECK_THROWS_WITH_AS(SafetensorsCheckpoint::open_dir(empty / "nowhere"), doctest::Contains("nowhere"),
                       Error);
}

TEST_CASE("sharded checkpoints through the index; a missing shard is named") {
  test::TempDir dir("st-sharded");
  save_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", at::ones({2})}});
  save_safetensors(dir / "model-00002-of-00002.safetensors", {{"b", at::zeros({3})}});
  // A stray file the index does not mention is ignored.
  save_safetensors(dir / "stray.safetensors", {{"a", at::zeros({9})}});
  const std::string index =
      R"({"metadata":{"total_size":20},"weight_map":{"a":"model-00001-of-00002.safetensors",)"
      R"("b":"model-00002-of-00002.safetensors"}})";
  test::write_text(dir / "model.safetensors.index.json", index);
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  CHECK(checkpoint.names() == std::vector<std::string>{"a", "b"});
  CHECK(checkpoint.load("a").size(0) == 2);
  CHECK(checkpoint.load("b").size(0) == 3);
  CHECK_THROWS_WITH_AS(checkpoint.load("c"), doctest::Contains("the checkpoint has no tensor 'c'"), Error);

  // The index promises a tensor that its shard lacks.
  test::write_text(dir / "model.safetensors.index.json",
                   R"({"weight_map":{"a":"model-00001-of-00002.safetensors",)"
                   R"("ghost":"model-00002-of-00002.safetensors"}})");
  const auto lying = SafetensorsCheckpoint::open_dir(dir.path());
  CHECK_THROWS_WITH_AS(lying.load("ghost"), doctest::Contains("model-00002-of-00002.safetensors"), Error);
  CHECK_THROWS_WITH_AS(lying.info("ghost"), doctest::Contains("'ghost'"), Error);

  test::write_text(dir / "model.safetensors.index.json",
                   R"({"weight_map":{"a":"../elsewhere.safetensors"}})");
  CHECK_THROWS_WITH_AS(SafetensorsCheckpoint::open_dir(dir.path()),
                       doctest::Contains("model.safetensors.index.json: weight_map entry 'a'"), Error);
  test::write_text(dir / "model.safetensors.index.json", R"({"metadata":{}})");
  CHECK_THROWS_WITH_AS(SafetensorsCheckpoint::open_dir(dir.path()),
                       doctest::Contains("model.safetensors.index.json: expected a non-empty \"weight_map\""),
                       Error);
  test::write_text(dir / "model.safetensors.index.json", "{broken");
  CHECK_THROWS_WITH_AS(SafetensorsCheckpoint::open_dir(dir.path()),
                       doctest::Contains("model.safetensors.index.json: not valid JSON"), Error);

  test::write_text(dir / "model.safetensors.index.json", index);
  fs::remove(dir / "model-00002-of-00002.safetensors");
  const auto missing = [&] { SafetensorsCheckpoint::open_dir(dir.path()); };
  CHECK_THROWS_WITH_AS(missing(), doctest::Contains("model.safetensors.index.json: tensor 'b'"), Error);
  CHECK_THROWS_WITH_AS(missing(), doctest::Contains("model-00002-of-00002.safetensors, which is missing"),
                       Error);
}

TEST_CASE("shard files are opened lazily: a corrupt shard fails only when used") {
  test::TempDir dir("st-lazy");
  save_safetensors(dir / "one.safetensors", {{"a", at::ones({2})}});
  test::write_text(dir / "two.safetensors", "garbage!");
  test::write_text(dir / "model.safetensors.index.json",
                   R"({"weight_map":{"a":"one.safetensors","b":"two.safetensors"}})");
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  CHECK(checkpoint.load("a").numel() == 2);
  CHECK_THROWS_WITH_AS(checkpoint.load("b"), doctest::Contains("two.safetensors"), Error);
}

TEST_CASE("the writer: temp files never outlive it, errors name the path") {
  test::TempDir dir("st-writer");
  {
    SafetensorsWriter writer(dir / "w.safetensors", {{"format", "pt"}});
    writer.add("x", at::ones({4}));
    CHECK(writer.tensor_count() == 1);
    CHECK(writer.data_bytes() == 16);
    CHECK(fs::exists(dir / "w.safetensors.tmp.data"));
    CHECK_THROWS_WITH_AS(writer.add("x", at::ones({4})), doctest::Contains("duplicate tensor 'x'"), Error);
    CHECK_THROWS_WITH_AS(writer.add("c", at::ones({2}, at::kComplexFloat)),
                         doctest::Contains("w.safetensors: tensor 'c'"), Error);
  }  // destroyed unfinished
  CHECK(fs::is_empty(dir.path()));

  // An exception unwinding through the writer's scope leaves nothing behind either.
  CHECK_THROWS_AS(
      [&] {
        SafetensorsWriter writer(dir / "u.safetensors");
        writer.add("y", at::ones({8}));
        throw std::runtime_error("caller failed midway");
      }(),
      std::runtime_error);
  CHECK(fs::is_empty(dir.path()));

  {
    SafetensorsWriter writer(dir / "done.safetensors");
    writer.add("y", at::arange(5, at::kInt));
    writer.finish();
    writer.finish();  // idempotent
    CHECK_THROWS_WITH_AS(writer.add("z", at::ones({1})), doctest::Contains("after finish()"), Error);
  }
  CHECK(at::equal(SafetensorsFile::open(dir / "done.safetensors")->load("y"), at::arange(5, at::kInt)));
  CHECK(std::vector<fs::path>(fs::directory_iterator(dir.path()), fs::directory_iterator()).size() == 1);

  // Overwrites an existing file atomically.
  save_safetensors(dir / "done.safetensors", {{"other", at::zeros({1})}});
  const auto replaced = SafetensorsFile::open(dir / "done.safetensors");
  CHECK(replaced->find("y") == nullptr);
  CHECK(replaced->find("other") != nullptr);

  // Not writable (a path below a regular file): the message names the target path.
  test::write_text(dir / "file", "x");
  try {
    SafetensorsWriter writer(dir / "file" / "w.safetensors");
    FAIL("expected the writer to refuse a path below a regular file");
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::kIo);
    CHECK(contains(error.what(), (dir / "file" / "w.safetensors").string() + ":"));
  }
  CHECK_THROWS_WITH_AS(save_safetensors(dir / "no" / "such" / "dir.safetensors", {{"a", at::ones({1})}}),
                       doctest::Contains("no/such/dir.safetensors"), Error);
}

TEST_CASE("a failed close of the shard is an Error naming the file, and nothing is published") {
  test::TempDir dir("st-close");
  for (const char* suffix : {"w.safetensors.tmp", "w.safetensors.tmp.data"}) {
    CAPTURE(suffix);
    {
      SafetensorsWriter writer(dir / "w.safetensors");
      writer.add("x", at::ones({4}));
      const CloseFault fault(suffix);
      try {
        writer.finish();
        FAIL("a failed close must fail finish()");
      } catch (const Error& error) {
        CHECK(error.code() == ErrorCode::kIo);
        CHECK_MESSAGE(contains(error.what(), (dir / suffix).string() + ": close failed"), error.what());
      }
      CHECK(g_failed_closes == 1);  // the fault fired (the interposer reached the SDK's close)
    }
    CHECK_FALSE(fs::exists(dir / "w.safetensors"));
    CHECK(fs::is_empty(dir.path()));  // no temp file either
  }
}

TEST_CASE("ShardedWriter: a shard whose close fails stops the save with nothing published or left over") {
  test::TempDir dir("st-close-sharded");
  {
    ShardedWriter writer(dir.path(), "model", 64);  // 64 bytes a shard: three shards below
    for (const char* name : {"a", "b", "c"}) writer.add(name, at::ones({16}));  // 64 bytes each
    const CloseFault fault("model.part2.safetensors.tmp");
    CHECK_THROWS_WITH_AS(writer.finish(), doctest::Contains("model.part2.safetensors.tmp: close failed"),
                         Error);
    CHECK(g_failed_closes == 1);
  }
  // The two shards closed before the failure are removed with the writer; no final name exists.
  CHECK(fs::is_empty(dir.path()));

  {  // Without the fault the same writer publishes all three shards and the index.
    ShardedWriter writer(dir.path(), "model", 64);
    for (const char* name : {"a", "b", "c"}) writer.add(name, at::ones({16}));
    CHECK(writer.finish().size() == 3);
  }
  CHECK(fs::exists(dir / "model-00003-of-00003.safetensors"));
  CHECK(fs::exists(dir / "model.safetensors.index.json"));
}

TEST_CASE(
    "StreamingShardWriter: a shard whose close fails stops the save with nothing published or left over") {
  test::TempDir dir("st-close-streaming");
  for (const char* suffix : {"model.part0.safetensors.tmp", "model.part2.safetensors.tmp"}) {
    CAPTURE(suffix);
    {
      StreamingShardWriter writer(dir.path(), "model", 64);  // 64 bytes a shard: three shards below
      const CloseFault fault(suffix);
      const auto save = [&] {
        for (const char* name : {"a", "b", "c"}) writer.add(name, at::ones({16}));  // shard 0 closes at "b"
        writer.finish();
      };
      const std::string message = std::string(suffix) + ": close failed";
      CHECK_THROWS_WITH_AS(save(), doctest::Contains(message.c_str()), Error);
      // The fault fired; the shard's direct-I/O descriptor (where the file system has one) is closed too.
      CHECK(g_failed_closes >= 1);
    }
    CHECK(fs::is_empty(dir.path()));  // closed shards and the failed one's temp file are gone
  }
  {
    StreamingShardWriter writer(dir.path(), "model", 64);
    for (const char* name : {"a", "b", "c"}) writer.add(name, at::ones({16}));
    CHECK(writer.finish().size() == 3);
  }
  CHECK(fs::exists(dir / "model-00003-of-00003.safetensors"));
  CHECK(fs::exists(dir / "model.safetensors.index.json"));
}

TEST_CASE("dtype names") {
  CHECK((scalar_type_from_safetensors("BF16") == at::kBFloat16));
  CHECK((scalar_type_from_safetensors("BOOL") == at::kBool));
  CHECK(safetensors_dtype_name(at::kHalf) == "F16");
  CHECK(safetensors_dtype_name(at::kChar) == "I8");
  CHECK_THROWS_WITH_AS(scalar_type_from_safetensors("F8_E4M3"), doctest::Contains("'F8_E4M3'"), Error);
  CHECK_THROWS_AS(safetensors_dtype_name(at::kComplexDouble), Error);
}

TEST_CASE("StreamingShardWriter: direct writes the file system refuses fall back to the page cache") {
  test::TempDir dir("st-direct-refused");
  at::manual_seed(9);
  // Over one 8 MiB staging buffer, so a refused write happens mid-file as well as at the end.
  const std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"a", at::randn({3 << 20})}, {"b", at::randint(-128, 127, {5000}).to(at::kChar)}};
  g_refused_direct_writes = 0;
  g_refuse_direct_writes = true;
  {
    StreamingShardWriter writer(dir.path(), "w", 0);
    for (const auto& [name, tensor] : tensors) writer.add(name, tensor);
    writer.finish();
  }
  g_refuse_direct_writes = false;
  const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  for (const auto& [name, tensor] : tensors) CHECK_MESSAGE(at::equal(checkpoint.load(name), tensor), name);
  // Refused once: the first refusal switches the rest of the file to buffered writes. Zero where the file
  // system has no O_DIRECT at all (the writer never opened a direct descriptor).
  const fs::path probe = dir / "probe";
  const int probe_fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
  if (probe_fd >= 0) ::close(probe_fd);
  CHECK(g_refused_direct_writes == (probe_fd >= 0 ? 1 : 0));
}

// StreamingShardWriter::enqueue returns before the bytes are written; a writer thread writes them in order.
namespace {

// Writes the disk holds back until release() (or the end of the scope).
struct HeldWrites {
  HeldWrites() { g_hold_writes = true; }
  ~HeldWrites() { release(); }
  void release() { g_hold_writes = false; }
};

// 20 MiB: more than two of the direct writer's 8 MiB staging buffers, so the writer thread is stuck in
// this tensor's writes while they are held, direct I/O or not.
at::Tensor blocking_tensor() {
  return at::full({5 << 20}, 1.5f);
}

}  // namespace

TEST_CASE(
    "StreamingShardWriter::enqueue: an in-place change before the write is an Error naming the tensor") {
  test::TempDir dir("enqueue-changed");
  {
    StreamingShardWriter writer(dir.path(), "w", 0);
    at::Tensor changed = at::arange(8, at::kFloat);
    {
      HeldWrites held;
      writer.enqueue("first", blocking_tensor());
      writer.enqueue("changed", changed);  // queued behind "first", whose writes are held
      changed.add_(1);                     // through ATen: the version counter moves
    }
    CHECK_THROWS_WITH_AS(writer.finish(), doctest::Contains("tensor 'changed' was changed in place"), Error);
  }
  CHECK(fs::is_empty(dir.path()));  // nothing published, no temp file left
}

TEST_CASE("StreamingShardWriter::enqueue: a failed write surfaces at the next call, nothing is published") {
  test::TempDir dir("enqueue-full");
  ::setenv("MODELSLIM_DIRECT_IO", "0", 1);  // every tensor is its own pwrite
  {
    StreamingShardWriter writer(dir.path(), "w", 64);
    g_disk_full = true;
    writer.enqueue("a", at::ones({16}));  // returns: the failure happens on the writer thread
    const auto later_calls = [&] {
      for (int i = 0; i < 1000; ++i) writer.enqueue("b" + std::to_string(i), at::ones({16}));
      writer.finish();
    };
    CHECK_THROWS_WITH_AS(later_calls(), doctest::Contains("write failed"), Error);
    g_disk_full = false;
  }
  ::unsetenv("MODELSLIM_DIRECT_IO");
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("StreamingShardWriter::enqueue: at most 256 MiB wait for the disk") {
  test::TempDir dir("enqueue-budget");
  StreamingShardWriter writer(dir.path(), "w", 0);
  // Never written to before the writer reads them: untouched pages, no resident memory to speak of.
  const at::Tensor first = at::empty({150 << 20}, at::kByte);
  const at::Tensor second = at::empty({150 << 20}, at::kByte);
  std::atomic<bool> returned{false};
  {
    HeldWrites held;
    writer.enqueue("first", first);  // 150 MiB waiting: within the budget, returns
    std::thread caller([&] {
      writer.enqueue("second", second);  // 300 MiB would wait: blocks until "first" is written
      returned = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK_FALSE(returned.load());
    held.release();
    caller.join();
  }
  CHECK(returned.load());
  CHECK(writer.finish().size() == 1);
  const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  CHECK(checkpoint.info("second").data_end - checkpoint.info("second").data_begin == (150u << 20));
}
