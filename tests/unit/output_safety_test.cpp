// Output safety below the CLI (issue 11, §2.1-2.4, §3.8): the small-file writer never publishes a truncated
// file, StagingDir puts a previous output back when the swap fails, stale stages go only when their owner
// is dead, one lock per save path, path normalization and overlap checks, the free-space estimate.
#include "support/doctest.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "modelslim/atomic_file.hpp"
#include "modelslim/core/disk_space.hpp"
#include "modelslim/core/output_path.hpp"
#include "modelslim/core/save_path_lock.hpp"
#include "modelslim/core/staging_dir.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/model_files.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
namespace test = modelslim::test;
using namespace modelslim;
using namespace modelslim::core;

namespace {

// Files beyond `bytes` cannot grow while this lives: writes fail with EFBIG, as they would with ENOSPC.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, previous_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  sighandler_t previous_handler_ = SIG_DFL;
};

std::size_t entries_in(const fs::path& dir) {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++count;
  return count;
}

pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

std::string host_name() {
  char buffer[256] = {};
  ::gethostname(buffer, sizeof buffer - 1);
  return buffer;
}

}  // namespace

TEST_CASE("a small file that does not fit is an error naming it, and the previous file stays whole") {
  test::TempDir dir("atomic-file");
  const fs::path file = dir / "config.json";
  test::write_text(file, "{\"previous\": true}\n");
  const std::string text(200, 'x');  // well below any stream buffer: an unchecked close loses the error
  const auto writers = {
      +[](const fs::path& f, const std::string& t) { write_file_atomic(f, t); },
      +[](const fs::path& f, const std::string& t) { write_text_atomic(f, t); },  // what savers call
      +[](const fs::path& f, const std::string& t) {
        write_json_file_atomic(f, nlohmann::json{{"t", t}});
      },
  };
  for (const auto& write : writers) {
    bool failed = false;
    {
      const FileSizeLimit limit(64);
      try {
        write(file, text);
      } catch (const Error& error) {
        failed = true;
        CHECK(error.code() == ErrorCode::kIo);
        CHECK_MESSAGE(std::string(error.what()).find(file.string()) != std::string::npos, error.what());
      }
    }
    CHECK(failed);
    CHECK(test::read_text(file) == "{\"previous\": true}\n");
    CHECK(entries_in(dir.path()) == 1);  // no temp file left behind
  }
  write_file_atomic(file, text);  // without the limit it goes through
  CHECK(test::read_text(file) == text);
}

TEST_CASE("copying a model file that does not fit fails loudly and keeps the previous copy") {
  test::TempDir dir("atomic-copy");
  test::write_text(dir / "src" / "tokenizer.json", std::string(5000, 't'));
  test::write_text(dir / "out" / "tokenizer.json", "old");
  {
    const FileSizeLimit limit(1000);
    CHECK_THROWS_AS(copy_model_files(dir / "src", dir / "out", nlohmann::json::object()), Error);
  }
  CHECK(test::read_text(dir / "out" / "tokenizer.json") == "old");
  CHECK(entries_in(dir / "out") == 1);
}

TEST_CASE("StagingDir: an output replaces the previous one; a swap that fails puts the previous one back") {
  test::TempDir dir("staging-restore");
  const fs::path out = dir / "out";
  for (const char* content : {"first", "second"}) {
    StagingDir stage(out);
    test::write_text(stage.path() / "weights.bin", content);
    stage.commit();
  }
  CHECK(test::read_text(out / "weights.bin") == "second");
  CHECK(has_output_marker(out));
  CHECK(entries_in(dir.path()) == 1);  // neither the stage nor the old output left beside it
  // The new directory cannot be renamed in (here: it is gone): the old output is back in place.
  CHECK_THROWS_WITH_AS(swap_into_place(dir / "missing", out, dir / ".out.previous-1"),
                       doctest::Contains("the previous output is unchanged"), Error);
  CHECK(test::read_text(out / "weights.bin") == "second");
  CHECK(entries_in(dir.path()) == 1);
}

TEST_CASE("StagingDir refuses to replace a directory it did not create") {
  test::TempDir dir("staging-foreign");
  test::write_text(dir / "out" / "mine.txt", "user");
  CHECK_THROWS_WITH_AS(StagingDir(dir / "out"), doctest::Contains("did not create"), Error);
  CHECK(test::read_text(dir / "out" / "mine.txt") == "user");
}

