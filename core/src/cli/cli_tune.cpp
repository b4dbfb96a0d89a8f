#include <cstdio>
#include <iostream>

#include "cli_commands.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/tune_service.hpp"
#include "modelslim/error.hpp"

namespace po = boost::program_options;

namespace modelslim::core {
namespace {

const char* kTuneExamples = R"(
examples:
  # tune the shipped hard demo model to within 1% relative perplexity of float
  modelslim tune --model_path data/demo-model-hard --save_path out/tune --config data/tune/demo-standing-high.yaml
  # stop proposing candidates after 2.5 hours; the best one that passed so far is saved
  modelslim tune --model_path ./Qwen3-8B --save_path ./tuned --config plan.yaml --timeout 2H30M

outputs (save_path): quant_model/, best_practice.yaml, report.html, history/ (resume: run the same command again)
)";

}  // namespace

int run_tune_command(const std::vector<std::string>& args) {
  po::options_description options("modelslim tune --model_path DIR --save_path DIR --config PLAN.yaml");
  options.add_options()("help,h", "show this help")("model_path", po::value<std::string>(),
                                                    "Hugging Face checkpoint directory (required)")(
      "save_path", po::value<std::string>(), "output directory (required); rerun to resume")(
      "config", po::value<std::string>(), "tuning plan YAML: strategy + evaluation (required)")(
      "model_type", po::value<std::string>()->default_value(""), "model type or name; default: config.json")(
      "device", po::value<std::string>()->default_value("cpu"), "cpu")(
      "timeout", po::value<std::string>(),
      "stop proposing candidates after this long: 1D2H30M10S, 2H30M, 90S")(
      "max_candidates", po::value<std::size_t>()->default_value(30), "stop after this many candidates")(
      "trust_remote_code", po::value<std::string>()->default_value("False"), "True or False")(
      "block_reuse", po::value<std::string>()->default_value("True"),
      "True: a candidate reuses the blocks it shares with an earlier one (same results, less work)")(
      "practice_repo", po::value<std::string>()->default_value(""),
      "save the tuned practice here (default: MSMODELSLIM_CUSTOM_PRACTICE_REPO; unset: not saved)");
  add_max_calib_tokens_option(options);
  add_common_options(options);
  const auto parsed = parse_command_line(args, options, kTuneExamples);
  if (!parsed) return 0;
  const po::variables_map& values = *parsed;
  require_flags(values, {"model_path", "save_path", "config"});
  parse_bool_flag("--trust_remote_code", values["trust_remote_code"].as<std::string>());
  TuneOptions tune;
  tune.model_path = values["model_path"].as<std::string>();
  tune.save_path = values["save_path"].as<std::string>();
  tune.plan_path = values["config"].as<std::string>();
  tune.model_type = values["model_type"].as<std::string>();
  tune.device = values["device"].as<std::string>();
  if (tune.device != "cpu" && tune.device != "cpu:0") {
    throw UsageError("--device " + tune.device + ": tune quantizes its candidates on one device; pass cpu");
  }
  if (values.count("timeout")) {
    try {
      tune.timeout_seconds = parse_timeout(values["timeout"].as<std::string>());
    } catch (const Error& error) {
      throw UsageError(error.what());
    }
  }
  tune.max_candidates = values["max_candidates"].as<std::size_t>();
  if (tune.max_candidates == 0) throw UsageError("--max_candidates must be at least 1");
  tune.practice_repo = values["practice_repo"].as<std::string>();
  tune.block_reuse = parse_bool_flag("--block_reuse", values["block_reuse"].as<std::string>());
  tune.max_calib_tokens = max_calib_tokens_flag(values);

  PluginRegistry registry;
  apply_common_options(values, registry);
  const TuneOutcome outcome = run_tune(tune, registry);
  std::printf("\n[tune] %s after %zu candidates (%zu evaluated, %zu from history): %s\n",
              outcome.passed ? "PASSED" : "NONE PASSED", outcome.candidates, outcome.evaluated,
              outcome.from_history, outcome.stop_reason.c_str());
  std::printf("[tune] %s\n", outcome.summary.c_str());
  std::printf("[tune] blocks: %zu quantized, %zu of them reused from earlier candidates\n",
              outcome.blocks_quantized, outcome.blocks_reused);
  const TuneCpuSeconds& cpu = outcome.cpu;
  std::printf(
      "[tune] CPU seconds: quantization %.2f, evaluation %.2f, float baseline %.2f, ranking %.2f, "
      "verification %.2f, total %.2f\n",
      cpu.quantization, cpu.evaluation, cpu.baseline, cpu.ranking, cpu.verification, cpu.total);
  if (outcome.passed) {
    std::printf("[tune] saved %s/quant_model, best_practice.yaml, report.html\n", tune.save_path.c_str());
    if (outcome.repo_file) std::printf("[tune] practice saved to %s\n", outcome.repo_file->c_str());
  } else {
    std::printf("[tune] report: %s/report.html%s\n", tune.save_path.c_str(),
                outcome.practice_id.empty() ? "" : ", closest practice: closest_practice.yaml");
  }
  std::fflush(stdout);
  return outcome.passed ? 0 : 1;
}

}  // namespace modelslim::core
