// StreamingShardWriter writes each tensor once into its shard file, yet its files must be byte-identical to
// ShardedWriter's (spill-then-copy, the previous path) for the same tensors: same shard assignment, headers,
// data, names and index, whether the layout guess is right, absent or wrong. Unfinished writers leave
// nothing behind.
#include "support/doctest.hpp"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <map>
#include <optional>

#include "modelslim/error.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/sharded_writer.hpp"
#include "modelslim/streaming_shard_writer.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

using StreamingShardWriterTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Mixed dtypes and shapes like a saver's stream: int8 weights, float scales, int32 biases, bf16 norms,
// one tensor larger than a shard, names whose lengths vary with the layer index.
StreamingShardWriterTensors random_stream(int layers) {
  at::manual_seed(11);
  StreamingShardWriterTensors tensors;
  for (int layer = 0; layer < layers; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    tensors.emplace_back(p + "q.weight", at::randint(-128, 127, {24, 16}).to(at::kChar));
    tensors.emplace_back(p + "q.weight_scale", at::rand({24, 1}));
    tensors.emplace_back(p + "q.quant_bias", at::randint(-1000, 1000, {24}).to(at::kInt));
    tensors.emplace_back(p + "norm.weight", at::randn({16}).to(at::kBFloat16));
    tensors.emplace_back(p + "empty", at::zeros({0, 4}));
  }
  tensors.emplace_back("lm_head.weight", at::randn({64, 16}).to(at::kHalf));  // 2 KiB: over a shard
  tensors.emplace_back("model.norm.weight", at::randn({16}));
  return tensors;
}

std::vector<TensorSpec> specs_of(const StreamingShardWriterTensors& tensors) {
  std::vector<TensorSpec> specs;
  for (const auto& [name, tensor] : tensors) specs.push_back(tensor_spec(name, tensor));
  return specs;
}

std::map<std::string, std::string> streaming_shard_writer_files_in(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    files[entry.path().filename().string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

std::map<std::string, std::string> golden(const test::TempDir& dir,
                                          const StreamingShardWriterTensors& tensors,
                                          std::uint64_t part_bytes) {
  const fs::path out = dir / "golden";
  fs::create_directory(out);
  ShardedWriter writer(out, "w", part_bytes);
  for (const auto& [name, tensor] : tensors) writer.add(name, tensor);
  writer.finish();
  return streaming_shard_writer_files_in(out);
}

// How the streaming writer is told what comes: before each tensor, `guess(i)` (nullopt: no expect() call).
// `queued`: through enqueue() (written by the writer thread) instead of add().
template <typename Guess>
std::pair<std::map<std::string, std::string>, std::size_t> streamed(
    const fs::path& out, const StreamingShardWriterTensors& tensors, std::uint64_t part_bytes, Guess guess,
    bool queued = false) {
  fs::create_directory(out);
  StreamingShardWriter writer(out, "w", part_bytes);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (auto upcoming = guess(i)) writer.expect(std::move(*upcoming));
    if (queued) {
      writer.enqueue(tensors[i].first, tensors[i].second);
    } else {
      writer.add(tensors[i].first, tensors[i].second);
    }
  }
  writer.finish();
  return {streaming_shard_writer_files_in(out), writer.moved_shards()};
}

void check_same_files(const std::map<std::string, std::string>& actual,
                      const std::map<std::string, std::string>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (const auto& [name, bytes] : expected) {
    REQUIRE_MESSAGE(actual.count(name) == 1, name);
    CHECK_MESSAGE(actual.at(name) == bytes, name << " differs from the spill-then-copy output");
  }
}

}  // namespace

