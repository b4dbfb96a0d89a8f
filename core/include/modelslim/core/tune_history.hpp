// The tuning history: an SQLite database (WAL, one transaction per finished evaluation) under
// save_path/history. A candidate's result is keyed by a hash of the evaluation config, the model and the
// candidate's spec (metadata excluded), so a rerun after a crash or kill answers every finished candidate
// from here instead of evaluating it again.
//
// Tables: results (one row per finished candidate), evaluations (one row per evaluation actually run:
// kind candidate, baseline or verify), proposals (each run's candidates in order, cached or not), runs,
// cache (sensitivity rankings, the float baseline).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/evaluator.hpp"

struct sqlite3;

namespace modelslim::core {

struct StoredResult {
  std::string key;
  std::string candidate_id;
  std::string practice_yaml;
  std::vector<std::string> fallback;
  std::string anti_outlier;
  EvaluationResult result;
  double seconds = 0.0;
  std::vector<std::string> warnings;  // the candidate's quantization warnings
};

struct Proposal {
  std::size_t seq = 0;
  std::string key;
  std::string candidate_id;
  bool cached = false;
};

class TuneHistory {
 public:
  // Opens (creating) the database; throws Error(kIo) naming the file.
  explicit TuneHistory(const std::filesystem::path& file);
  ~TuneHistory();
  TuneHistory(const TuneHistory&) = delete;
  TuneHistory& operator=(const TuneHistory&) = delete;

  std::int64_t begin_run(const std::string& plan_text);
  [[nodiscard]] std::optional<StoredResult> find_result(const std::string& key) const;
  // The result and its evaluation row, in one transaction.
  void record_result(std::int64_t run, const StoredResult& stored);
  // An evaluation that is not a candidate's (kind "baseline" or "verify").
  void record_evaluation(std::int64_t run, const std::string& kind, const std::string& key,
                         const std::string& candidate_id, double seconds);
  void record_proposal(std::int64_t run, const Proposal& proposal);
  [[nodiscard]] std::vector<Proposal> proposals(std::int64_t run) const;

  [[nodiscard]] std::optional<std::string> cached(const std::string& key) const;
  void put_cached(const std::string& key, const std::string& value);

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  void exec(const std::string& sql) const;
  std::filesystem::path file_;
  std::unique_ptr<sqlite3, Closer> db_;
};

// Results as JSON text and back: {ok, message, metrics: [{dataset, metric, value, better}]}.
nlohmann::json metrics_to_json(
    const std::vector<MetricValue>& metrics);  // the `metrics` array (also `eval --json`)
// A non-finite metric value is written as {"value": null, "non_finite": "nan" | "inf" | "-inf"} and read
// back as that value (a bare null, as older histories hold, reads as NaN).
nlohmann::json result_json(const EvaluationResult& result, const std::vector<std::string>& warnings);
std::string result_to_json(const EvaluationResult& result);
EvaluationResult result_from_json(const nlohmann::json& json);
EvaluationResult result_from_json(const std::string& text);

// 128-bit xxHash of the text, as 32 hex digits.
std::string content_hash(const std::string& text);

}  // namespace modelslim::core
