// `modelslim tune` end to end: standing_high on the hard demo model (outliers planted in blocks 1-3) meets
// a 1%-of-float perplexity demand, the saved model passes an independent `eval` again, the practice is
// found by `quant --quant_type`; a SIGKILLed run resumes without evaluating any finished candidate twice
// and ends where an uninterrupted run ends; the candidate cap and the timeout save the best so far or report
// the closest; bad plans fail before any work.
#include "support/doctest.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include <yaml-cpp/yaml.h>

#include "modelslim/json_file.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

fs::path hard_model() {
  return test::source_dir() / "data" / "demo-model-hard";
}
fs::path demo_plan() {
  return test::source_dir() / "data" / "tune" / "demo-standing-high.yaml";
}

std::string tune_command(const fs::path& save, const fs::path& plan, const std::string& extra = "") {
  return test::modelslim_bin().string() + " tune --model_path " + hard_model().string() + " --save_path " +
         save.string() + " --config " + plan.string() + " " + extra;
}

// The history database opened read-only, as a user's sqlite3 shell would. Any SQL error fails the test:
// an error must never read as an empty (and so equal) result.
class HistoryReader {
 public:
  explicit HistoryReader(const fs::path& db_file) : file_(db_file) {
    REQUIRE_MESSAGE(fs::exists(db_file), db_file.string() << ": no history database");
    const int rc = sqlite3_open_v2(db_file.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr);
    REQUIRE_MESSAGE(rc == SQLITE_OK, db_file.string() << ": " << sqlite3_errstr(rc));
    sqlite3_busy_timeout(db_, 5000);
  }
  ~HistoryReader() { sqlite3_close(db_); }
  HistoryReader(const HistoryReader&) = delete;
  HistoryReader& operator=(const HistoryReader&) = delete;

  // Every row's first column as text (NULL as "NULL").
  std::vector<std::string> column(const std::string& sql) const {
    sqlite3_stmt* stmt = nullptr;
    const int prepared = sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
    REQUIRE_MESSAGE(prepared == SQLITE_OK, file_.string() << ": " << sqlite3_errmsg(db_) << "\n" << sql);
    std::vector<std::string> out;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(stmt, 0);
      out.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "NULL");
    }
    const std::string error = sqlite3_errmsg(db_);
    sqlite3_finalize(stmt);
    REQUIRE_MESSAGE(rc == SQLITE_DONE, file_.string() << ": " << error << "\n" << sql);
    return out;
  }

 private:
  fs::path file_;
  sqlite3* db_ = nullptr;
};

// One integer from the history database; the query must return exactly one row.
std::int64_t query_int(const fs::path& db_file, const std::string& sql) {
  const std::vector<std::string> rows = HistoryReader(db_file).column(sql);
  REQUIRE_MESSAGE(rows.size() == 1, sql << ": expected one row, got " << rows.size());
  return std::stoll(rows.front());
}

std::vector<std::string> query_texts(const fs::path& db_file, const std::string& sql) {
  return HistoryReader(db_file).column(sql);
}

// While a run may still be creating the database (the resume test polls it): -1 until it exists.
std::int64_t poll_int(const fs::path& db_file, const std::string& sql) {
  sqlite3* db = nullptr;
  if (!fs::exists(db_file) ||
      sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* stmt = nullptr;
  std::int64_t value = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW)
    value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

std::vector<std::string> fallback_of(const fs::path& practice_file) {
  const YAML::Node practice = YAML::LoadFile(practice_file.string());
  std::vector<std::string> out;
  for (const auto& processor : practice["spec"]["process"]) {
    if (processor["type"].as<std::string>() != "linear_quant") continue;
    for (const auto& pattern : processor["exclude"]) out.push_back(pattern.as<std::string>());
  }
  return out;
}

// The uninterrupted reference run, shared by the tests that compare against it.
struct ReferenceRun {
  test::TempDir dir{"tune-reference"};
  test::CommandResult result;
  ReferenceRun() {
    result = test::run_command(
        tune_command(dir / "out", demo_plan(), "--practice_repo " + (dir / "repo").string()));
  }
};
const ReferenceRun& reference_run() {
  static const ReferenceRun run;
  return run;
}

}  // namespace

