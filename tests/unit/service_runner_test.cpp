// The service_oriented evaluator (issue 12 §2): answer extraction and garbled-text rules, the reference's
// plan schema (errors naming the field), engine argv mapping, and whole evaluations against a fake
// OpenAI-compatible server written in node (tests/tools/fake_openai_server.mjs), started as a `command`
// engine: scores, per-sample outputs, retries, timeouts, 5xx, prechecks, and the engine failures that are
// the machinery's (port in use, early exit, startup timeout). Part of bin/unit_tests (ctest entry
// service_runner_test).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "answer_extraction.hpp"
#include "engine_command.hpp"
#include "garbled_text.hpp"
#include "modelslim/error.hpp"
#include "service_evaluator.hpp"
#include "support/doctest.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
using namespace modelslim::service;
using nlohmann::json;

namespace {

class PathFinder final : public DatasetFinder {
 public:
  std::string find(const std::string& name) const override { return name; }
};

using modelslim::test::contains;

// A port nothing listens on right now (the kernel's choice for port 0).
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

struct Scratch {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("modelslim-service-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  Scratch() { std::filesystem::create_directories(dir); }
  ~Scratch() { std::filesystem::remove_all(dir); }
};

std::string fake_server() {
  return (test::source_dir() / "tests" / "tools" / "fake_openai_server.mjs").string();
}

// A plan's evaluation section: the fake server as a `command` engine, the native runner on `datasets`.
std::string plan(const std::filesystem::path& answers, int port, const std::string& datasets,
                 const std::string& extra_engine = "", const std::string& extra_eval = "") {
  return "type: service_oriented\n"
         "inference_engine:\n"
         "  type: command\n"
         "  command: [node, " +
         fake_server() + ", --answers, " + answers.string() + ", --port, '{port}'" + extra_engine +
         "]\n"
         "  host: 127.0.0.1\n"
         "  port: " +
         std::to_string(port) +
         "\n"
         "  startup_timeout: 60\n"
         "evaluation:\n"
         "  type: native\n"
         "  host: 127.0.0.1\n"
         "  port: " +
         std::to_string(port) +
         "\n"
         "  request_timeout: 2\n"
         "  concurrency: 3\n" +
         extra_eval + "  datasets:\n" + datasets;
}

struct Run {
  EvaluationResult result;
  std::filesystem::path dir;
};

Run evaluate(const std::string& yaml, const std::filesystem::path& dir) {
  ServiceOrientedEvaluator evaluator(parse_yaml_string(yaml, "plan.yaml"), PathFinder());
  evaluator.set_evaluation_context({"candidate_0", dir});
  Run run{evaluator.evaluate({"/models/float", std::filesystem::path("/models/saved"), "llama"}), dir};
  return run;
}

void write_jsonl(const std::filesystem::path& file, const std::vector<json>& lines) {
  std::ofstream out(file);
  for (const auto& line : lines) out << line.dump() << "\n";
}

std::vector<json> read_jsonl(const std::filesystem::path& file) {
  std::vector<json> lines;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  return lines;
}

double metric(const EvaluationResult& result, const std::string& dataset) {
  for (const auto& m : result.metrics)
    if (m.dataset == dataset) return m.value;
  FAIL("no metric for " << dataset);
  return 0;
}

std::string error_with_tip(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return std::string(error.what()) + "\nTIP: " + error.tip();
  }
  return "";
}

}  // namespace

