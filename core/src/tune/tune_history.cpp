#include "modelslim/core/tune_history.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include <sqlite3.h>
#include <xxhash.h>
#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"

namespace modelslim::core {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs(run INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT, plan TEXT);
CREATE TABLE IF NOT EXISTS results(key TEXT PRIMARY KEY, candidate_id TEXT, practice TEXT, fallback TEXT,
                                   anti_outlier TEXT, result TEXT, seconds REAL, finished_at TEXT);
CREATE TABLE IF NOT EXISTS evaluations(seq INTEGER PRIMARY KEY AUTOINCREMENT, run INTEGER, kind TEXT,
                                       key TEXT, candidate_id TEXT, seconds REAL, finished_at TEXT);
CREATE TABLE IF NOT EXISTS proposals(run INTEGER, seq INTEGER, key TEXT, candidate_id TEXT, cached INTEGER,
                                     PRIMARY KEY(run, seq));
CREATE TABLE IF NOT EXISTS cache(key TEXT PRIMARY KEY, value TEXT);
)sql";

std::string now_text() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buffer;
}

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, const std::filesystem::path& file) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
      throw Error(ErrorCode::kIo, file.string() + ": " + sqlite3_errmsg(db));
    }
    file_ = file;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, const std::string& text) {
    sqlite3_bind_text(stmt_, index, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int index, double value) {
    sqlite3_bind_double(stmt_, index, value);
    return *this;
  }
  Statement& bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  // true while a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(ErrorCode::kIo, file_.string() + ": " + sqlite3_errmsg(db_));
  }
  [[nodiscard]] std::string text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    return p != nullptr ? reinterpret_cast<const char*>(p) : "";
  }
  [[nodiscard]] double real(int column) const { return sqlite3_column_double(stmt_, column); }
  [[nodiscard]] std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::filesystem::path file_;
};

}  // namespace

void TuneHistory::Closer::operator()(sqlite3* db) const {
  sqlite3_close(db);
}

TuneHistory::TuneHistory(const std::filesystem::path& file) : file_(file) {
  std::error_code error;
  std::filesystem::create_directories(file.parent_path(), error);
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open(file.string().c_str(), &raw);
  db_.reset(raw);
  if (rc != SQLITE_OK) {
    throw Error(ErrorCode::kIo, file.string() + ": cannot open the tuning history: " +
                                    (raw != nullptr ? sqlite3_errmsg(raw) : "out of memory"));
  }
  sqlite3_busy_timeout(db_.get(), 5000);
  // WAL: a reader (a test, a user's sqlite3 shell) never blocks the writer; FULL: a finished result
  // survives power loss, not only a killed process.
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  exec(kSchema);
}

TuneHistory::~TuneHistory() = default;

void TuneHistory::exec(const std::string& sql) const {
  char* message = nullptr;
  if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    throw Error(ErrorCode::kIo, file_.string() + ": " + text);
  }
}

std::int64_t TuneHistory::begin_run(const std::string& plan_text) {
  Statement(db_.get(), "INSERT INTO runs(started_at, plan) VALUES(?, ?)", file_)
      .bind(1, now_text())
      .bind(2, plan_text)
      .step();
  return sqlite3_last_insert_rowid(db_.get());
}

std::optional<StoredResult> TuneHistory::find_result(const std::string& key) const {
  Statement query(db_.get(),
                  "SELECT candidate_id, practice, fallback, anti_outlier, result, seconds FROM results "
                  "WHERE key = ?",
                  file_);
  query.bind(1, key);
  if (!query.step()) return std::nullopt;
  StoredResult stored;
  stored.key = key;
  stored.candidate_id = query.text(0);
  stored.practice_yaml = query.text(1);
  try {
    stored.fallback = nlohmann::json::parse(query.text(2)).get<std::vector<std::string>>();
    const nlohmann::json result = nlohmann::json::parse(query.text(4));
    stored.result = result_from_json(result);
    for (const auto& warning : result.value("warnings", nlohmann::json::array()))
      stored.warnings.push_back(warning.get<std::string>());
  } catch (const std::exception& error) {  // nlohmann's, or result_from_json's Error
    throw Error(ErrorCode::kIo,
                file_.string() + ": the stored result of candidate '" + stored.candidate_id +
                    "' is unreadable (" + error.what() + ")",
                "delete the file to start the tuning history afresh");
  }
  stored.anti_outlier = query.text(3);
  stored.seconds = query.real(5);
  return stored;
}