TEST_CASE("standing_high tunes the hard demo model to within 1% of float perplexity") {
  const ReferenceRun& run = reference_run();
  MESSAGE(run.result.output);
  REQUIRE(run.result.exit_code == 0);
  CHECK(run.result.output.find("PASSED") != std::string::npos);
  const fs::path out = run.dir / "out";
  REQUIRE(fs::exists(out / "quant_model" / "quant_model_description.json"));
  REQUIRE(fs::exists(out / "best_practice.yaml"));

  // No more fallback than was planted, and only planted blocks.
  const std::set<std::string> planted = {"*model.layers.1.*", "*model.layers.2.*", "*model.layers.3.*"};
  const auto fallback = fallback_of(out / "best_practice.yaml");
  CHECK(fallback.size() <= planted.size());
  for (const auto& pattern : fallback) CHECK_MESSAGE(planted.count(pattern) == 1, pattern);

  // The saved model, evaluated again by a separate `eval` run, is within 1% of float.
  const auto eval =
      test::run_command(test::modelslim_bin().string() + " eval --model_path " + hard_model().string() +
                        " --quant_path " + (out / "quant_model").string() + " --dataset " +
                        (test::source_dir() / "data/datasets/kjv_eval.jsonl").string() +
                        " --metrics ppl --max_tokens 128 --json " + (run.dir / "eval.json").string());
  REQUIRE_MESSAGE(eval.exit_code == 0, eval.output);
  const auto report = read_json_file(run.dir / "eval.json");
  const double float_ppl = report["float"][0]["value"].get<double>();
  const double quant_ppl = report["quantized"][0]["value"].get<double>();
  MESSAGE("float ppl " << float_ppl << ", tuned ppl " << quant_ppl << ", fallback " << fallback.size());
  CHECK(quant_ppl <= float_ppl * 1.01);

  // Evaluations: every fresh one recorded once, the final model verified, within the worst-case bound
  // 1 + ceil(log2 4) + S(2L+1) + 1 = 1 + 2 + 2·9 + 1 (S = 2 chains, L ≤ 4).
  const fs::path db = out / "history" / "history.db";
  const auto evaluated = query_int(db, "SELECT COUNT(*) FROM evaluations WHERE kind = 'candidate'");
  const auto proposed = query_int(db, "SELECT COUNT(*) FROM proposals");
  MESSAGE(evaluated << " evaluated of " << proposed << " proposed");
  CHECK(evaluated >= 2);
  CHECK(proposed <= 22);
  CHECK(query_int(db, "SELECT COUNT(*) FROM evaluations WHERE kind = 'verify'") == 1);

  const std::string html = test::read_text(out / "report.html");
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("threshold") != std::string::npos);
  CHECK(html.find("(saved)") != std::string::npos);

  // The practice repository: `quant --quant_type w8a8` finds the tuned practice for this model type.
  const auto quant = test::run_command(
      test::modelslim_bin().string() + " quant --model_path " + hard_model().string() + " --save_path " +
      (run.dir / "requant").string() + " --quant_type w8a8 --practice_repo " + (run.dir / "repo").string());
  REQUIRE_MESSAGE(quant.exit_code == 0, quant.output);
  CHECK_MESSAGE(quant.output.find((run.dir / "repo" / "llama").string()) != std::string::npos, quant.output);
}

TEST_CASE("tune reports its CPU time by phase, the phases within the process total") {
  const ReferenceRun& run = reference_run();
  REQUIRE(run.result.exit_code == 0);
  const std::regex line(
      R"(\[tune\] CPU seconds: quantization ([0-9.]+), evaluation ([0-9.]+), float baseline ([0-9.]+), )"
      R"(ranking ([0-9.]+), verification ([0-9.]+), total ([0-9.]+))");
  std::smatch match;
  REQUIRE_MESSAGE(std::regex_search(run.result.output, match, line), run.result.output);
  std::vector<double> phases;
  for (std::size_t i = 1; i <= 5; ++i) phases.push_back(std::stod(match[i].str()));
  const double total = std::stod(match[6].str());
  // The hard demo quantizes and evaluates candidates, ranks its blocks (plain W8A8 fails) and needs the
  // float baseline (a relative demand): every phase but the verification did work.
  for (std::size_t i = 0; i < 4; ++i) CHECK_MESSAGE(phases[i] > 0.0, match[0].str());
  CHECK(phases[4] >= 0.0);
  double sum = 0;
  for (const double phase : phases) sum += phase;
  CHECK_MESSAGE(sum <= total + 0.02, match[0].str());  // printed with two decimals each
}