TEST_CASE("service_oriented: numbers, yes/no and letters are read as the benchmarks score them") {
  CHECK(number_answer("Natalia sold 48 + 24 = 72 clips.\n#### 72") == "72");
  CHECK(number_answer("#### 1,234.00 then 5") == "1234");
  CHECK(number_answer("It costs $18.50 in total, or 20") == "20");
  CHECK(number_answer("The answer is -3.") == "-3");
  CHECK_FALSE(number_answer("no digits here").has_value());
  CHECK(same_number("18.5", "18.50"));
  CHECK_FALSE(same_number("18", "180"));
  CHECK(yes_no_answer(" Yes, it is.") == true);
  CHECK(yes_no_answer("I know it: no.") == false);  // "know" is not "no"
  CHECK(yes_no_answer("FALSE") == false);
  CHECK_FALSE(yes_no_answer("maybe").has_value());
  CHECK(letter_answer(" B. because", 4) == 1);
  CHECK(letter_answer("(C)", 4) == 2);
  CHECK(letter_answer("I think the answer is D", 4) == 3);
  CHECK_FALSE(letter_answer("E", 4).has_value());
  CHECK_FALSE(letter_answer("Because of the", 4).has_value());
  CHECK(matches_answer("  In the beginning God", {"in the beginning"}, "prefix"));
  CHECK_FALSE(matches_answer("And in the beginning", {"in the beginning"}, "prefix"));
  CHECK(matches_answer("And in the beginning", {"in the beginning"}, "contains"));
  CHECK(matches_answer(" off.", {"off"}, "prefix"));
  CHECK_FALSE(matches_answer(" thee", {"the"}, "prefix"));
  CHECK_FALSE(matches_answer("x", {""}, "contains"));
}

TEST_CASE("service_oriented: the reference's garbled-text checks") {
  const std::vector<std::string> all = {"empty_text", "repeated_char", "normal_char_ratio", "control_char",
                                        "repeated_pattern"};
  CHECK_FALSE(garbled_by("I am fine, thank you. How are you today?", all).has_value());
  CHECK_FALSE(garbled_by("我很好，谢谢。", all).has_value());
  CHECK(garbled_by("   \n", all) == "empty_text");
  CHECK(garbled_by("ok!!!!!!!!!!!!", all) == "repeated_char");
  CHECK(garbled_by("\x01\x02\x03\x04 ok ok", {"control_char"}) == "control_char");
  CHECK(garbled_by("@#%^&*~|<>@#", {"normal_char_ratio"}) == "normal_char_ratio");
  CHECK(garbled_by("thethethethethe end", {"repeated_pattern"}) == "repeated_pattern");
  CHECK_FALSE(garbled_by("ok!!!!!!!!!!!!", {"empty_text"}).has_value());  // only the items asked for
}

TEST_CASE("service_oriented: engine args map to flags as the reference maps them; the command lines") {
  const std::string yaml =
      "{type: service_oriented, inference_engine: {type: vllm-ascend, port: 1234, served_model_name: qwen, "
      "env_vars: {ASCEND_RT_VISIBLE_DEVICES: 0}, args: {enforce-eager: true, enable-prefix-caching: false, "
      "tensor-parallel-size: 2, gpu-memory-utilization: 0.9, quantization: ascend, skip: null, "
      "literal: 'true', additional_config: {ascend_scheduler_config: {enable: true}}}}, "
      "evaluation: {type: native, datasets: {d: {path: x.jsonl, task: custom}}}}";
  const ServiceOrientedEvaluator evaluator(parse_yaml_string(yaml, "plan.yaml"), PathFinder());
  const EngineConfig& engine = evaluator.config().engine;
  CHECK(shell_line(engine_argv(engine, {"/m/float", std::filesystem::path("/m/saved")})) ==
        "python -m vllm.entrypoints.openai.api_server --model /m/saved --host localhost --port 1234 "
        "--served-model-name qwen --enforce-eager --tensor-parallel-size 2 --gpu-memory-utilization 0.9 "
        "--quantization ascend --literal true --additional_config "
        "'{\"ascend_scheduler_config\":{\"enable\":true}}'");
  CHECK(engine.env_vars ==
        std::vector<std::pair<std::string, std::string>>{{"ASCEND_RT_VISIBLE_DEVICES", "0"}});
  EngineConfig ours = engine;
  ours.type = "modelslim";
  ours.entrypoint = "/bin/modelslim";
  ours.args.clear();
  CHECK(shell_line(engine_argv(ours, {"/m/float", std::filesystem::path("/m/saved")})) ==
        "/bin/modelslim serve --model_path /m/float --quant_path /m/saved --host localhost --port 1234 "
        "--served_model_name qwen");
  CHECK(shell_line(engine_argv(ours, {"/m/float", std::nullopt})) ==
        "/bin/modelslim serve --model_path /m/float --host localhost --port 1234 --served_model_name qwen");
}