TEST_CASE("StreamingShardWriter: byte-identical to ShardedWriter with an exact, no or a wrong layout guess") {
  test::TempDir dir("stream-golden");
  const StreamingShardWriterTensors tensors = random_stream(12);
  const std::vector<TensorSpec> all = specs_of(tensors);
  // 608 bytes: exactly one layer, so a shard fills to the limit (then takes the 0-byte tensor).
  for (const std::uint64_t part_bytes :
       {std::uint64_t{0}, std::uint64_t{1000}, std::uint64_t{608}, std::uint64_t{1}}) {
    CAPTURE(part_bytes);
    const auto expected = golden(dir, tensors, part_bytes);
    if (part_bytes == 1000) REQUIRE(expected.size() > 4);  // several shards plus the index

    // The saver's guess is the truth: every shard's header fits its reservation, nothing is moved.
    const auto [exact, exact_moved] = streamed(dir / "exact", tensors, part_bytes, [&](std::size_t i) {
      return i == 0 ? std::optional(all) : std::nullopt;
    });
    check_same_files(exact, expected);
    CHECK(exact_moved == 0);

    // No guess: every shard reserves room for its first tensor only, and most are moved once.
    const auto [none, none_moved] = streamed(dir / "none", tensors, part_bytes, [](std::size_t) {
      return std::optional<std::vector<TensorSpec>>();
    });
    check_same_files(none, expected);
    if (part_bytes != 1) CHECK(none_moved > 0);  // one tensor a shard: the first tensor is the whole guess

    // The same two through enqueue(): the writer thread writes the same bytes.
    const auto [queued_exact, queued_exact_moved] = streamed(
        dir / "queued-exact", tensors, part_bytes,
        [&](std::size_t i) { return i == 0 ? std::optional(all) : std::nullopt; }, true);
    check_same_files(queued_exact, expected);
    CHECK(queued_exact_moved == 0);
    const auto [queued_none, queued_none_moved] = streamed(
        dir / "queued-none", tensors, part_bytes,
        [](std::size_t) { return std::optional<std::vector<TensorSpec>>(); }, true);
    check_same_files(queued_none, expected);
    CHECK(queued_none_moved == none_moved);

    // Wrong guesses: longer names (reservation too large), and a guess that drops every other tensor
    // (reservation too small); refreshed before every tensor like a saver's per-block guess.
    for (const bool longer : {true, false}) {
      const auto [wrong, wrong_moved] =
          streamed(dir / (longer ? "long" : "short"), tensors, part_bytes, [&](std::size_t i) {
            std::vector<TensorSpec> guess;
            for (std::size_t j = i; j < all.size(); ++j) {
              if (!longer && j % 2 == 1) continue;
              guess.push_back(all[j]);
              if (longer) guess.back().name += "-renamed";
            }
            return std::optional(guess);
          });
      check_same_files(wrong, expected);
      if (part_bytes != 1) CHECK(wrong_moved > 0);  // one tensor a shard: only the first tensor counts
    }
    for (const char* sub : {"golden", "exact", "none", "long", "short", "queued-exact", "queued-none"})
      fs::remove_all(dir / sub);
  }
}

TEST_CASE("StreamingShardWriter: an empty save matches ShardedWriter's empty file") {
  test::TempDir dir("stream-empty");
  const auto expected = golden(dir, {}, 1000);
  const auto [actual, moved] =
      streamed(dir / "s", {}, 1000, [](std::size_t) { return std::optional<std::vector<TensorSpec>>(); });
  check_same_files(actual, expected);
  CHECK(moved == 0);
}

TEST_CASE("StreamingShardWriter: the files read back as the tensors written") {
  test::TempDir dir("stream-read");
  const StreamingShardWriterTensors tensors = random_stream(3);
  StreamingShardWriter writer(dir.path(), "w", 500);
  for (const auto& [name, tensor] : tensors) writer.add(name, tensor);  // no guess: every shard moved
  const auto names = writer.finish();
  CHECK(names.size() > 2);
  const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  for (const auto& [name, tensor] : tensors) {
    const at::Tensor loaded = checkpoint.load(name);
    CHECK_MESSAGE((loaded.scalar_type() == tensor.scalar_type() && at::equal(loaded, tensor)), name);
  }
}

