#include "tune_session.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <sys/resource.h>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "modelslim/core/analyze_service.hpp"
#include "modelslim/core/calibration.hpp"
#include "modelslim/core/dataset_names.hpp"
#include "modelslim/core/paths.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/quant_service.hpp"
#include "modelslim/core/tune_checks.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/error.hpp"
#include "modelslim/evaluation_context.hpp"
#include "modelslim/evaluation_reuse.hpp"
#include "modelslim/model_files.hpp"

namespace modelslim::core {
namespace {

constexpr const char* kDefaultProbe =
    "{act: {scope: per_tensor, dtype: int8, symmetric: false}, weight: {scope: per_channel, dtype: int8}}";

std::string emit_flow(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetMapFormat(YAML::Flow);
  out.SetSeqFormat(YAML::Flow);
  out << node;
  return out.c_str();
}

// Per-block quantization logs would bury the one progress line per candidate.
class QuietLogs {
 public:
  explicit QuietLogs(bool quiet)
      : previous_(spdlog::get_level()), active_(quiet && previous_ >= spdlog::level::info) {
    if (active_) spdlog::set_level(spdlog::level::warn);
  }
  ~QuietLogs() {
    if (active_) spdlog::set_level(previous_);
  }
  QuietLogs(const QuietLogs&) = delete;
  QuietLogs& operator=(const QuietLogs&) = delete;