// One interrupted search checks two things against the uninterrupted reference run (block reuse on, the
// default): resuming, and that block reuse changes no result. Both halves run with --block_reuse False, so
// every candidate's measurement and the saved model come from a run without reuse, and the resumed run must
// still end exactly where the reference ended.
TEST_CASE(
    "a SIGKILLed tune without block reuse resumes from its history and ends where an uninterrupted run with "
    "reuse ends: the same candidates, measurements and saved model") {
  const ReferenceRun& reference = reference_run();
  REQUIRE(reference.result.exit_code == 0);
  CHECK(reference.result.output.find("reused from earlier candidates") != std::string::npos);
  CHECK(reference.result.output.find(" 0 of them reused") == std::string::npos);
  test::TempDir dir("tune-resume");
  const fs::path out = dir / "out";
  const fs::path db = out / "history" / "history.db";
  const std::string no_reuse = "--block_reuse False";
  const auto started = test::run_command("sh -c '" + tune_command(out, demo_plan(), no_reuse) + " > " +
                                         (dir / "first.log").string() + " 2>&1 & echo $!'");
  const pid_t pid = std::stoi(started.output);
  const std::int64_t k = 3;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  while (poll_int(db, "SELECT COUNT(*) FROM evaluations WHERE kind = 'candidate'") < k &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto before = query_int(db, "SELECT COUNT(*) FROM evaluations WHERE kind = 'candidate'");
  REQUIRE(before >= k);
  CHECK_FALSE(fs::exists(out / "best_practice.yaml"));  // it really died mid-search

  const auto resumed = test::run_command(tune_command(out, demo_plan(), no_reuse));
  MESSAGE(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(resumed.output.find(" 0 of them reused") != std::string::npos);
  // No finished candidate was evaluated twice ...
  CHECK(query_int(db,
                  "SELECT COUNT(*) FROM (SELECT key FROM evaluations WHERE kind = 'candidate' "
                  "GROUP BY key HAVING COUNT(*) > 1)") == 0);
  // ... the resumed run answered the killed run's candidates from the history ...
  CHECK(query_int(db, "SELECT COUNT(*) FROM proposals WHERE run = 2 AND cached = 1") >= before);
  // ... and both runs together evaluated exactly what the uninterrupted one did ...
  const fs::path reference_db = reference.dir / "out" / "history" / "history.db";
  CHECK(query_int(db, "SELECT COUNT(*) FROM evaluations WHERE kind = 'candidate'") ==
        query_int(reference_db, "SELECT COUNT(*) FROM evaluations WHERE kind = 'candidate'"));
  CHECK(query_texts(db, "SELECT candidate_id FROM proposals WHERE run = 2 ORDER BY seq") ==
        query_texts(reference_db, "SELECT candidate_id FROM proposals ORDER BY seq"));
  CHECK(test::read_text(out / "best_practice.yaml") ==
        test::read_text(reference.dir / "out" / "best_practice.yaml"));
  // ... with the same measurements and the same saved model as with reuse.
  const std::string query =
      "SELECT group_concat(candidate_id || '=' || result, ';') FROM "
      "(SELECT candidate_id, result FROM results ORDER BY candidate_id)";
  CHECK(query_texts(db, query) == query_texts(reference_db, query));
  for (const auto& entry : fs::recursive_directory_iterator(out / "quant_model")) {
    if (!entry.is_regular_file() || entry.path().filename() == ".modelslim-output") continue;  // own time
    const fs::path other =
        reference.dir / "out" / "quant_model" / fs::relative(entry.path(), out / "quant_model");
    CHECK_MESSAGE(test::read_text(entry.path()) == test::read_text(other), entry.path().string());
  }
}

namespace {

// A plan whose evaluator is a script counting the quantized linears of the saved model, so pass/fail is
// known in advance: the demo model has 4 blocks × 7 linears; `quantized <= limit` passes.
fs::path scripted_plan(const test::TempDir& dir, int limit) {
  test::write_text(dir / "calib.jsonl",
                   "{\"inputs_pretokenized\": \"In the beginning God created the heaven and the earth.\"}\n"
                   "{\"inputs_pretokenized\": \"And the earth was without form, and void.\"}\n");
  test::write_text(
      dir / "count.sh",
      "sleep 1\n"  // so that a 1 s timeout falls after the first candidate
      "n=$(grep -o '\\.weight\": \"W8A8\"' \"$1/quant_model_description.json\" | wc -l)\n"
      "echo \"{\\\"metrics\\\": [{\\\"dataset\\\": \\\"scripted\\\", \\\"metric\\\": \\\"quantized\\\", "
      "\\\"value\\\": $n, \\\"better\\\": \\\"lower\\\"}]}\" > \"$2\"\n");
  const std::string plan = R"(strategy:
  type: standing_high
  anti_outlier_strategies: [[]]
  template:
    process:
      - type: linear_quant
        qconfig:
          act: {scope: per_tensor, dtype: int8, symmetric: false}
          weight: {scope: per_channel, dtype: int8, symmetric: true}
    dataset: )" + (dir / "calib.jsonl").string() +
                           R"(
  metadata: {config_id: scripted}
evaluation:
  type: command
  command: "sh )" + (dir / "count.sh").string() +
                           R"( {quant_path} {output_json}"
  timeout: 60
  demand:
    expectations:
      - {dataset: scripted, metric: quantized, target: )" +
                           std::to_string(limit) + R"(}
)";
  test::write_text(dir / "plan.yaml", plan);
  return dir / "plan.yaml";
}

}  // namespace