TEST_CASE("StreamingShardWriter: a failed or abandoned save leaves no file") {
  test::TempDir dir("stream-abandon");
  {
    StreamingShardWriter writer(dir.path(), "w", 100);
    for (const auto& [name, tensor] : random_stream(2)) writer.add(name, tensor);  // shards closed + one open
    CHECK_FALSE(fs::is_empty(dir.path()));
  }
  CHECK(fs::is_empty(dir.path()));
  {
    StreamingShardWriter writer(dir.path(), "w", 0);
    writer.add("a", at::ones({4}));
    CHECK_THROWS_WITH_AS(writer.add("a", at::ones({4})), doctest::Contains("duplicate tensor 'a'"), Error);
    CHECK_THROWS_WITH_AS(writer.add("c", at::ones({2}, at::kComplexFloat)), doctest::Contains("'c'"), Error);
  }
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE(
    "StreamingShardWriter: MODELSLIM_SHARD_WRITER=spill takes the spill-then-copy path; typos are refused") {
  test::TempDir dir("stream-spill");
  const StreamingShardWriterTensors tensors = random_stream(4);
  const auto expected = golden(dir, tensors, 700);
  ::setenv("MODELSLIM_SHARD_WRITER", "spill", 1);
  const auto [actual, moved] =
      streamed(dir / "s", tensors, 700, [](std::size_t) { return std::optional<std::vector<TensorSpec>>(); });
  ::setenv("MODELSLIM_SHARD_WRITER", "spil", 1);
  CHECK_THROWS_WITH_AS(StreamingShardWriter(dir / "s", "w", 700),
                       doctest::Contains("MODELSLIM_SHARD_WRITER=spil names no shard writer"), Error);
  ::unsetenv("MODELSLIM_SHARD_WRITER");
  check_same_files(actual, expected);
  CHECK(moved == 0);  // without a guess the streaming path would have moved shards (first test case)
}

namespace {

// StreamingShardWriterTensors of a few MiB and odd sizes, so the direct writer's 8 MiB staging buffers fill,
// wrap mid-tensor and end on a partial, unaligned block.
StreamingShardWriterTensors large_stream() {
  at::manual_seed(3);
  return {{"a", at::randint(-128, 127, {3 << 20}).to(at::kChar)},
          {"b", at::randn({1 << 20, 3})},  // 12 MiB: spans a whole buffer
          {"c", at::randn({4097}).to(at::kBFloat16)},
          {"d", at::randint(-1000, 1000, {7}).to(at::kInt)}};
}

// Pages of `file` in the page cache, and all its pages.
std::pair<std::size_t, std::size_t> cached_pages(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const auto size = static_cast<std::size_t>(fs::file_size(file));
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  REQUIRE(map != MAP_FAILED);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  REQUIRE(::mincore(map, size, resident.data()) == 0);
  ::munmap(map, size);
  std::size_t cached = 0;
  for (const unsigned char flag : resident) cached += flag & 1;
  return {cached, resident.size()};
}

bool supports_direct_io(const fs::path& dir) {
  const fs::path probe = dir / "direct-probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
  fs::remove(probe);
  return fd >= 0;
}

}  // namespace

TEST_CASE("StreamingShardWriter: direct I/O writes the same bytes and bypasses the page cache") {
  test::TempDir dir("stream-direct");
  const StreamingShardWriterTensors tensors = large_stream();
  const auto write = [&](const fs::path& out) {
    fs::create_directory(out);
    StreamingShardWriter writer(out, "w", 0);
    writer.expect(specs_of(tensors));  // an exact guess: nothing is moved (rewritten through the cache)
    for (const auto& [name, tensor] : tensors) writer.add(name, tensor);
    writer.finish();
    CHECK(writer.moved_shards() == 0);
  };
  write(dir / "direct");
  // Measured before anything reads the files back: only the header, written through the page cache,
  // and the pages around it stay cached.
  const auto [cached, pages] = cached_pages(dir / "direct" / "w.safetensors");
  ::setenv("MODELSLIM_DIRECT_IO", "0", 1);
  write(dir / "buffered");
  ::setenv("MODELSLIM_DIRECT_IO", "yes", 1);
  CHECK_THROWS_WITH_AS(write(dir / "typo"), doctest::Contains("MODELSLIM_DIRECT_IO=yes is not a switch"),
                       Error);
  ::unsetenv("MODELSLIM_DIRECT_IO");
  const auto [cached_buffered, pages_buffered] = cached_pages(dir / "buffered" / "w.safetensors");

  const auto expected = golden(dir, tensors, 0);
  check_same_files(streaming_shard_writer_files_in(dir / "direct"), expected);
  check_same_files(streaming_shard_writer_files_in(dir / "buffered"), expected);
  CHECK(pages > 3000);
  CHECK(cached_buffered > pages_buffered / 2);  // the page-cache check can tell the two paths apart
  if (!supports_direct_io(dir.path())) {
    MESSAGE("this file system refuses O_DIRECT: the writer fell back to buffered writes");
    return;
  }
  CHECK(cached <= 4);
}