TEST_CASE("service_oriented: schema errors name the field") {
  const auto refused = [](const std::string& yaml) {
    return error_with_tip(
        [&] { ServiceOrientedEvaluator(parse_yaml_string(yaml, "plan.yaml"), PathFinder()); });
  };
  const std::string native = "evaluation: {type: native, datasets: {d: {path: x.jsonl, task: custom}}}";
  CHECK(contains(
      refused("{type: service_oriented, inference_engine: {type: vllm, port: 70000}, " + native + "}"),
      "inference_engine.port"));
  CHECK(contains(refused("{type: service_oriented, inference_engine: {type: tgi}, " + native + "}"),
                 "inference_engine.type"));
  CHECK(contains(
      refused("{type: service_oriented, inference_engine: {type: vllm, startup_timeout: 0}, " + native + "}"),
      "inference_engine.startup_timeout"));
  CHECK(contains(refused("{type: service_oriented, inference_engine: {type: command}, " + native + "}"),
                 "'command'"));
  CHECK(
      contains(refused("{type: service_oriented, inference_engine: {type: vllm, bogus: 1}, " + native + "}"),
               "bogus"));
  CHECK(
      contains(refused("{type: service_oriented, inference_engine: {type: vllm}, evaluation: {type: native, "
                       "datasets: {d: {path: x.jsonl, task: summarize}}}}"),
               "evaluation.datasets.d.task"));
  CHECK(
      contains(refused("{type: service_oriented, inference_engine: {type: vllm}, evaluation: {type: native, "
                       "precheck: [{type: garbled_text, test_cases: [{message: hi, items: [nonsense]}]}], "
                       "datasets: {d: {path: x.jsonl, task: custom}}}}"),
               "nonsense"));
  CHECK(contains(refused("{type: service_oriented, inference_engine: {type: vllm}, " + native +
                         ", demand: {expectations: [{dataset: gsm8k, target: 83, tolerance: 2}]}}"),
                 "gsm8k"));
  CHECK(contains(
      refused("{type: service_oriented, inference_engine: {type: vllm}, evaluation: {type: aisbench, "
              "datasets: {gsm8k: {mode: all}}}}"),
      "evaluation.datasets.gsm8k"));
}

TEST_CASE("service_oriented: aisbench without ais_bench on PATH is refused, pointing to the native runner") {
  const char* path = std::getenv("PATH");
  const std::string saved = path != nullptr ? path : "";
  ::setenv("PATH", "/nonexistent", 1);
  const std::string message = error_with_tip([] {
    ServiceOrientedEvaluator(
        parse_yaml_string("{type: service_oriented, inference_engine: {type: vllm}, evaluation: "
                          "{type: aisbench, datasets: {gsm8k: {config_name: gsm8k_gen}}}}",
                          "plan.yaml"),
        PathFinder());
  });
  ::setenv("PATH", saved.c_str(), 1);
  CHECK(contains(message, "ais_bench"));
  CHECK(contains(message, "not on PATH"));
  CHECK(contains(message, "type: native"));
}