 private:
  spdlog::level::level_enum previous_;
  bool active_;
};

std::string clock_text(double seconds) {
  const auto total = static_cast<long>(seconds);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%02ld:%02ld:%02ld", total / 3600, (total / 60) % 60, total % 60);
  return buffer;
}

void replace_directory(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::remove_all(to);
  std::filesystem::rename(from, to);
}

// Quantization refusing the practice for a reason of the practice on this model (a group size that does not
// divide a layer, a combination a saver or processor does not support, an invalid field): the candidate
// failed. Every other error (I/O, a dataset, the model, a plugin, memory) is the machinery's.
bool practice_refused(const Error& error) {
  return error.code() == ErrorCode::kSpec || error.code() == ErrorCode::kUnsupported ||
         error.code() == ErrorCode::kSchemaValidate;
}

InfrastructureFailure infrastructure(const Candidate& candidate, const std::string& step,
                                     const std::string& what, ErrorCode code) {
  return InfrastructureFailure(
      code,
      "candidate " + candidate.id + ": the " + step + " could not run (" + what +
          "); this is no result of the candidate, so nothing was recorded for it",
      "fix the cause and rerun the same command: finished candidates come from the history, this one is "
      "evaluated");
}

// "kjv_eval.ppl = nan, ..." for every non-finite metric; empty when all are finite.
std::string non_finite_metrics(const EvaluationResult& result) {
  std::string text;
  for (const MetricValue& m : result.metrics) {
    if (!std::isfinite(m.value))
      text += (text.empty() ? "" : ", ") + m.dataset + "." + m.metric + " = " + std::to_string(m.value);
  }
  return text;
}

}  // namespace

void set_evaluation_context(Evaluator& evaluator, const std::string& label,
                            const std::filesystem::path& dir) {
  auto* sink = dynamic_cast<EvaluationContextSink*>(&evaluator);
  if (sink == nullptr) return;
  std::filesystem::remove_all(dir);  // a rerun of the same candidate: its files, not the last run's
  std::filesystem::create_directories(dir);
  sink->set_evaluation_context({label, dir});
}

void enable_evaluation_reuse(Evaluator& evaluator, const std::filesystem::path& spill_dir) {
  auto* reuse = dynamic_cast<EvaluationReuse*>(&evaluator);
  if (reuse == nullptr) return;
  std::filesystem::remove_all(spill_dir);  // a killed run's spilled states
  ReuseBudget budget;
  budget.memory_bytes = std::size_t{1} << 30;
  budget.disk_bytes = std::size_t{4} << 30;
  budget.spill_dir = spill_dir;
  reuse->enable_reuse(budget);
}

double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::string yaml_text(const YAML::Node& node) {
  YAML::Emitter out;
  out << node;
  return out.c_str();
}

std::string canonical_spec(const YAML::Node& practice) {
  YAML::Node keyed;
  keyed["apiversion"] = practice["apiversion"] ? practice["apiversion"].as<std::string>() : "modelslim_v1";
  keyed["spec"] = practice["spec"];
  return yaml_text(keyed);
}

HostTuningSession::HostTuningSession(TuneSessionOptions options, PluginRegistry& registry,
                                     Evaluator& evaluator, std::vector<Expectation> expectations,
                                     const std::string& evaluator_yaml, TuneHistory& history,
                                     std::int64_t run)
    : options_(std::move(options)),
      registry_(registry),
      evaluator_(evaluator),
      expectations_(std::move(expectations)),
      model_hash_(model_fingerprint(options_.model_path, options_.model_type)),
      history_(history),
      run_(run),
      block_cache_(options_.block_cache_bytes) {
  const YAML::Node evaluation = YAML::Load(evaluator_yaml);
  evaluation_hash_ =
      content_hash(evaluator_yaml + "\n" + model_hash_ + "\n" + files_.of(evaluation) +
                   involved_versions(registry_, evaluation, options_.adapter_type) + "\nmax_calib_tokens " +
                   std::to_string(options_.max_calib_tokens.value_or(0)));
  if (options_.block_cache_bytes > 0)
    enable_evaluation_reuse(evaluator_, history_dir() / "evaluation-states");
}

std::string HostTuningSession::key_of(const Candidate& candidate) const {
  const YAML::Node spec = candidate.practice["spec"];
  return evaluation_hash_.substr(0, 16) + "-" +
         content_hash(canonical_spec(candidate.practice) + "\n" + files_.of(spec) +
                      involved_versions(registry_, spec, options_.adapter_type));
}

const CandidateRecord* HostTuningSession::find(const std::string& key) const {
  for (const auto& record : records_) {
    if (record.key == key) return &record;
  }
  return nullptr;
}

double HostTuningSession::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

const EvaluationResult* HostTuningSession::baseline() {
  if (baseline_) return &*baseline_;
  const std::string key = "baseline-" + evaluation_hash_;
  if (const auto cached = history_.cached(key)) {
    baseline_ = result_from_json(*cached);
    return &*baseline_;
  }
  std::printf("[tune] evaluating the float model (the baseline of relative expectations)\n");
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  EvaluationRequest request;
  request.model_dir = options_.model_path;
  request.model_type = options_.model_type;
  EvaluationResult result;
  const std::string tip =
      "relative expectations need the float result; fix the cause and rerun the same command";
  try {
    const QuietLogs quiet(options_.quiet_quantization);
    set_evaluation_context(evaluator_, "float", history_dir() / "evaluations" / "float");
    const CpuTimer cpu(cpu_.baseline);
    result = evaluator_.evaluate(request);
  } catch (const Error& error) {
    throw InfrastructureFailure(error.code(), "the float model's evaluation failed: " + describe(error), tip);
  } catch (const std::exception& error) {
    throw InfrastructureFailure(ErrorCode::kUnexpected,
                                std::string("the float model's evaluation failed: ") + error.what(), tip);
  }
  if (!result.ok) {
    throw InfrastructureFailure(ErrorCode::kUnexpected,
                                "the float model's evaluation failed: " + result.message, tip);
  }
  if (const std::string bad = non_finite_metrics(result); !bad.empty()) {
    throw InfrastructureFailure(ErrorCode::kInvalidModel,
                                "the float model measured non-finite metrics: " + bad,
                                "relative expectations need a finite float result; check the model and the "
                                "evaluation datasets");
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  history_.put_cached(key, result_to_json(result));
  history_.record_evaluation(run_, "baseline", key, "float", seconds);
  baseline_ = result;
  return &*baseline_;
}

DemandCheck HostTuningSession::judge(const EvaluationResult& result) {
  const EvaluationResult* reference = needs_baseline(expectations_) && result.ok ? baseline() : nullptr;
  return check_demand(expectations_, result, reference);
}

std::vector<std::string> HostTuningSession::quantize(const std::filesystem::path& practice_file,
                                                     const std::filesystem::path& output) {
  QuantOptions quant;
  quant.model_path = options_.model_path;
  quant.save_path = output;
  quant.config_path = practice_file;
  quant.model_type = options_.model_type;
  quant.device = options_.device;
  quant.max_calib_tokens = options_.max_calib_tokens;
  if (options_.block_cache_bytes > 0) quant.block_cache = &block_cache_;
  const QuietLogs quiet(options_.quiet_quantization);
  QuantSummary summary;
  {
    const CpuTimer cpu(cpu_.quantization);
    summary = run_quant(quant, registry_);
  }
  blocks_quantized_ += summary.blocks;
  blocks_reused_ += summary.blocks_reused;
  // A block taken from the block cache never passes its names through the processors' filters, so their
  // "matched nothing" warnings would be false; the candidate that first ran those blocks reported any real
  // one, and fallback patterns are checked against the model before quantizing (check_candidate).
  if (summary.blocks_reused > 0) return {};
  for (const auto& warning : summary.warnings) spdlog::warn("{}", warning);
  return summary.warnings;
}

StoredResult HostTuningSession::quantize_and_evaluate(const Candidate& candidate, const std::string& key) {
  const auto start = std::chrono::steady_clock::now();
  StoredResult stored;
  stored.key = key;
  stored.candidate_id = candidate.id;
  stored.practice_yaml = yaml_text(candidate.practice);
  stored.fallback = candidate.fallback;
  stored.anti_outlier = candidate.anti_outlier;
  const auto finish = [&]() -> StoredResult& {
    stored.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return stored;
  };
  const std::filesystem::path practice_file = history_dir() / "practices" / (candidate.id + ".yaml");
  const std::filesystem::path work = history_dir() / "work";
  try {
    std::filesystem::create_directories(practice_file.parent_path());
    write_text_atomic(practice_file, yaml_text(candidate.practice) + "\n");
    stored.warnings = quantize(practice_file, work);
  } catch (const Error& error) {
    if (!practice_refused(error))
      throw infrastructure(candidate, "quantization", describe(error), error.code());
    // The candidate cannot be built for this model; it fails like a candidate that misses the demand.
    spdlog::warn("{}: {}", candidate.id, describe(error));
    stored.result.ok = false;
    stored.result.message = std::string("quantization refused the practice: ") + error.what();
    return finish();
  } catch (const std::exception& error) {  // c10::Error, std::bad_alloc, filesystem errors
    throw infrastructure(candidate, "quantization", error.what(), ErrorCode::kUnexpected);
  }
  EvaluationRequest request;
  request.model_dir = options_.model_path;
  request.quant_dir = work;
  request.model_type = options_.model_type;
  try {
    const QuietLogs quiet(options_.quiet_quantization);
    set_evaluation_context(evaluator_, candidate.id, history_dir() / "evaluations" / candidate.id);
    const CpuTimer cpu(cpu_.evaluation);
    stored.result = evaluator_.evaluate(request);
  } catch (const Error& error) {
    throw infrastructure(candidate, "evaluation", describe(error), error.code());
  } catch (const std::exception& error) {
    throw infrastructure(candidate, "evaluation", error.what(), ErrorCode::kUnexpected);
  }
  // The evaluator itself failed (crashed, timed out, wrote no results): no measurement of the candidate.
  if (!stored.result.ok)
    throw infrastructure(candidate, "evaluation", stored.result.message, ErrorCode::kUnexpected);
  // A measurement that is not a number is the candidate's outcome: its outputs overflow or are NaN.
  if (const std::string bad = non_finite_metrics(stored.result); !bad.empty()) {
    stored.result.ok = false;
    stored.result.message = "the evaluation measured a non-finite value: " + bad;
  }
  return finish();
}

void HostTuningSession::check_candidate(const Candidate& candidate) {
  check_practice_savers(candidate.practice, candidate.id, options_.evaluator_type);
  if (candidate.fallback.empty()) return;
  if (!module_names_) module_names_ = model_module_names(options_.model_path);
  for (const auto& pattern : candidate.fallback) {
    if (!names_some_module(pattern, *module_names_)) {
      throw Error(ErrorCode::kSchemaValidate,
                  "candidate " + candidate.id + ": the fallback pattern '" + pattern +
                      "' matches no module of the model " + options_.model_path.string(),
                  "name modules of this model in the plan (e.g. rollback_candidates: [model.layers.1])");
    }
  }
}

Verdict HostTuningSession::evaluate(const Candidate& candidate) {
  if (records_.size() >= options_.max_candidates) {
    throw TuningStopped("the candidate cap (" + std::to_string(options_.max_candidates) + ") was reached");
  }
  check_candidate(candidate);
  const std::string key = key_of(candidate);
  CandidateRecord record;
  record.candidate = candidate;
  record.key = key;
  std::optional<StoredResult> stored = history_.find_result(key);
  record.cached = stored.has_value();
  if (!stored) {
    if (options_.timeout_seconds && elapsed_seconds() >= *options_.timeout_seconds) {
      throw TuningStopped("the timeout (" + clock_text(*options_.timeout_seconds) + ") was reached");
    }
    stored = quantize_and_evaluate(candidate, key);
    history_.record_result(run_, *stored);
    ++evaluated_;
  } else {
    ++cache_hits_;
  }
  record.result = stored->result;
  record.seconds = stored->seconds;
  record.warnings = stored->warnings;
  if (record.cached) {
    for (const auto& warning : record.warnings)
      spdlog::warn("{} (from the history): {}", candidate.id, warning);
  }
  record.check = judge(record.result);
  history_.record_proposal(run_, {records_.size() + 1, key, candidate.id, record.cached});
  records_.push_back(record);
  keep_if_best(records_.back(), !record.cached);
  print_progress(records_.back());
  return Verdict{record.check.passed, record.cached, record.result};
}

const CandidateRecord* HostTuningSession::best() const {
  const CandidateRecord* best = nullptr;
  for (const auto& record : records_) {
    if (!record.check.passed) continue;
    if (best == nullptr || record.candidate.fallback.size() < best->candidate.fallback.size() ||
        (record.candidate.fallback.size() == best->candidate.fallback.size() &&
         record.check.margin > best->check.margin)) {
      best = &record;
    }
  }
  return best;
}

const CandidateRecord* HostTuningSession::closest() const {
  const CandidateRecord* closest = nullptr;
  for (const auto& record : records_) {
    if (closest == nullptr || record.check.margin > closest->check.margin) closest = &record;
  }
  return closest;
}

void HostTuningSession::keep_if_best(const CandidateRecord& record, bool fresh) {
  const std::filesystem::path work = history_dir() / "work";
  if (fresh && best() == &record && std::filesystem::exists(work)) {
    // Keep this quantized model: if it stays the best, it becomes quant_model without quantizing again.
    history_.put_cached("best-model", "");
    replace_directory(work, history_dir() / "best");
    history_.put_cached("best-model", record.key);
  } else {
    std::filesystem::remove_all(work);
  }
}

std::optional<std::filesystem::path> HostTuningSession::kept_model(const std::string& key) const {
  const std::filesystem::path dir = history_dir() / "best";
  if (history_.cached("best-model").value_or("") == key && std::filesystem::is_directory(dir)) return dir;
  return std::nullopt;
}

void HostTuningSession::print_progress(const CandidateRecord& record) const {
  const CandidateRecord* current_best = best();
  std::printf(
      "[tune] #%zu %s  fallback %zu  %s  %s  %s | %zu evaluated, %zu from history | best %s | %s\n",
      records_.size(), record.candidate.id.c_str(), record.candidate.fallback.size(),
      record.candidate.anti_outlier.c_str(), record.check.summary.c_str(),
      record.cached ? "(history)" : ("(" + std::to_string(static_cast<int>(record.seconds)) + "s)").c_str(),
      evaluated_, cache_hits_,
      current_best != nullptr ? (current_best->candidate.id + " (fallback " +
                                 std::to_string(current_best->candidate.fallback.size()) + ")")
                                    .c_str()
                              : "none yet",
      clock_text(elapsed_seconds()).c_str());
  std::fflush(stdout);
}

std::vector<SensitivityRank> HostTuningSession::rank_blocks(const std::string& dataset,
                                                            const std::vector<std::string>& quant_modules,
                                                            const YAML::Node& probe_qconfig) {
  const std::string probe =
      probe_qconfig && !probe_qconfig.IsNull() ? emit_flow(probe_qconfig) : kDefaultProbe;
  const std::string data = dataset.empty() ? kDefaultCalibDataset : dataset;
  std::string modules;
  for (const auto& pattern : quant_modules) modules += pattern + "\n";
  const std::string key =
      "rank-blocks-" +
      content_hash(model_hash_ + "\n" + data + "\n" + files_.of(YAML::Node(data)) + modules + probe +
                   involved_versions(registry_, YAML::Node(), options_.adapter_type) + "\nmax_calib_tokens " +
                   std::to_string(options_.max_calib_tokens.value_or(0)));
  std::vector<SensitivityRank> ranking;
  if (const auto cached = history_.cached(key)) {
    for (const auto& entry : nlohmann::json::parse(*cached)) {
      ranking.push_back({entry.at("name").get<std::string>(), entry.at("score").get<double>()});
    }
    return ranking;
  }
  const CpuTimer cpu(cpu_.ranking);
  std::printf("[tune] ranking decoder blocks by sensitivity (mse_layer_wise on %s)\n", data.c_str());
  std::fflush(stdout);
  const auto model = registry_.load_model(options_.model_path, options_.model_type);
  const auto texts = read_text_dataset(resolve_dataset(data, dataset_dirs()));
  const std::vector<at::Tensor> token_ids = calibration_token_ids(*model, texts, options_.max_calib_tokens);
  if (token_ids.empty())
    throw Error(ErrorCode::kInvalidDataset, data + ": the analysis dataset produced no tokens");
  std::vector<SensitivityScore> scores;
  {
    const QuietLogs quiet(options_.quiet_quantization);
    scores = analyze_blocks(*model, registry_, token_ids, probe, quant_modules);
  }
  nlohmann::json json = nlohmann::json::array();
  std::string line;
  for (const auto& score : scores) {
    ranking.push_back({score.name, score.score});
    json.push_back({{"name", score.name}, {"score", score.score}});
    line += (line.empty() ? "" : ", ") + score.name;
  }
  history_.put_cached(key, json.dump());
  std::printf("[tune] most sensitive first: %s\n", line.c_str());
  std::fflush(stdout);
  return ranking;
}

}  // namespace modelslim::core
