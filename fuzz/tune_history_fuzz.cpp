// Fuzzes the tune history reader. The first byte picks the mode:
//   even: the rest is written as the history database file itself, then opened and read;
//   odd:  a valid database holds the rest as the stored `fallback` and `result` JSON fields of one row
//         (split at the first NUL), which find_result reads back.
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>

#include "fuzz_support.hpp"
#include "modelslim/core/tune_history.hpp"

namespace {

void read_everything(const modelslim::core::TuneHistory& history) {
  static_cast<void>(history.find_result("key"));
  static_cast<void>(history.proposals(1));
  static_cast<void>(history.cached("key"));
}

// Stores one row the way an older or foreign writer might have: raw text in the JSON columns.
void store_raw_row(const std::filesystem::path& file, const std::string& fallback,
                   const std::string& result) {
  sqlite3* db = nullptr;
  sqlite3_open(file.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(
      db,
      "INSERT OR REPLACE INTO results(key, candidate_id, practice, fallback, anti_outlier, result, "
      "seconds, finished_at) VALUES('key', 'c', 'p', ?, 'a', ?, 1.0, 'now')",
      -1, &stmt, nullptr);
  sqlite3_bind_text(stmt, 1, fallback.data(), static_cast<int>(fallback.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(stmt, 2, result.data(), static_cast<int>(result.size()), SQLITE_TRANSIENT);
  sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// scripts/fuzz.sh seeds the corpus with a real history written through TuneHistory itself (mode byte 0).
void write_history_seed(const std::filesystem::path& seed) {
  const auto file = modelslim::fuzz::scratch_file("seed.sqlite");
  {
    modelslim::core::TuneHistory history(file);
    const std::int64_t run = history.begin_run("strategy: {type: standing_high}");
    modelslim::EvaluationResult result;
    result.ok = true;
    result.metrics.push_back({"kjv_eval", "ppl", 3.5, modelslim::MetricDirection::kLowerIsBetter});
    history.record_result(
        run, {"key", "c0", "apiversion: modelslim_v1", {"model.layers.0.mlp.down_proj"}, "[]", result, 1.5});
    history.record_proposal(run, {0, "key", "c0", false});
    history.put_cached("key", "float baseline");
  }
  std::ifstream in(file, std::ios::binary);
  std::ofstream out(seed, std::ios::binary | std::ios::trunc);
  out << '\0' << in.rdbuf();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seed = std::getenv("MODELSLIM_FUZZ_WRITE_HISTORY_SEED")) {
    write_history_seed(seed);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto file = modelslim::fuzz::scratch_file("history.sqlite");
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(file.string() + suffix, ignored);
  const std::string rest = modelslim::fuzz::as_text(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    modelslim::fuzz::write_scratch("history.sqlite", data + 1, size - 1);
    modelslim::fuzz::expect_clean([&] { read_everything(modelslim::core::TuneHistory(file)); });
    return 0;
  }
  { modelslim::core::TuneHistory create(file); }
  const std::size_t split = rest.find('\0');
  store_raw_row(file, rest.substr(0, split), split == std::string::npos ? "" : rest.substr(split + 1));
  modelslim::fuzz::expect_clean([&] { read_everything(modelslim::core::TuneHistory(file)); });
  modelslim::fuzz::expect_clean([&] { modelslim::core::result_from_json(rest); });
  return 0;
}
