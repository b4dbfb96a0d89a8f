#include "modelslim/core/tune_service.hpp"

#include <cstdlib>
#include <regex>

#include <spdlog/spdlog.h>

#include "modelslim/core/output_path.hpp"
#include "modelslim/core/paths.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/practice_repo.hpp"
#include "modelslim/core/quant_service.hpp"
#include "modelslim/core/save_path_lock.hpp"
#include "modelslim/core/staging_dir.hpp"
#include "modelslim/core/tune_checks.hpp"
#include "modelslim/core/tune_plan.hpp"
#include "modelslim/core/tune_report.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/model_files.hpp"
#include "tune_session.hpp"

namespace modelslim::core {
namespace {

std::string emit(const YAML::Node& node) {
  return yaml_text(node) + "\n";
}

void check_expectation_datasets(const TunePlan& plan, const Evaluator& evaluator,
                                const std::string& plan_file) {
  const std::vector<std::string> names = evaluator.dataset_names();
  if (names.empty()) return;  // the evaluator decides at run time (e.g. a command)
  std::string known;
  for (const auto& name : names) known += (known.empty() ? "" : ", ") + name;
  for (const Expectation& e : plan.expectations) {
    if (std::find(names.begin(), names.end(), e.dataset) == names.end()) {
      throw Error(ErrorCode::kSchemaValidate,
                  plan_file + ": " + e.field + ".dataset: '" + e.dataset +
                      "' is not a dataset of the evaluation (configured: " + known + ")",
                  "name one of the evaluation's datasets, or add it to the evaluation section");
    }
  }
}

// The label `quant --quant_type` matches on: the plan's, or read off the first linear_quant.
void ensure_label(YAML::Node practice) {
  YAML::Node metadata = practice["metadata"];
  if (metadata["label"]) return;
  int w_bit = 8;
  int a_bit = 16;
  for (const auto& processor : practice["spec"]["process"]) {
    if (!processor["type"] || processor["type"].as<std::string>() != "linear_quant") continue;
    const YAML::Node qconfig = processor["qconfig"];
    if (qconfig["weight"] && qconfig["weight"]["dtype"])
      w_bit = qconfig["weight"]["dtype"].as<std::string>() == "int4" ? 4 : 8;
    if (qconfig["act"]) a_bit = 8;
    break;
  }
  metadata["label"]["w_bit"] = w_bit;
  metadata["label"]["a_bit"] = a_bit;
  metadata["label"]["is_sparse"] = false;
  metadata["label"]["kv_cache"] = false;
}

TuneReport make_report(const HostTuningSession& session, const TunePlan& plan, const TuneOptions& options,
                       const std::string& chosen_key, const std::string& outcome,
                       const EvaluationResult* baseline) {
  TuneReport report;
  report.title = "modelslim tune: " + options.save_path.filename().string();
  report.model = options.model_path.string() + " (" + session.model_type() + ")";
  report.outcome = outcome;
  const Expectation& first = plan.expectations.front();
  report.metric_label = first.dataset + "." + first.metric;
  if (baseline != nullptr) {
    for (const auto& m : baseline->metrics) {
      if (m.dataset == first.dataset && m.metric == first.metric) report.baseline = m.value;
    }
  }
  for (const CandidateRecord& record : session.records()) {
    ReportRow row;
    row.id = record.candidate.id;
    row.anti_outlier = record.candidate.anti_outlier;
    row.fallback = record.candidate.fallback;
    row.verdict = record.check.summary;
    row.passed = record.check.passed;
    row.cached = record.cached;
    row.chosen = record.key == chosen_key;
    row.seconds = record.seconds;
    row.warnings = record.warnings;
    for (const auto& check : record.check.checks) {
      if (check.label == report.metric_label && check.found) {
        row.value = check.value;
        report.threshold = check.threshold;
      }
    }
    report.rows.push_back(row);
  }
  return report;
}

}  // namespace

double parse_timeout(const std::string& text) {
  static const std::regex plain(R"(\d+(\.\d+)?)");
  static const std::regex units(R"((?:(\d+)D)?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)", std::regex::icase);
  if (std::regex_match(text, plain)) return std::stod(text);
  std::smatch match;
  if (text.empty() || !std::regex_match(text, match, units)) {
    throw Error(
        ErrorCode::kSchemaValidate,
        "--timeout '" + text + "': expected a duration such as 2H30M, 1D2H30M10S, 90S or plain seconds");
  }
  const double factors[] = {86400, 3600, 60, 1};
  double seconds = 0;
  for (int i = 0; i < 4; ++i) {
    if (match[i + 1].matched) seconds += std::stod(match[i + 1].str()) * factors[i];
  }
  return seconds;
}

namespace {

// Phase 1: the save path is ours, locked, and not over the model. A tune directory of an older modelslim
// (history/history.db, no marker) is adopted so it can be resumed.
TuneOptions claim_save_path(const TuneOptions& requested) {
  TuneOptions options = requested;
  options.save_path = normalize_output_path(requested.save_path, "--save_path");
  return options;
}

void adopt_old_tune_dir(const TuneOptions& options) {
  if (!has_output_marker(options.save_path) &&
      std::filesystem::is_regular_file(options.save_path / "history" / "history.db")) {
    for (const auto& dir : {options.save_path / "quant_model", options.save_path / "history" / "work",
                            options.save_path / "history" / "best", options.save_path}) {
      if (std::filesystem::is_directory(dir)) write_output_marker(dir);
    }
  }
  check_output_path(options.save_path, "--save_path", {{"--model_path", options.model_path}});
}

// Phase 2: everything the plan names is created and validated before any model work.
struct ValidatedPlan {
  explicit ValidatedPlan(ConfigNode node) : root(std::move(node)), plan(parse_tune_plan(root)) {}
  ConfigNode root;
  TunePlan plan;
  std::unique_ptr<Strategy> strategy;
  std::unique_ptr<Evaluator> evaluator;
  std::string evaluator_type;
  std::string model_type;
  std::string adapter_type;
};

ValidatedPlan validate_plan(const TuneOptions& options, PluginRegistry& registry) {
  ValidatedPlan v(parse_yaml_file(options.plan_path.string()));
  v.strategy = registry.create_strategy(v.plan.strategy);
  v.evaluator = registry.create_evaluator(v.plan.evaluator);
  check_expectation_datasets(v.plan, *v.evaluator, options.plan_path.string());
  v.evaluator_type = v.plan.evaluator.get_string("type", "");
  check_strategy_datasets(v.plan.strategy);
  check_strategy_savers(v.plan.strategy, v.evaluator_type);
  v.model_type = resolve_model_type(options.model_path, options.model_type, registry);
  v.adapter_type =
      registry.select_model_adapter(options.model_type, read_json_file(options.model_path / "config.json"));
  check_rollback_candidates(v.plan.strategy, model_module_names(options.model_path));
  if (options.max_candidates == 0)
    throw Error(ErrorCode::kSchemaValidate, "--max_candidates must be at least 1");
  return v;
}

// Phase 3: the output directory and its history; a killed run's half-written directories (only those of
// dead processes) go.
void prepare_output(const TuneOptions& options) {
  std::filesystem::create_directories(options.save_path / "history");
  if (!has_output_marker(options.save_path)) write_output_marker(options.save_path);
  remove_stale_staging(options.save_path);
  remove_stale_staging(options.save_path / "history");
}

TuneSessionOptions session_options_of(const TuneOptions& options, const ValidatedPlan& v) {
  TuneSessionOptions session_options;
  session_options.model_path = options.model_path;
  session_options.save_path = options.save_path;
  session_options.model_type = v.model_type;
  session_options.device = options.device;
  session_options.timeout_seconds = options.timeout_seconds;
  session_options.max_candidates = options.max_candidates;
  session_options.quiet_quantization = options.quiet_quantization;
  if (!options.block_reuse) session_options.block_cache_bytes = 0;
  session_options.max_calib_tokens = options.max_calib_tokens;
  session_options.adapter_type = v.adapter_type;
  session_options.evaluator_type = v.evaluator_type;
  return session_options;
}

// Phase 4: the strategy's search. Returns its final answer, if it finished with one.
std::optional<Candidate> run_strategy(Strategy& strategy, HostTuningSession& session, TuneOutcome& outcome) {
  try {
    std::optional<Candidate> final = strategy.run(session);
    outcome.stop_reason = "the strategy finished";
    return final;
  } catch (const TuningStopped& stop) {
    outcome.stop_reason = stop.what();
  } catch (const InfrastructureFailure&) {
    throw;  // not the strategy's verdict: the run stops, resumable
  } catch (const Error& error) {
    if (error.code() != ErrorCode::kSpec) throw;
    outcome.stop_reason = error.what();
  }
  return std::nullopt;
}

// Phase 5: the strategy's answer when it finished with a passing one; otherwise the best passing candidate.
const CandidateRecord* choose(const std::optional<Candidate>& final, HostTuningSession& session,
                              TuneOutcome& outcome) {
  const CandidateRecord* chosen = nullptr;
  if (final) {
    chosen = session.find(session.key_of(*final));
    if (chosen == nullptr) {
      try {
        session.evaluate(*final);
        chosen = session.find(session.key_of(*final));
      } catch (const TuningStopped& stop) {
        outcome.stop_reason = stop.what();
      }
    }
    if (chosen != nullptr && !chosen->check.passed) chosen = nullptr;
  }
  return chosen != nullptr ? chosen : session.best();
}

// The run's counters and report.html.
void finish_report(HostTuningSession& session, const ValidatedPlan& v, const TuneOptions& options,
                   const std::string& key, const std::string& line, TuneOutcome& outcome) {
  outcome.blocks_quantized = session.blocks_quantized();
  outcome.blocks_reused = session.blocks_reused();
  outcome.evaluated = session.evaluated();
  outcome.from_history = session.cache_hits();
  session.cpu().total = process_cpu_seconds();
  outcome.cpu = session.cpu();
  const EvaluationResult* baseline = needs_baseline(v.plan.expectations) ? session.baseline() : nullptr;
  write_text_atomic(options.save_path / "report.html",
                    render_tune_report(make_report(session, v.plan, options, key, line, baseline)));
}

// Phase 6a: nothing passed — the closest candidate's practice and the report.
TuneOutcome no_candidate_passed(HostTuningSession& session, const ValidatedPlan& v,
                                const TuneOptions& options, TuneOutcome outcome) {
  const CandidateRecord* closest = session.closest();
  outcome.passed = false;
  std::string line = "No candidate met the accuracy demand (" + outcome.stop_reason + ").";
  if (closest != nullptr) {
    outcome.practice_id = closest->candidate.id;
    line += " Closest: " + closest->candidate.id + " (" + closest->check.summary + ").";
    write_text_atomic(options.save_path / "closest_practice.yaml", emit(closest->candidate.practice));
  }
  outcome.summary = line;
  finish_report(session, v, options, closest != nullptr ? closest->key : "", line, outcome);
  return outcome;
}

// Phase 6b: save_path/quant_model — the chosen candidate's own quantized model when it was kept, else
// quantized now from best_practice.yaml (written here).
YAML::Node write_quant_model(const CandidateRecord& chosen, const ValidatedPlan& v,
                             const TuneOptions& options, HostTuningSession& session) {
  const std::filesystem::path quant_model = options.save_path / "quant_model";
  YAML::Node practice = YAML::Clone(chosen.candidate.practice);
  practice["metadata"]["verified_model_types"].push_back(v.model_type);
  ensure_label(practice);
  const std::filesystem::path practice_file = options.save_path / "best_practice.yaml";
  write_text_atomic(practice_file, emit(practice));
  if (const auto kept = session.kept_model(chosen.key)) {
    StagingDir staging(quant_model);
    std::filesystem::remove_all(staging.path());
    std::filesystem::rename(*kept, staging.path());
    staging.commit();
  } else {
    std::printf("[tune] quantizing %s into %s\n", chosen.candidate.id.c_str(), quant_model.string().c_str());
    std::fflush(stdout);
    session.quantize(practice_file, quant_model);
  }
  return practice;
}

// Phase 7: verify the saved model, not the history's word for it.
DemandCheck verify_saved_model(const CandidateRecord& chosen, ValidatedPlan& v, const TuneOptions& options,
                               HostTuningSession& session, TuneHistory& history, std::int64_t run) {
  EvaluationRequest request;
  request.model_dir = options.model_path;
  request.quant_dir = options.save_path / "quant_model";
  request.model_type = v.model_type;
  const auto verify_start = std::chrono::steady_clock::now();
  set_evaluation_context(*v.evaluator, "quant_model",
                         options.save_path / "history" / "evaluations" / "quant_model");
  EvaluationResult verified;
  {
    const CpuTimer cpu(session.cpu().verification);
    verified = v.evaluator->evaluate(request);
  }
  history.record_evaluation(
      run, "verify", chosen.key, chosen.candidate.id,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - verify_start).count());
  return session.judge(verified);
}

// Phase 8: a verified practice goes to the practice repository (if one is configured).
std::optional<std::filesystem::path> publish_practice(const YAML::Node& practice, const ValidatedPlan& v,
                                                      const TuneOptions& options) {
  const std::filesystem::path repo =
      options.practice_repo.empty() ? custom_practice_repo() : options.practice_repo;
  if (repo.empty()) return std::nullopt;
  const std::filesystem::path file =
      repo / pedigree_of(v.model_type) / (practice["metadata"]["config_id"].as<std::string>() + ".yaml");
  if (std::filesystem::exists(file)) spdlog::warn("replacing the practice {}", file.string());
  std::filesystem::create_directories(file.parent_path());
  write_text_atomic(file, emit(practice));
  return file;
}

std::string chosen_summary(const CandidateRecord& chosen, const DemandCheck& check) {
  std::string fallback;
  for (const auto& name : chosen.candidate.fallback) fallback += (fallback.empty() ? "" : ", ") + name;
  std::string summary = chosen.candidate.id + ": " + std::to_string(chosen.candidate.fallback.size()) +
                        " fallback" + (fallback.empty() ? "" : " [" + fallback + "]") +
                        ", outlier suppression " + chosen.candidate.anti_outlier +
                        "; verified on the saved model: " + check.summary;
  if (!check.passed) summary += " — the saved model does NOT pass again (non-deterministic evaluation?)";
  return summary;
}

}  // namespace