void TuneHistory::record_result(std::int64_t run, const StoredResult& stored) {
  exec("BEGIN IMMEDIATE");
  try {
    Statement(db_.get(),
              "INSERT OR REPLACE INTO results(key, candidate_id, practice, fallback, anti_outlier, result, "
              "seconds, finished_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
              file_)
        .bind(1, stored.key)
        .bind(2, stored.candidate_id)
        .bind(3, stored.practice_yaml)
        .bind(4, nlohmann::json(stored.fallback).dump())
        .bind(5, stored.anti_outlier)
        .bind(6, result_json(stored.result, stored.warnings).dump())
        .bind(7, stored.seconds)
        .bind(8, now_text())
        .step();
    record_evaluation(run, "candidate", stored.key, stored.candidate_id, stored.seconds);
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

void TuneHistory::record_evaluation(std::int64_t run, const std::string& kind, const std::string& key,
                                    const std::string& candidate_id, double seconds) {
  Statement(db_.get(),
            "INSERT INTO evaluations(run, kind, key, candidate_id, seconds, finished_at) "
            "VALUES(?, ?, ?, ?, ?, ?)",
            file_)
      .bind(1, run)
      .bind(2, kind)
      .bind(3, key)
      .bind(4, candidate_id)
      .bind(5, seconds)
      .bind(6, now_text())
      .step();
}

void TuneHistory::record_proposal(std::int64_t run, const Proposal& proposal) {
  Statement(db_.get(),
            "INSERT OR REPLACE INTO proposals(run, seq, key, candidate_id, cached) VALUES(?, ?, ?, ?, ?)",
            file_)
      .bind(1, run)
      .bind(2, static_cast<std::int64_t>(proposal.seq))
      .bind(3, proposal.key)
      .bind(4, proposal.candidate_id)
      .bind(5, static_cast<std::int64_t>(proposal.cached ? 1 : 0))
      .step();
}

std::vector<Proposal> TuneHistory::proposals(std::int64_t run) const {
  Statement query(db_.get(),
                  "SELECT seq, key, candidate_id, cached FROM proposals WHERE run = ? ORDER BY seq", file_);
  query.bind(1, run);
  std::vector<Proposal> out;
  while (query.step()) {
    out.push_back(
        {static_cast<std::size_t>(query.integer(0)), query.text(1), query.text(2), query.integer(3) != 0});
  }
  return out;
}

std::optional<std::string> TuneHistory::cached(const std::string& key) const {
  Statement query(db_.get(), "SELECT value FROM cache WHERE key = ?", file_);
  query.bind(1, key);
  if (!query.step()) return std::nullopt;
  return query.text(0);
}

void TuneHistory::put_cached(const std::string& key, const std::string& value) {
  Statement(db_.get(), "INSERT OR REPLACE INTO cache(key, value) VALUES(?, ?)", file_)
      .bind(1, key)
      .bind(2, value)
      .step();
}

nlohmann::json metrics_to_json(const std::vector<MetricValue>& metrics) {
  nlohmann::json out = nlohmann::json::array();
  for (const MetricValue& m : metrics) {
    out.push_back({{"dataset", m.dataset},
                   {"metric", m.metric},
                   {"value", m.value},
                   {"better", m.direction == MetricDirection::kLowerIsBetter ? "lower" : "higher"}});
  }
  return out;
}

nlohmann::json result_json(const EvaluationResult& result, const std::vector<std::string>& warnings) {
  nlohmann::json metrics = metrics_to_json(result.metrics);
  // JSON has no NaN or infinity (they would be written as null): name them, so they read back as they were.
  for (std::size_t i = 0; i < result.metrics.size(); ++i) {
    const double value = result.metrics[i].value;
    if (std::isfinite(value)) continue;
    metrics[i]["value"] = nullptr;
    metrics[i]["non_finite"] = std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
  }
  nlohmann::json json{{"ok", result.ok}, {"message", result.message}, {"metrics", metrics}};
  if (!warnings.empty()) json["warnings"] = warnings;
  return json;
}

std::string result_to_json(const EvaluationResult& result) {
  return result_json(result, {}).dump();
}

EvaluationResult result_from_json(const nlohmann::json& json) {
  EvaluationResult result;
  result.ok = json.value("ok", false);
  result.message = json.value("message", "");
  for (const auto& m : json.value("metrics", nlohmann::json::array())) {
    double value = std::numeric_limits<double>::quiet_NaN();  // null: a non-finite value (older histories)
    const auto found = m.find("value");
    if (found != m.end() && found->is_number()) {
      value = found->get<double>();
    } else if (m.value("non_finite", "") == "inf") {
      value = std::numeric_limits<double>::infinity();
    } else if (m.value("non_finite", "") == "-inf") {
      value = -std::numeric_limits<double>::infinity();
    }
    result.metrics.push_back({m.value("dataset", ""), m.value("metric", ""), value,
                              m.value("better", "higher") == "lower" ? MetricDirection::kLowerIsBetter
                                                                     : MetricDirection::kHigherIsBetter});
  }
  return result;
}

EvaluationResult result_from_json(const std::string& text) {
  try {
    return result_from_json(nlohmann::json::parse(text));
  } catch (const nlohmann::json::exception& error) {  // a hand-edited, foreign or corrupt row
    throw Error(ErrorCode::kIo, std::string("unreadable evaluation result (") + error.what() + ")");
  }
}

std::string content_hash(const std::string& text) {
  const XXH128_hash_t hash = XXH3_128bits(text.data(), text.size());
  char buffer[33];
  std::snprintf(buffer, sizeof buffer, "%016llx%016llx", static_cast<unsigned long long>(hash.high64),
                static_cast<unsigned long long>(hash.low64));
  return buffer;
}

}  // namespace modelslim::core
