#include "tune_session.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "modelslim/core/analyze_service.hpp"
#include "modelslim/core/calibration.hpp"
#include "modelslim/core/paths.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/quant_service.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/error.hpp"
#include "modelslim/model_files.hpp"

namespace modelslim::core {
namespace {

constexpr const char* kDefaultProbe =
    "{act: {scope: per_tensor, dtype: int8, symmetric: false}, weight: {scope: per_channel, dtype: int8}}";
constexpr const char* kDefaultDataset = "kjv_calib.jsonl";

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

}  // namespace

std::string model_fingerprint(const std::filesystem::path& model_path, const std::string& model_type) {
  std::ifstream config(model_path / "config.json", std::ios::binary);
  std::stringstream text;
  text << config.rdbuf() << "\nmodel_type=" << model_type << "\n";
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(model_path)) {
    if (entry.path().extension() == ".safetensors") {
      files.push_back(entry.path().filename().string() + ":" + std::to_string(entry.file_size()));
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) text << file << "\n";
  return content_hash(text.str());
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
      evaluation_hash_(
          content_hash(evaluator_yaml + "\n" + model_fingerprint(options_.model_path, options_.model_type) +
                       "\nmax_calib_tokens " + std::to_string(options_.max_calib_tokens.value_or(0)))),
      history_(history),
      run_(run),
      block_cache_(options_.block_cache_bytes) {}

std::string HostTuningSession::key_of(const Candidate& candidate) const {
  return evaluation_hash_.substr(0, 16) + "-" + content_hash(canonical_spec(candidate.practice));
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
  {
    const QuietLogs quiet(options_.quiet_quantization);
    result = evaluator_.evaluate(request);
  }
  if (!result.ok) {
    throw Error(ErrorCode::kSpec, "the float model's evaluation failed: " + result.message,
                "relative expectations need the float result; check the evaluation section");
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

void HostTuningSession::quantize(const std::filesystem::path& practice_file,
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
  const QuantSummary summary = run_quant(quant, registry_);
  blocks_quantized_ += summary.blocks;
  blocks_reused_ += summary.blocks_reused;
}

StoredResult HostTuningSession::quantize_and_evaluate(const Candidate& candidate, const std::string& key) {
  const auto start = std::chrono::steady_clock::now();
  std::filesystem::create_directories(history_dir() / "practices");
  const std::filesystem::path practice_file = history_dir() / "practices" / (candidate.id + ".yaml");
  write_text_atomic(practice_file, yaml_text(candidate.practice) + "\n");
  const std::filesystem::path work = history_dir() / "work";
  StoredResult stored;
  stored.key = key;
  stored.candidate_id = candidate.id;
  stored.practice_yaml = yaml_text(candidate.practice);
  stored.fallback = candidate.fallback;
  stored.anti_outlier = candidate.anti_outlier;
  // A candidate this model cannot take (e.g. a group size that does not divide a layer) fails like a
  // candidate that misses the demand; the search goes on.
  const char* step = "quantization";
  try {
    quantize(practice_file, work);
    step = "evaluation";
    EvaluationRequest request;
    request.model_dir = options_.model_path;
    request.quant_dir = work;
    request.model_type = options_.model_type;
    const QuietLogs quiet(options_.quiet_quantization);
    stored.result = evaluator_.evaluate(request);
  } catch (const Error& error) {
    spdlog::warn("{}: {}", candidate.id, describe(error));
    stored.result.ok = false;
    stored.result.message = std::string(step) + " failed: " + error.what();
  }
  stored.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stored;
}

Verdict HostTuningSession::evaluate(const Candidate& candidate) {
  if (records_.size() >= options_.max_candidates) {
    throw TuningStopped("the candidate cap (" + std::to_string(options_.max_candidates) + ") was reached");
  }
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
  const std::string data = dataset.empty() ? kDefaultDataset : dataset;
  std::string modules;
  for (const auto& pattern : quant_modules) modules += pattern + "\n";
  const std::string key =
      "rank-blocks-" + content_hash(model_fingerprint(options_.model_path, options_.model_type) + "\n" +
                                    data + "\n" + modules + probe + "\nmax_calib_tokens " +
                                    std::to_string(options_.max_calib_tokens.value_or(0)));
  std::vector<SensitivityRank> ranking;
  if (const auto cached = history_.cached(key)) {
    for (const auto& entry : nlohmann::json::parse(*cached)) {
      ranking.push_back({entry.at("name").get<std::string>(), entry.at("score").get<double>()});
    }
    return ranking;
  }
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