TuneOutcome run_tune(const TuneOptions& requested, PluginRegistry& registry) {
  const TuneOptions options = claim_save_path(requested);
  const SavePathLock lock(options.save_path, "--save_path");
  adopt_old_tune_dir(options);
  ValidatedPlan v = validate_plan(options, registry);
  prepare_output(options);
  TuneHistory history(options.save_path / "history" / "history.db");
  const std::int64_t run = history.begin_run(emit(v.root.yaml()));
  HostTuningSession session(session_options_of(options, v), registry, *v.evaluator, v.plan.expectations,
                            emit(v.plan.evaluator.yaml()), history, run);

  TuneOutcome outcome;
  const std::optional<Candidate> final = run_strategy(*v.strategy, session, outcome);
  const CandidateRecord* chosen = choose(final, session, outcome);
  outcome.candidates = session.records().size();
  if (chosen == nullptr) return no_candidate_passed(session, v, options, std::move(outcome));

  const YAML::Node practice = write_quant_model(*chosen, v, options, session);
  const DemandCheck check = verify_saved_model(*chosen, v, options, session, history, run);
  outcome.practice_id = chosen->candidate.id;
  outcome.fallback = chosen->candidate.fallback.size();
  outcome.passed = check.passed;
  outcome.summary = chosen_summary(*chosen, check);
  if (check.passed) outcome.repo_file = publish_practice(practice, v, options);
  finish_report(session, v, options, chosen->key,
                std::string(check.passed ? "Passed: " : "FAILED verification: ") + outcome.summary + " (" +
                    outcome.stop_reason + ")",
                outcome);
  return outcome;
}

}  // namespace modelslim::core