TEST_CASE(
    "service_oriented: native gsm8k over a command engine: scores, per-sample JSONL, retries, 5xx, "
    "timeouts") {
  const Scratch scratch;
  const auto data = scratch.dir / "gsm8k.jsonl";
  write_jsonl(data, {{{"question", "q1"}, {"answer", "48 + 24 = 72\n#### 72"}},
                     {{"question", "q2"}, {"answer", "#### 1,200"}},
                     {{"question", "q3"}, {"answer", "#### 5"}},
                     {{"question", "q4"}, {"answer", "#### 7"}},
                     {{"question", "q5"}, {"answer", "#### 9"}},
                     {{"question", "q6"}, {"answer", "#### 10"}}});
  const auto answers = scratch.dir / "answers.json";
  test::write_text(
      answers, json{{"Question: q1\nAnswer:", {{"text", " so 72 clips.\n#### 72"}}},
                    {"Question: q2\nAnswer:", {{"text", " It is 1200 dollars"}}},  // the last number
                    {"Question: q3\nAnswer:", {{"text", " #### 6"}}},              // wrong
                    {"Question: q4\nAnswer:",
                     {{"status", 503}, {"times", 1}, {"text", "#### 7"}}},            // retried, then right
                    {"Question: q5\nAnswer:", {{"status", 500}}},                     // always 5xx
                    {"Question: q6\nAnswer:", {{"delay_ms", 6000}, {"text", "10"}}}}  // past request_timeout
                   .dump());
  const int port = free_port();
  const Run run = evaluate(
      plan(answers, port, "    gsm8k: {path: " + data.string() + ", task: gsm8k}\n", "", "  retry: 1\n"),
      scratch.dir / "out");
  REQUIRE_MESSAGE(run.result.ok, run.result.message);
  // q1, q2 right; q4 right after its retry; q3 wrong; q5 (500) and q6 (timeout) wrong with their error.
  CHECK(metric(run.result, "gsm8k") == doctest::Approx(300.0 / 6.0));
  const auto samples = read_jsonl(run.dir / "gsm8k.samples.jsonl");
  REQUIRE(samples.size() == 6);
  CHECK(samples[1]["predicted"] == "1200");
  CHECK(samples[2]["correct"] == false);
  CHECK(samples[3]["correct"] == true);
  CHECK(contains(samples[4]["error"].get<std::string>(), "HTTP 500"));
  CHECK(samples[5].contains("error"));
  CHECK_FALSE(samples[0].contains("error"));
  const json score = json::parse(test::read_text(run.dir / "gsm8k.score.json"));
  CHECK(score["correct"] == 3);
  CHECK(score["errors"] == 2);
  CHECK(contains(test::read_text(run.dir / "engine.log"), "engine command: node"));
}

