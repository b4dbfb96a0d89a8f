// dp_layer_wise: two ranks on loopback (c10d/Gloo) write byte-identical files to a one-process run; a rank
// that dies makes the others fail within seconds with a message naming it, leaving no output; processors
// that cannot combine statistics across ranks are refused before any work.
#include "support/doctest.hpp"

#include <signal.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

const char* kPractice = R"(apiversion: modelslim_v1
spec:
  process:
    - {type: iter_smooth, alpha: 0.5, symmetric: false}
    - type: linear_quant
      qconfig:
        act: {scope: per_tensor, dtype: int8, symmetric: false, method: minmax}
        weight: {scope: per_channel, dtype: int8, symmetric: true}
      exclude: ["*down_proj"]
    - type: linear_quant
      qconfig:
        act: {scope: per_token, dtype: int8, symmetric: true}
        weight: {scope: per_channel, dtype: int8, symmetric: true}
      include: ["*down_proj"]
  save: [{type: ascendv1_saver, part_file_size: 1}]
)";

std::string quant_command(const fs::path& config, const fs::path& save, const std::string& extra = "") {
  return test::modelslim_bin().string() + " quant --model_path " +
         (test::source_dir() / "data" / "demo-model-hard").string() + " --save_path " + save.string() +
         " --config_path " + config.string() + " " + extra;
}

// Every file under `a` equals the one under `b`, and no file is missing on either side.
void require_identical_trees(const fs::path& a, const fs::path& b) {
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(a)) {
    // The output marker records its own command line and time.
    if (!entry.is_regular_file() || entry.path().filename() == ".modelslim-output") continue;
    const fs::path relative = fs::relative(entry.path(), a);
    REQUIRE_MESSAGE(fs::exists(b / relative), relative.string());
    CHECK_MESSAGE(test::read_text(entry.path()) == test::read_text(b / relative), relative.string());
    ++files;
  }
  std::size_t other = 0;
  for (const auto& entry : fs::recursive_directory_iterator(b))
    other += entry.is_regular_file() && entry.path().filename() != ".modelslim-output" ? 1 : 0;
  CHECK(files == other);
  CHECK(files > 3);
}

bool wait_for(const fs::path& log, const std::string& needle, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(log) && test::read_text(log).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool process_alive(pid_t pid) {
  return ::kill(pid, 0) == 0 &&
         test::run_command("ps -o stat= -p " + std::to_string(pid)).output.find('Z') == std::string::npos;
}

// Seconds until `pid` is gone (or the limit).
double seconds_until_gone(pid_t pid, double limit) {
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0.0;
  while (process_alive(pid) && elapsed < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return elapsed;
}

pid_t start_background(const std::string& command, const fs::path& log) {
  const auto started = test::run_command("sh -c '" + command + " > " + log.string() + " 2>&1 & echo $!'");
  return std::stoi(started.output);
}

// The ranks of a supervisor that has logged progress: rank 0 only logs once every rank has joined the
// process group, so all of them exist by then (children start in rank order).
std::vector<pid_t> rank_pids(pid_t supervisor) {
  const std::string children = test::run_command("pgrep -P " + std::to_string(supervisor)).output;
  std::vector<pid_t> pids;
  std::istringstream lines(children);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) pids.push_back(std::stoi(line));
  }
  return pids;
}

bool leftovers(const fs::path& save) {
  for (const auto& entry : fs::directory_iterator(save.parent_path())) {
    if (entry.path().filename().string().rfind("." + save.filename().string(), 0) == 0) return true;
  }
  return fs::exists(save);
}

}  // namespace

TEST_CASE("2 ranks on loopback write byte-identical files to one process") {
  test::TempDir dir("dp-identical");
  test::write_text(dir / "practice.yaml", kPractice);
  const auto single = test::run_command(quant_command(dir / "practice.yaml", dir / "single"));
  REQUIRE_MESSAGE(single.exit_code == 0, single.output);
  const auto ranks = test::run_command(quant_command(dir / "practice.yaml", dir / "dp", "--device cpu:0,1"));
  REQUIRE_MESSAGE(ranks.exit_code == 0, ranks.output);
  CHECK(ranks.output.find("23 calibration samples") != std::string::npos);  // rank 0's half of 46
  require_identical_trees(dir / "single", dir / "dp");
}

TEST_CASE("a rank killed under --device cpu:0,1 stops the others at once, leaving no output") {
  test::TempDir dir("dp-kill");
  test::write_text(dir / "practice.yaml", kPractice);
  const fs::path log = dir / "run.log";
  const pid_t supervisor =
      start_background(quant_command(dir / "practice.yaml", dir / "out", "--device cpu:0,1"), log);
  REQUIRE_MESSAGE(wait_for(log, "block 1/4", std::chrono::seconds(120)), test::read_text(log));
  const std::string children = test::run_command("pgrep -P " + std::to_string(supervisor)).output;
  const auto newline = children.find('\n');
  REQUIRE(newline != std::string::npos);
  const pid_t rank1 = std::stoi(children.substr(newline + 1));  // children start in rank order
  ::kill(rank1, SIGKILL);
  const double seconds = seconds_until_gone(supervisor, 30.0);
  MESSAGE("supervisor gone " << seconds << " s after rank 1 was killed\n" << test::read_text(log));
  CHECK(seconds < 10.0);
  CHECK(test::read_text(log).find("rank 1 was killed") != std::string::npos);
  CHECK_FALSE(leftovers(dir / "out"));
}

