// `modelslim tune` with `evaluation.type: service_oriented` end to end (issue 12 §2): every candidate is
// served by `modelslim serve` (inference_engine type modelslim) and benchmarked over HTTP by the native
// runner on the held-out KJV completion task; a precheck failure fails the candidate before its benchmark.
// Needs `modelslim serve` (issue 12 §1).
#include "support/doctest.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}

// The shipped example plan on a free port with one outlier chain (speed), its precheck expecting
// `precheck_answer`.
fs::path write_plan(const fs::path& dir, const std::string& precheck_answer) {
  std::string plan = test::read_text(test::source_dir() / "data" / "tune" / "demo-service-oriented.yaml");
  plan = replaced(plan, "8011", std::to_string(free_port()));
  plan = replaced(plan, "\"LORD\"", "\"" + precheck_answer + "\"");
  plan = replaced(plan, "    - [{type: iter_smooth, alpha: 0.5, symmetric: true}]   # then smoothing\n", "");
  const fs::path file = dir / "plan.yaml";
  test::write_text(file, plan);
  return file;
}

std::string tune(const fs::path& save, const fs::path& plan, const std::string& extra, int& exit_code) {
  const auto result =
      test::run_command(test::modelslim_bin().string() + " tune --model_path " +
                        (test::source_dir() / "data" / "demo-model").string() + " --save_path " +
                        save.string() + " --config " + plan.string() + " " + extra);
  exit_code = result.exit_code;
  return result.output;
}

void require_serve() {
  const auto help = test::run_command(test::modelslim_bin().string() + " serve --help");
  REQUIRE_MESSAGE(help.exit_code == 0, "this test needs `modelslim serve` (issue 12 §1):\n" << help.output);
}

}  // namespace

TEST_CASE("tune: service_oriented with the modelslim engine and the native runner passes end to end") {
  require_serve();
  const test::TempDir dir("service-tune");
  int code = -1;
  const std::string output = tune(dir / "out", write_plan(dir.path(), "LORD"), "", code);
  REQUIRE_MESSAGE(code == 0, output);
  const fs::path evaluations = dir / "out" / "history" / "evaluations";
  const fs::path first = evaluations / "demo-kjv-served_0";
  REQUIRE_MESSAGE(fs::exists(first / "engine.log"), output);
  CHECK(test::read_text(first / "engine.log").find(" serve --model_path ") != std::string::npos);
  // Every sample answered and scored; the score file agrees with the per-sample lines.
  std::ifstream samples(first / "kjv_complete.samples.jsonl");
  std::size_t lines = 0, correct = 0;
  for (std::string line; std::getline(samples, line); ++lines) {
    const auto sample = nlohmann::json::parse(line);
    CHECK_FALSE(sample.contains("error"));
    correct += sample["correct"].get<bool>();
  }
  CHECK(lines == 38);
  const auto score = nlohmann::json::parse(test::read_text(first / "kjv_complete.score.json"));
  CHECK(score["value"].get<double>() == doctest::Approx(100.0 * correct / lines));
  CHECK(score["value"].get<double>() >= 25.0);  // the demand: target 28, tolerance 3
  CHECK(
      fs::exists(evaluations / "quant_model" / "kjv_complete.score.json"));  // the final check, served again
  CHECK(fs::exists(dir / "out" / "quant_model"));
}

TEST_CASE("tune: a service_oriented precheck failure fails the candidate before its benchmark runs") {
  require_serve();
  const test::TempDir dir("service-precheck");
  int code = -1;
  // The demo model continues "The anger of the" with "LORD", never with "zebra".
  const std::string output = tune(dir / "out", write_plan(dir.path(), "zebra"), "--max_candidates 1", code);
  CHECK_MESSAGE(code != 0, output);
  const fs::path first = dir / "out" / "history" / "evaluations" / "demo-kjv-served_0";
  REQUIRE_MESSAGE(fs::exists(first / "engine.log"), output);
  CHECK_FALSE(fs::exists(first / "kjv_complete.samples.jsonl"));
  const auto result = nlohmann::json::parse(test::read_text(first / "result.json"));
  CHECK(result["message"].get<std::string>().find("zebra") != std::string::npos);
  CHECK(result["metrics"][0]["value"].get<double>() == 0.0);
}