TEST_CASE("the candidate cap ends with the best passing candidate so far saved and reported") {
  test::TempDir dir("tune-cap");
  // zero fallback: 28 quantized (fails); the binary search's first try, 2 blocks float: 14 (passes).
  const auto result =
      test::run_command(tune_command(dir / "out", scripted_plan(dir, 14), "--max_candidates 2"));
  MESSAGE(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.output.find("candidate cap (2)") != std::string::npos);
  CHECK(result.output.find("scripted_1") != std::string::npos);
  CHECK(fallback_of(dir / "out" / "best_practice.yaml").size() == 2);
  CHECK(fs::exists(dir / "out" / "quant_model" / "quant_model_description.json"));
  const std::string description =
      test::read_text(dir / "out" / "quant_model" / "quant_model_description.json");
  std::size_t w8a8 = 0;
  const std::string needle = ".weight\": \"W8A8\"";
  for (auto at = description.find(needle); at != std::string::npos; at = description.find(needle, at + 1))
    ++w8a8;
  CHECK(w8a8 == 14);
}

TEST_CASE("a timeout with nothing passed reports the closest candidate and saves no model") {
  test::TempDir dir("tune-timeout");
  const auto result = test::run_command(tune_command(dir / "out", scripted_plan(dir, -1), "--timeout 1S"));
  MESSAGE(result.output);
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("NONE PASSED") != std::string::npos);
  CHECK(result.output.find("timeout") != std::string::npos);
  CHECK(result.output.find("Closest: scripted_0") != std::string::npos);
  CHECK(fs::exists(dir / "out" / "closest_practice.yaml"));
  CHECK(fs::exists(dir / "out" / "report.html"));
  CHECK_FALSE(fs::exists(dir / "out" / "quant_model"));
}

TEST_CASE("bad plans fail before any model work, naming the field") {
  test::TempDir dir("tune-bad");
  const std::string good = test::read_text(demo_plan());
  const auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, from);
    return text.replace(at, from.size(), to);
  };
  const std::string fallback_plan = R"(strategy:
  type: binary_fallback
  rollback_path: ROLLBACK
  template:
    apiversion: modelslim_v1
    spec:
      process:
        - type: linear_quant
          qconfig: {act: {scope: per_tensor, dtype: int8}, weight: {scope: per_channel, dtype: int8}}
          exclude: []