TEST_CASE("a SIGKILLed supervisor takes its ranks down with it, and nothing is published") {
  test::TempDir dir("dp-kill-supervisor");
  test::write_text(dir / "practice.yaml", kPractice);
  const fs::path log = dir / "run.log";
  const pid_t supervisor =
      start_background(quant_command(dir / "practice.yaml", dir / "out", "--device cpu:0,1"), log);
  REQUIRE_MESSAGE(wait_for(log, "block 1/4", std::chrono::seconds(120)), test::read_text(log));
  const std::vector<pid_t> ranks = rank_pids(supervisor);
  REQUIRE(ranks.size() == 2);
  ::kill(supervisor, SIGKILL);
  // Orphaned ranks would go on and publish dir/out within this bound; ranks tied to the supervisor die at
  // once.
  for (const pid_t rank : ranks) {
    const double seconds = seconds_until_gone(rank, 120.0);
    MESSAGE("rank " << rank << " gone " << seconds << " s after the supervisor was killed");
    CHECK_FALSE(process_alive(rank));
  }
  CHECK_FALSE(fs::exists(dir / "out"));
}

TEST_CASE("SIGTERM to the supervisor stops its ranks and removes their staging directories") {
  test::TempDir dir("dp-term-supervisor");
  test::write_text(dir / "practice.yaml", kPractice);
  const fs::path log = dir / "run.log";
  const pid_t supervisor =
      start_background(quant_command(dir / "practice.yaml", dir / "out", "--device cpu:0,1"), log);
  REQUIRE_MESSAGE(wait_for(log, "block 1/4", std::chrono::seconds(120)), test::read_text(log));
  const std::vector<pid_t> ranks = rank_pids(supervisor);
  REQUIRE(ranks.size() == 2);
  ::kill(supervisor, SIGTERM);
  const double seconds = seconds_until_gone(supervisor, 120.0);
  MESSAGE("supervisor gone " << seconds << " s after SIGTERM\n" << test::read_text(log));
  CHECK_FALSE(process_alive(supervisor));
  for (const pid_t rank : ranks)
    CHECK_FALSE(process_alive(rank));  // reaped by the supervisor before it exits
  const std::string text = test::read_text(log);
  CHECK(text.find("Terminated; stopping the 2 rank(s)") != std::string::npos);
  // Each rank stopped on the forwarded SIGTERM itself (its handler removed its stage, then it died of the
  // signal or exited), none needed the supervisor's SIGKILL fallback.
  for (const std::string rank : {"0", "1"}) {
    const auto line = text.find("dp_layer_wise: rank " + rank + " ");
    REQUIRE_MESSAGE(line != std::string::npos, "no end reported for rank " << rank);
    const std::string end = text.substr(line, text.find('\n', line) - line);
    CHECK_MESSAGE(end.find("Killed") == std::string::npos, end);
  }
  CHECK(text.find("did not stop within 3 s of SIGTERM") == std::string::npos);
  CHECK_FALSE(leftovers(dir / "out"));
}

TEST_CASE(
    "ranks started by an external launcher: a dead rank fails the others promptly with a clear message") {
  test::TempDir dir("dp-external");
  test::write_text(dir / "practice.yaml", kPractice);
  const std::string port = std::to_string(20000 + ::getpid() % 20000);
  const auto env = [&](int rank) {
    return "RANK=" + std::to_string(rank) + " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " ";
  };
  const pid_t rank0 =
      start_background(env(0) + quant_command(dir / "practice.yaml", dir / "out"), dir / "rank0.log");
  const pid_t rank1 =
      start_background(env(1) + quant_command(dir / "practice.yaml", dir / "out"), dir / "rank1.log");
  REQUIRE_MESSAGE(wait_for(dir / "rank0.log", "block 1/4", std::chrono::seconds(120)),
                  test::read_text(dir / "rank0.log"));
  ::kill(rank1, SIGKILL);
  const double seconds = seconds_until_gone(rank0, 60.0);
  const std::string log = test::read_text(dir / "rank0.log");
  MESSAGE("rank 0 gone " << seconds << " s after rank 1 was killed\n" << log);
  CHECK(seconds < 10.0);
  CHECK(log.find("dp_layer_wise rank 0/2") != std::string::npos);
  CHECK(log.find("with the other ranks failed") != std::string::npos);
  CHECK_FALSE(leftovers(dir / "out"));
}

TEST_CASE("processors that cannot combine statistics across ranks are refused up front, by name") {
  test::TempDir dir("dp-refused");
  std::string practice = kPractice;
  practice.replace(practice.find("method: minmax}"), 15, "method: histogram}");
  test::write_text(dir / "practice.yaml", practice);
  const auto result =
      test::run_command(quant_command(dir / "practice.yaml", dir / "out", "--device cpu:0,1"));
  CHECK(result.exit_code == 1);
  CHECK_MESSAGE(result.output.find("spec.process.1 (linear_quant)") != std::string::npos, result.output);
  CHECK(result.output.find("calibration:") == std::string::npos);  // no data was read
  CHECK_FALSE(leftovers(dir / "out"));

  test::write_text(dir / "layer_wise.yaml",
                   std::string(kPractice).replace(std::string(kPractice).find("spec:\n"), 6,
                                                  "spec:\n  runner: layer_wise\n"));
  const auto mismatch =
      test::run_command(quant_command(dir / "layer_wise.yaml", dir / "out", "--device cpu:0,1"));
  CHECK(mismatch.exit_code == 1);
  CHECK_MESSAGE(mismatch.output.find("runner 'layer_wise' runs on one device") != std::string::npos,
                mismatch.output);
}
