// `modelslim tune`: a strategy plugin proposes practices, the host quantizes and evaluates them against the
// accuracy demand, and the best passing one is saved: save_path/quant_model (verified again after saving),
// best_practice.yaml, report.html, the history database, and the practice repository when one is set.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace modelslim::core {

class PluginRegistry;

struct TuneOptions {
  std::filesystem::path model_path;
  std::filesystem::path save_path;
  std::filesystem::path plan_path;
  std::string model_type;  // empty: config.json
  std::string device = "cpu";
  std::optional<double> timeout_seconds;
  std::size_t max_candidates = 30;
  std::filesystem::path practice_repo;  // empty: MSMODELSLIM_CUSTOM_PRACTICE_REPO, unset → not saved
  bool quiet_quantization = true;
  bool block_reuse = true;  // reuse processed blocks between candidates (identical results, less work)
  std::optional<std::size_t> max_calib_tokens;  // calibration samples cut to this many tokens
};

// Process CPU time (user + system, all threads) by phase: what the shared machine's load does not stretch,
// and what tells which work block reuse can remove (docs/performance.md (e)).
struct TuneCpuSeconds {
  double quantization = 0;  // every candidate's quantization (and quant_model's, when not kept)
  double evaluation = 0;    // the candidates' evaluations
  double baseline = 0;      // the float model's evaluation
  double ranking = 0;       // the block sensitivity ranking
  double verification = 0;  // the saved quant_model's evaluation
  double total = 0;         // the whole process up to the end of the run
};

struct TuneOutcome {
  bool passed = false;
  std::string practice_id;  // the saved practice (passed) or the closest candidate
  std::string stop_reason;
  std::string summary;
  std::size_t candidates = 0;
  std::size_t evaluated = 0;
  std::size_t from_history = 0;
  std::size_t fallback = 0;
  std::size_t blocks_quantized = 0;  // blocks of all quantization runs
  std::size_t blocks_reused = 0;     // of those, taken from an earlier candidate
  TuneCpuSeconds cpu;
  std::optional<std::filesystem::path> repo_file;
};

TuneOutcome run_tune(const TuneOptions& options, PluginRegistry& registry);

// "1D2H30M10S", "2H30M", "90S" or plain seconds → seconds; throws Error(kSchemaValidate) naming --timeout.
double parse_timeout(const std::string& text);

}  // namespace modelslim::core