evaluation:
  type: builtin
  datasets: [{name: kjv_eval, path: kjv_eval.jsonl, metrics: [ppl]}]
  demand: {expectations: [{dataset: kjv_eval, metric: ppl, relative_tolerance: 0.01}]}
)";
  const auto with_rollback = [&](const std::string& path) {
    std::string text = fallback_plan;
    return text.replace(text.find("ROLLBACK"), 8, path);
  };
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {replaced("type: standing_high", "type: standing_tall"),
       {"standing_tall", "standing_high", "binary_fallback"}},
      {replaced("    - []                                                   # plain W8A8 first\n"
                "    - [{type: iter_smooth, alpha: 0.5, symmetric: true}]   # then smoothing\n",
                "    []\n"),
       {"anti_outlier_strategies"}},
      {replaced("      - type: linear_quant", "      - type: smooth_quant\n      - type: linear_quant")
           .replace(good.find("      - type: linear_quant") + 60, 0, ""),
       {}},  // placeholder replaced below
      {with_rollback("spec.process.0.qconfig"), {"rollback_path", "list"}},
      {with_rollback("spec.process.3.exclude"), {"rollback_path", "out of range"}},
      {replaced("{dataset: kjv_eval, metric: ppl", "{dataset: gsm8k, metric: ppl"), {"gsm8k", "kjv_eval"}},
      // Rollback candidates that name no module of the model (it has 4 blocks).
      {with_rollback("spec.process.0.exclude\n  rollback_candidates: [model.layers.1, model.layers.9]"),
       {"rollback_candidates", "model.layers.9"}},
      // A calibration set that does not exist: the error lists where it was looked for.
      {replaced("    dataset: kjv_calib.jsonl", "    dataset: no_such_calib.jsonl"),
       {"no_such_calib.jsonl", (test::source_dir() / "data" / "datasets").string()}},
      // A saver the builtin evaluator cannot read.
      {replaced("      - {type: ascendv1_saver, part_file_size: 4}", "      - {type: compressed_tensors}"),
       {"ascendv1_saver", "compressed_tensors", "builtin"}},
  };
  // A template without linear_quant.
  std::string no_linear_quant = good;
  const auto start = no_linear_quant.find("      - type: linear_quant");
  const auto end = no_linear_quant.find("    save:");
  no_linear_quant.replace(start, end - start, "      - {type: iter_smooth, alpha: 0.5}\n");
  std::vector<std::pair<std::string, std::vector<std::string>>> all = cases;
  all[2] = {no_linear_quant, {"linear_quant"}};
  for (std::size_t i = 0; i < all.size(); ++i) {
    const fs::path plan = dir / ("plan" + std::to_string(i) + ".yaml");
    test::write_text(plan, all[i].first);
    const fs::path out = dir / ("out" + std::to_string(i));
    const auto result = test::run_command(tune_command(out, plan));
    CHECK_MESSAGE(result.exit_code == 1, result.output);
    for (const auto& needle : all[i].second)
      CHECK_MESSAGE(result.output.find(needle) != std::string::npos, needle << "\n" << result.output);
    CHECK_MESSAGE(result.output.find(plan.string()) != std::string::npos, result.output);  // names the file
    CHECK_FALSE(fs::exists(out));  // nothing was started
  }
}