TEST_CASE(
    "service_oriented: boolq, multiple choice (letters in three layouts, logprobs), custom, perplexity") {
  const Scratch scratch;
  const auto boolq = scratch.dir / "boolq.jsonl";
  write_jsonl(boolq, {{{"question", "is water wet"}, {"passage", "Water."}, {"answer", true}},
                      {{"question", "is fire cold"}, {"answer", "no"}}});
  const auto mmlu = scratch.dir / "mmlu.jsonl";
  write_jsonl(mmlu, {{{"question", "m1"}, {"choices", {"a", "b", "c", "d"}}, {"answer", 2}},
                     {{"question", "m2"}, {"A", "a"}, {"B", "b"}, {"C", "c"}, {"D", "d"}, {"answer", "B"}},
                     {{"Question", "m3"}, {"A", "a"}, {"B", "b"}, {"C", "c"}, {"D", "d"}, {"Answer", "D"}}});
  // Logprobs: the fake server scores a character c with -((c % 7) + 1) / 10; "ab" sums to -0.7 - 0.1 = -0.8
  // ('a' = 97: 97 % 7 = 6; 'b' = 98: 0), "zz" to -0.3 - 0.3 = -0.6 ('z' = 122: 3), " " (32: 4) adds -0.5 to
  // each.
  const auto choice = scratch.dir / "choice.jsonl";
  write_jsonl(choice,
              {{{"inputs_pretokenized", "Q"}, {"choices_pretokenized", {" ab", " yy"}}, {"label", 1}},
               {{"inputs_pretokenized", "Q"}, {"choices_pretokenized", {" yy", " ab"}}, {"label", 0}}});
  const auto custom = scratch.dir / "custom.jsonl";
  write_jsonl(custom, {{{"prompt", "In the beginning"}, {"answers", {"God created"}}},
                       {{"prompt", "And God said"}, {"answer", "Let there be light"}}});
  const auto ppl = scratch.dir / "ppl.jsonl";
  write_jsonl(ppl, {{{"text", "abc"}}, {{"text", "zz"}}});
  const auto answers = scratch.dir / "answers.json";
  test::write_text(answers,
                   json{{"Water.\nQuestion: is water wet?\nAnswer (yes or no):", {{"text", " Yes."}}},
                        {"Question: is fire cold?\nAnswer (yes or no):", {{"text", " yes"}}},
                        {"m1\nA. a\nB. b\nC. c\nD. d\nAnswer:", {{"text", " C"}}},
                        {"m2\nA. a\nB. b\nC. c\nD. d\nAnswer:", {{"text", " The answer is B"}}},
                        {"m3\nA. a\nB. b\nC. c\nD. d\nAnswer:", {{"text", " A"}}},
                        {"In the beginning", {{"text", " God created the heaven"}}},
                        {"And God said", {{"text", ", Let there be"}}}}
                       .dump());
  const int port = free_port();
  const Run run = evaluate(plan(answers, port,
                                "    boolq: {path: " + boolq.string() +
                                    ", task: boolq}\n"
                                    "    mmlu: {path: " +
                                    mmlu.string() +
                                    ", task: multiple_choice}\n"
                                    "    choice: {path: " +
                                    choice.string() +
                                    ", task: multiple_choice, method: logprobs}\n"
                                    "    custom: {path: " +
                                    custom.string() +
                                    ", task: custom, match: prefix}\n"
                                    "    ppl: {path: " +
                                    ppl.string() + ", task: perplexity}\n"),
                           scratch.dir / "out");
  REQUIRE_MESSAGE(run.result.ok, run.result.message);
  CHECK(metric(run.result, "boolq") == doctest::Approx(50.0));
  CHECK(metric(run.result, "mmlu") == doctest::Approx(200.0 / 3.0));
  CHECK(metric(run.result, "choice") ==
        doctest::Approx(100.0));  // " yy" (-1.1) beats " ab" (-1.3) both times
  CHECK(metric(run.result, "custom") == doctest::Approx(50.0));
  // Token NLLs after the first token: "abc" → b 0.1, c ('c' = 99: 1) 0.2; "zz" → z ('z' = 122: 3) 0.4.
  CHECK(metric(run.result, "ppl") == doctest::Approx(std::exp(0.7 / 3.0)).epsilon(1e-12));
  for (const auto& m : run.result.metrics)
    CHECK((m.metric == "ppl") == (m.direction == MetricDirection::kLowerIsBetter));
  const auto lp = read_jsonl(run.dir / "choice.samples.jsonl");
  CHECK(lp[0]["choice_logprobs"][0].get<double>() == doctest::Approx(-1.3));
}

TEST_CASE("service_oriented: a failed precheck scores 0 without running the benchmark") {
  const Scratch scratch;
  const auto data = scratch.dir / "custom.jsonl";
  write_jsonl(data, {{{"prompt", "p1"}, {"answer", "x"}}, {{"prompt", "p2"}, {"answer", "y"}}});
  const auto answers = scratch.dir / "answers.json";
  test::write_text(answers, json{{"What is 2+2?", {{"text", "The answer is four."}}},
                                 {"How are you?", {{"text", "fine fine fine fine fine fine"}}},
                                 {"p1", {{"text", "x"}}},
                                 {"p2", {{"text", "y"}}}}
                                .dump());
  const std::string datasets = "    custom: {path: " + data.string() + ", task: custom}\n";
  SUBCASE("expected_answer passes on any listed answer, case-insensitive") {
    const Run run = evaluate(plan(answers, free_port(), datasets, "",
                                  "  precheck:\n    - type: expected_answer\n      test_cases:\n"
                                  "        - \"What is 2+2?\": [\"4\", \"FOUR\"]\n"),
                             scratch.dir / "out");
    CHECK(metric(run.result, "custom") == doctest::Approx(100.0));
    CHECK(std::filesystem::exists(run.dir / "custom.samples.jsonl"));
  }
  SUBCASE("expected_answer fails: accuracy 0, no benchmark request") {
    const Run run = evaluate(plan(answers, free_port(), datasets, "",
                                  "  precheck:\n    - type: expected_answer\n      test_cases:\n"
                                  "        - \"What is 2+2?\": \"4\"\n"),
                             scratch.dir / "out");
    REQUIRE(run.result.ok);
    CHECK(metric(run.result, "custom") == 0.0);
    CHECK(contains(run.result.message, "What is 2+2?"));
    CHECK_FALSE(std::filesystem::exists(run.dir / "custom.samples.jsonl"));
  }
  SUBCASE("garbled_text fails on a repeated pattern") {
    const Run run = evaluate(
        plan(answers, free_port(), datasets, "", "  precheck: [{type: garbled_text, api: completions}]\n"),
        scratch.dir / "out");
    CHECK(metric(run.result, "custom") == 0.0);
    CHECK(contains(run.result.message, "repeated_pattern"));
    CHECK_FALSE(std::filesystem::exists(run.dir / "custom.samples.jsonl"));
  }
}

