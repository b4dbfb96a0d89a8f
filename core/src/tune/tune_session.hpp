// The host side of a tuning run: quantizes and evaluates the candidates a strategy proposes, answers
// finished ones from the history, keeps the best passing candidate's quantized model, enforces the time
// and candidate budget, and prints a progress line per candidate.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "modelslim/core/block_cache.hpp"
#include "modelslim/core/demand.hpp"
#include "modelslim/core/tune_fingerprint.hpp"
#include "modelslim/core/tune_history.hpp"
#include "modelslim/core/tune_plan.hpp"
#include "modelslim/core/tune_service.hpp"
#include "modelslim/error.hpp"
#include "modelslim/strategy.hpp"

namespace modelslim::core {

class PluginRegistry;

struct TuneSessionOptions {
  std::filesystem::path model_path;
  std::filesystem::path save_path;
  std::string model_type;  // as given or from config.json
  std::string device = "cpu";
  std::optional<double> timeout_seconds;
  std::size_t max_candidates = 30;
  bool quiet_quantization = true;                        // silence per-block logs while quantizing candidates
  std::size_t block_cache_bytes = std::size_t{1} << 30;  // 0: no block reuse between candidates
  std::optional<std::size_t> max_calib_tokens = std::nullopt;  // --max_calib_tokens, for every quant run
  std::string adapter_type;    // the model adapter (its plugin's version is part of every key)
  std::string evaluator_type;  // which savers' output the evaluator reads (tune_checks.hpp)
};

// A failure of the machinery, not of the candidate (I/O, memory, a dataset, the evaluator itself): it stops
// the run and nothing is recorded for the candidate, so a rerun after fixing it evaluates the candidate.
class InfrastructureFailure : public Error {
 public:
  using Error::Error;
};

struct CandidateRecord {
  Candidate candidate;
  std::string key;
  EvaluationResult result;
  DemandCheck check;
  bool cached = false;
  double seconds = 0.0;
  std::vector<std::string> warnings;  // from the candidate's quantization
};

class HostTuningSession final : public TuningSession {
 public:
  HostTuningSession(TuneSessionOptions options, PluginRegistry& registry, Evaluator& evaluator,
                    std::vector<Expectation> expectations, const std::string& evaluator_yaml,
                    TuneHistory& history, std::int64_t run);

  Verdict evaluate(const Candidate& candidate) override;
  std::vector<SensitivityRank> rank_blocks(const std::string& dataset,
                                           const std::vector<std::string>& quant_modules,
                                           const YAML::Node& probe_qconfig) override;
  const std::string& model_type() const override { return options_.model_type; }

  std::string key_of(const Candidate& candidate) const;
  const CandidateRecord* find(const std::string& key) const;
  const std::vector<CandidateRecord>& records() const { return records_; }
  // The passing candidate with the fewest fallbacks (then the widest margin); null if none passed.
  const CandidateRecord* best() const;
  // The failing candidate closest to the demand; null if nothing was evaluated.
  const CandidateRecord* closest() const;
  // history/best when it holds the quantized model of `key`.
  std::optional<std::filesystem::path> kept_model(const std::string& key) const;
  const EvaluationResult* baseline();
  std::size_t evaluated() const { return evaluated_; }
  std::size_t cache_hits() const { return cache_hits_; }
  std::size_t blocks_quantized() const { return blocks_quantized_; }
  std::size_t blocks_reused() const { return blocks_reused_; }
  TuneCpuSeconds& cpu() { return cpu_; }
  double elapsed_seconds() const;

  // Quantizes `practice_file` into `output` (replaced when complete). Throws on failure. Returns the
  // processors' warnings (patterns that matched nothing), also printed.
  std::vector<std::string> quantize(const std::filesystem::path& practice_file,
                                    const std::filesystem::path& output);
  DemandCheck judge(const EvaluationResult& result);

 private:
  StoredResult quantize_and_evaluate(const Candidate& candidate, const std::string& key);
  // Plan errors a candidate can carry (a fallback matching no module, a saver the evaluator cannot read):
  // thrown before any work on it, never recorded.
  void check_candidate(const Candidate& candidate);
  void keep_if_best(const CandidateRecord& record, bool fresh);
  void print_progress(const CandidateRecord& record) const;
  std::filesystem::path history_dir() const { return options_.save_path / "history"; }

  TuneSessionOptions options_;
  PluginRegistry& registry_;
  Evaluator& evaluator_;
  std::vector<Expectation> expectations_;
  std::string model_hash_;       // the model's content, hashed once per run
  std::string evaluation_hash_;  // evaluator config, the files it reads, plugin versions + model
  mutable FileFingerprints files_;
  TuneHistory& history_;
  std::int64_t run_;
  std::vector<CandidateRecord> records_;
  std::optional<std::vector<std::string>> module_names_;  // read on first use
  std::optional<EvaluationResult> baseline_;
  BlockCache block_cache_;
  std::size_t blocks_quantized_ = 0;
  std::size_t blocks_reused_ = 0;
  std::size_t evaluated_ = 0;
  std::size_t cache_hits_ = 0;
  TuneCpuSeconds cpu_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Tells an evaluator that takes an EvaluationContext (modelslim/evaluation_context.hpp) where this
// evaluation's files go: `dir`, emptied and created. Others are not told.
void set_evaluation_context(Evaluator& evaluator, const std::string& label, const std::filesystem::path& dir);
// Lets an evaluator that implements EvaluationReuse (modelslim/evaluation_reuse.hpp) keep work between the
// session's evaluations: 1 GiB of memory, then up to 4 GiB spilled to `spill_dir` (emptied first).
void enable_evaluation_reuse(Evaluator& evaluator, const std::filesystem::path& spill_dir);
// CPU seconds (user + system, all threads) this process has used so far.
double process_cpu_seconds();
// Adds the CPU time of its lifetime to `total`.
class CpuTimer {
 public:
  explicit CpuTimer(double& total) : total_(total), start_(process_cpu_seconds()) {}
  ~CpuTimer() { total_ += process_cpu_seconds() - start_; }
  CpuTimer(const CpuTimer&) = delete;
  CpuTimer& operator=(const CpuTimer&) = delete;

 private:
  double& total_;
  double start_;
};
// Block-style YAML text of a node.
std::string yaml_text(const YAML::Node& node);
// A practice's spec as canonical text (metadata excluded: identical specs share a result).
std::string canonical_spec(const YAML::Node& practice);

}  // namespace modelslim::core