namespace {

// A tiny random Llama (fake_llama: 3 blocks × 7 linears, vocabulary 29) tuned against a scripted evaluator
// that counts the W8A8 linears of the saved model (and reads an "evaluation dataset" file it is given), so
// a run takes seconds and its verdict is known in advance.
// The model is made once and copied into each case's directory (a case may rewrite its copy).
struct TinyModel {
  test::TempDir dir{"tune-tiny-model"};
  TinyModel() {
    const fs::path fake = test::shared_dir() / "data" / "fake_llama";
    const auto made = test::run_command((test::build_dir() / "bin" / "make_random_model").string() +
                                        " --config " + fake.string() + " --tokenizer-from " + fake.string() +
                                        " --output " + (dir / "model").string() + " --seed 7");
    REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  }
};

struct TinyTune {
  test::TempDir dir;
  fs::path model;
  explicit TinyTune(const std::string& label) : dir(label), model(dir / "model") {
    static const TinyModel made;
    fs::copy(made.dir / "model", model, fs::copy_options::recursive);
    test::write_text(dir / "calib.jsonl",
                     "{\"inputs_pretokenized\": \"In the beginning God created the heaven and the earth.\"}\n"
                     "{\"inputs_pretokenized\": \"And the earth was without form, and void.\"}\n");
    test::write_text(dir / "eval.jsonl", "{\"text\": \"held-out text\"}\n");
    // BREAK_EVALUATOR set: the evaluator crashes.
    test::write_text(
        dir / "count.sh",
        "[ -n \"$BREAK_EVALUATOR\" ] && exit 3\n"
        "n=$(grep -o '\\.weight\": \"W8A8\"' \"$1/quant_model_description.json\" | wc -l)\n"
        "echo \"{\\\"metrics\\\": [{\\\"dataset\\\": \\\"scripted\\\", \\\"metric\\\": \\\"quantized\\\", "
        "\\\"value\\\": $n, \\\"better\\\": \\\"lower\\\"}]}\" > \"$2\"\n");
  }
  // standing_high with one W8A8 linear_quant (plus `process_extra` processors' fields) and `target`.
  fs::path plan(int target, const std::string& linear_quant_extra = "") const {
    const std::string text = R"(strategy:
  type: standing_high
  anti_outlier_strategies: [[]]
  template:
    process:
      - type: linear_quant
        qconfig:
          act: {scope: per_tensor, dtype: int8, symmetric: false}
          weight: {scope: per_channel, dtype: int8, symmetric: true}
)" + linear_quant_extra + R"(    dataset: )" +
                             (dir / "calib.jsonl").string() +
                             R"(
  metadata: {config_id: tiny}
evaluation:
  type: command
  command: "sh )" + (dir / "count.sh").string() +
                             " {quant_path} {output_json} " + (dir / "eval.jsonl").string() + R"("
  timeout: 60
  demand:
    expectations:
      - {dataset: scripted, metric: quantized, target: )" +
                             std::to_string(target) + "}\n";
    test::write_text(dir / "plan.yaml", text);
    return dir / "plan.yaml";
  }
  test::CommandResult tune(const fs::path& plan_file, const std::string& save, const std::string& env = "",
                           const std::string& extra = "") const {
    return test::run_command(env + " " + test::modelslim_bin().string() + " tune --model_path " +
                             model.string() + " --save_path " + (dir / save).string() + " --config " +
                             plan_file.string() + " " + extra);
  }
  fs::path db(const std::string& save) const { return dir / save / "history" / "history.db"; }
};

// Rewrites 4 bytes of the first tensor's data in place (the file keeps its size).
void rewrite_first_weight(const fs::path& model_dir) {
  const fs::path file = model_dir / "model.safetensors";
  REQUIRE(fs::exists(file));
  const auto size = fs::file_size(file);
  std::fstream io(file, std::ios::binary | std::ios::in | std::ios::out);
  std::uint64_t header = 0;
  io.read(reinterpret_cast<char*>(&header), 8);
  const float value = 0.123456f;
  io.seekp(static_cast<std::streamoff>(8 + header));
  io.write(reinterpret_cast<const char*>(&value), sizeof value);
  io.close();
  REQUIRE(fs::file_size(file) == size);
}

std::int64_t evaluated_in_run(const fs::path& db, int run) {
  return query_int(
      db, "SELECT COUNT(*) FROM evaluations WHERE kind = 'candidate' AND run = " + std::to_string(run));
}
std::int64_t cached_in_run(const fs::path& db, int run) {
  return query_int(db, "SELECT COUNT(*) FROM proposals WHERE cached = 1 AND run = " + std::to_string(run));
}

}  // namespace