TEST_CASE("service_oriented: engine failures are the machinery's, and stopping ends the whole group") {
  const Scratch scratch;
  const auto data = scratch.dir / "custom.jsonl";
  write_jsonl(data, {{{"prompt", "p1"}, {"answer", "x"}}});
  const auto answers = scratch.dir / "answers.json";
  test::write_text(answers, json{{"p1", {{"text", "x"}}}}.dump());
  const std::string datasets = "    custom: {path: " + data.string() + ", task: custom}\n";
  SUBCASE("port in use") {
    const int port = free_port();
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    const std::string message =
        error_with_tip([&] { evaluate(plan(answers, port, datasets), scratch.dir / "out"); });
    ::close(fd);
    CHECK(contains(message, "is in use"));
    CHECK(contains(message, std::to_string(port)));
  }
  SUBCASE("the engine exits before it is ready") {
    const std::string message = error_with_tip([&] {
      evaluate(plan(answers, free_port(), datasets, ", --startup-delay-ms, '100000', --exit-after-ms, '10'"),
               scratch.dir / "out");
    });
    CHECK(contains(message, "exited"));
    CHECK(contains(message, "exit code 3"));
  }
  SUBCASE("a program that cannot start") {
    std::string yaml = plan(answers, free_port(), datasets);
    yaml.replace(yaml.find("[node,"), 6, "[/nonexistent/engine,");
    const std::string message = error_with_tip([&] { evaluate(yaml, scratch.dir / "out"); });
    CHECK(contains(message, "exit code 127"));
    CHECK(contains(message, "No such file"));
  }
  SUBCASE("not ready within startup_timeout") {
    std::string yaml = plan(answers, free_port(), datasets, ", --startup-delay-ms, '100000'");
    yaml.replace(yaml.find("startup_timeout: 60"), 19, "startup_timeout: 1");
    const std::string message = error_with_tip([&] { evaluate(yaml, scratch.dir / "out"); });
    CHECK(contains(message, "startup_timeout"));
  }
  SUBCASE("a process of the engine's group that ignores SIGTERM is gone after the evaluation") {
    const auto pid_file = scratch.dir / "child.pid";
    const Run run = evaluate(plan(answers, free_port(), datasets, ", --child-pid-file, " + pid_file.string()),
                             scratch.dir / "out");
    CHECK(metric(run.result, "custom") == 100.0);
    const std::string stat_file = "/proc/" + test::read_text(pid_file) + "/stat";
    // Gone, or a zombie waiting for whoever adopted it: either way no longer running. SIGKILL was sent;
    // its delivery is asynchronous, so wait for it (bounded).
    const auto running = [&] {
      const std::string stat = std::filesystem::exists(stat_file) ? test::read_text(stat_file) : "";
      return !stat.empty() && !contains(stat, ") Z ");
    };
    for (int i = 0; i < 500 && running(); ++i) ::usleep(10000);
    CHECK_FALSE(running());
  }
}