TEST_CASE("remove_stale_staging: dead owners' stages go, live ones and foreign directories stay") {
  test::TempDir dir("stale");
  const std::string marker = "{\"tool\": \"modelslim\", \"host\": \"" + host_name() + "\"}";
  const fs::path dead = dir / (".out.partial-" + std::to_string(dead_pid()));
  const fs::path live = dir / (".out.partial-" + std::to_string(::getpid()));
  const fs::path other_host = dir / (".out.partial-" + std::to_string(dead_pid()) + "1");
  const fs::path empty = dir / (".x.prior-0.partial-" + std::to_string(dead_pid()));
  const fs::path unmarked = dir / (".y.partial-" + std::to_string(dead_pid()));
  test::write_text(dead / ".modelslim-output", marker);
  test::write_text(live / ".modelslim-output", marker);
  test::write_text(other_host / ".modelslim-output", R"({"tool": "modelslim", "host": "elsewhere"})");
  fs::create_directories(empty);
  test::write_text(unmarked / "user.txt", "user");
  // A commit killed between "old aside" and "new in": the old output comes back.
  const fs::path previous = dir / (".kept.previous-" + std::to_string(dead_pid()));
  test::write_text(previous / ".modelslim-output", marker);
  remove_stale_staging(dir.path());
  CHECK_FALSE(fs::exists(dead));
  CHECK_FALSE(fs::exists(empty));
  CHECK(fs::exists(live));
  CHECK(fs::exists(other_host));
  CHECK(fs::exists(unmarked / "user.txt"));
  CHECK_FALSE(fs::exists(previous));
  CHECK(fs::exists(dir / "kept" / ".modelslim-output"));
}

TEST_CASE("SavePathLock: one holder at a time, the refusal names its pid, the file goes with the lock") {
  test::TempDir dir("lock");
  const fs::path out = normalize_output_path(dir / "out", "--save_path");
  {
    const SavePathLock first(out, "--save_path");
    const std::string holder = "in use by process " + std::to_string(::getpid());
    CHECK(fs::exists(SavePathLock::lock_file(out)));
    CHECK_THROWS_WITH_AS(SavePathLock(out, "--save_path"), doctest::Contains(holder.c_str()), Error);
  }
  CHECK_FALSE(fs::exists(SavePathLock::lock_file(out)));
  const SavePathLock again(out, "--save_path");
}

TEST_CASE("normalize_output_path and check_output_path") {
  test::TempDir dir("paths");
  const fs::path base = fs::canonical(dir.path());
  CHECK(normalize_output_path(base / "out" / "", "--save_path") == base / "out");
  CHECK(normalize_output_path(base / "a" / ".." / "out" / "." / "", "--save_path") == base / "out");
  fs::create_directories(base / "real");
  fs::create_directory_symlink(base / "real", base / "link");
  CHECK(normalize_output_path(base / "link/", "--save_path") == base / "real");
  CHECK_THROWS_AS(normalize_output_path("/", "--save_path"), Error);

  fs::create_directories(base / "model");
  const std::vector<std::pair<std::string, fs::path>> inputs = {{"--model_path", base / "model"}};
  CHECK_THROWS_WITH_AS(check_output_path(base / "model", "--save_path", inputs),
                       doctest::Contains("is --model_path"), Error);
  CHECK_THROWS_WITH_AS(check_output_path(base / "model" / "q", "--save_path", inputs),
                       doctest::Contains("is inside --model_path"), Error);
  CHECK_THROWS_WITH_AS(check_output_path(base, "--save_path", inputs),
                       doctest::Contains("contains --model_path"), Error);
  CHECK_NOTHROW(check_output_path(base / "model-w8a8", "--save_path", inputs));  // a prefix, not a parent
}

TEST_CASE("free space: a lower bound from the checkpoint and the weight width, refused with the numbers") {
  test::TempDir dir("disk");
  test::write_text(dir / "model.safetensors", std::string(8000, '\0'));
  test::write_text(dir / "extra.safetensors", std::string(8000, '\0'));
  // 16000 bytes of float32 = 4000 parameters: int8 → 4000 bytes, int4 → 2000, plus one float copy 16000.
  CHECK(estimate_output_bytes(dir.path(), {{"torch_dtype", "float32"}}, 8, 0) == 4000);
  CHECK(estimate_output_bytes(dir.path(), {{"torch_dtype", "float32"}}, 4, 0) == 2000);
  CHECK(estimate_output_bytes(dir.path(), {{"torch_dtype", "bfloat16"}}, 8, 0) == 8000);
  CHECK(estimate_output_bytes(dir.path(), {{"torch_dtype", "float32"}}, 8, 1) == 20000);
  CHECK(smallest_weight_bits(YAML::Load("{spec: {process: [{qconfig: {weight: {dtype: int8}}}]}}")) == 8);
  CHECK(smallest_weight_bits(YAML::Load("{spec: {process: [{qconfig: {weight: {dtype: int4}}}]}}")) == 4);
  CHECK(smallest_weight_bits(YAML::Load("{spec: {process: [{type: smooth_quant}]}}")) == 4);
  CHECK_NOTHROW(require_free_space("--save_path x", 100, 100));
  CHECK_THROWS_WITH_AS(require_free_space("--save_path x", 3ULL << 30, 1ULL << 30),
                       doctest::Contains("--save_path x: the output needs at least 3.00 GiB"), Error);
  CHECK(free_bytes(dir / "not" / "yet") > 0);
}