TEST_CASE(
    "changed weights of the same size, a changed dataset or evaluation file answer nothing from history") {
  TinyTune tiny("tune-content");
  const fs::path plan = tiny.plan(100);  // 21 quantized linears: the first candidate passes
  const fs::path db = tiny.db("out");
  const auto run = [&](int number) {
    const auto result = tiny.tune(plan, "out");
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    REQUIRE(query_int(db, "SELECT MAX(run) FROM runs") == number);
  };
  run(1);
  CHECK(evaluated_in_run(db, 1) == 1);
  run(2);  // unchanged: answered from the history
  CHECK(evaluated_in_run(db, 2) == 0);
  CHECK(cached_in_run(db, 2) == 1);

  rewrite_first_weight(tiny.model);
  run(3);
  CHECK(cached_in_run(db, 3) == 0);
  CHECK(evaluated_in_run(db, 3) == 1);

  // The calibration set: same size, other text.
  std::string calib = test::read_text(tiny.dir / "calib.jsonl");
  calib[calib.find("God")] = 'g';
  test::write_text(tiny.dir / "calib.jsonl", calib);
  run(4);
  CHECK(cached_in_run(db, 4) == 0);
  CHECK(evaluated_in_run(db, 4) == 1);

  // A file the evaluation reads.
  test::write_text(tiny.dir / "eval.jsonl", "{\"text\": \"Held-out text\"}\n");
  run(5);
  CHECK(cached_in_run(db, 5) == 0);
  CHECK(evaluated_in_run(db, 5) == 1);
}

TEST_CASE("an evaluator crash stops the run, is not recorded, and a rerun evaluates the candidate") {
  TinyTune tiny("tune-infra");
  const fs::path plan = tiny.plan(100);
  const auto broken = tiny.tune(plan, "out", "BREAK_EVALUATOR=1");
  MESSAGE(broken.output);
  CHECK(broken.exit_code != 0);
  CHECK(broken.output.find("nothing was recorded") != std::string::npos);
  CHECK(broken.output.find("tiny_0") != std::string::npos);
  CHECK(query_int(tiny.db("out"), "SELECT COUNT(*) FROM results") == 0);
  CHECK_FALSE(fs::exists(tiny.dir / "out" / "best_practice.yaml"));

  const auto fixed = tiny.tune(plan, "out");
  MESSAGE(fixed.output);
  REQUIRE(fixed.exit_code == 0);
  CHECK(cached_in_run(tiny.db("out"), 2) == 0);
  CHECK(evaluated_in_run(tiny.db("out"), 2) == 1);
  CHECK(fs::exists(tiny.dir / "out" / "best_practice.yaml"));
}

TEST_CASE("a fallback pattern that matches nothing is a warning on the terminal and in the report") {
  TinyTune tiny("tune-warn");
  const auto result = tiny.tune(tiny.plan(100, "        exclude: [\"*no_such_module*\"]\n"), "out");
  MESSAGE(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.output.find("'*no_such_module*' matched no linear layer") != std::string::npos);
  CHECK(test::read_text(tiny.dir / "out" / "report.html").find("*no_such_module*") != std::string::npos);
}

TEST_CASE("the practice repository round trip through MSMODELSLIM_CUSTOM_PRACTICE_REPO (and its alias)") {
  TinyTune tiny("tune-repo");
  const fs::path repo = tiny.dir / "repo";
  const auto tuned = tiny.tune(tiny.plan(100), "out", "MSMODELSLIM_CUSTOM_PRACTICE_REPO=" + repo.string());
  REQUIRE_MESSAGE(tuned.exit_code == 0, tuned.output);
  REQUIRE(fs::exists(repo / "llama" / "tiny_0.yaml"));
  for (const std::string variable : {"MSMODELSLIM_CUSTOM_PRACTICE_REPO", "MODELSLIM_CUSTOM_PRACTICE_REPO"}) {
    const auto quant =
        test::run_command(variable + "=" + repo.string() + " " + test::modelslim_bin().string() +
                          " quant --model_path " + tiny.model.string() + " --save_path " +
                          (tiny.dir / ("requant-" + variable)).string() + " --quant_type w8a8");
    REQUIRE_MESSAGE(quant.exit_code == 0, quant.output);
    CHECK_MESSAGE(quant.output.find((repo / "llama" / "tiny_0.yaml").string()) != std::string::npos,
                  variable << "\n"
                           << quant.output);
  }
}
