#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_commands.hpp"
#include "modelslim/core/analyze_service.hpp"
#include "modelslim/core/calibration.hpp"
#include "modelslim/core/dataset_names.hpp"
#include "modelslim/core/paths.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/error.hpp"
#include "modelslim/model_files.hpp"

namespace po = boost::program_options;

namespace modelslim::core {
namespace {

constexpr const char* kProbe =
    "{act: {scope: per_tensor, dtype: int8, symmetric: false}, weight: {scope: per_channel, dtype: int8}}";

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// One row per group of tied scores; topk counts rows, the exclude list holds every name in them.
void print_ranking(const std::vector<SensitivityGroup>& groups, std::size_t topk, const std::string& metric,
                   bool blocks) {
  const std::size_t rows = std::min(topk, groups.size());
  std::size_t width = 48;
  for (std::size_t i = 0; i < rows; ++i) width = std::max(width, joined(groups[i].names).size() + 2);
  std::cout << std::left << std::setw(6) << "RANK" << std::setw(static_cast<int>(width))
            << (blocks ? "BLOCK" : "LINEAR") << metric << "\n";
  for (std::size_t i = 0; i < rows; ++i) {
    std::cout << std::left << std::setw(6) << i + 1 << std::setw(static_cast<int>(width))
              << joined(groups[i].names) << std::setprecision(6) << groups[i].score << "\n";
  }
  // Ready to paste into a linear_quant config: the most sensitive ones stay in float.
  std::cout << "\nexclude: [";
  bool first = true;
  for (std::size_t i = 0; i < rows; ++i) {
    for (const std::string& name : groups[i].names) {
      std::cout << (first ? "" : ", ") << '"' << name << (blocks ? ".*" : "") << '"';
      first = false;
    }
  }
  std::cout << "]\n";
}

std::vector<std::string> patterns_of(const po::variables_map& values, const char* flag) {
  return values.count(flag) ? values[flag].as<std::vector<std::string>>() : std::vector<std::string>{"*"};
}

// [{"block": ..., "experts": [...], "tokens": [...], "total": Σ tokens}], one entry per MoE block.
nlohmann::json expert_token_report(const std::vector<ExpertTokenCounts>& counts) {
  nlohmann::json report = nlohmann::json::array();
  for (const ExpertTokenCounts& block : counts) {
    std::int64_t total = 0;
    for (const std::int64_t tokens : block.tokens) total += tokens;
    report.push_back(
        {{"block", block.block}, {"experts", block.experts}, {"tokens", block.tokens}, {"total", total}});
  }
  return report;
}

}  // namespace

int run_analyze_command(const std::vector<std::string>& args) {
  po::options_description options(
      "modelslim analyze [linear|layer] --model_path DIR [--calib_dataset F] [--topk 15] [--metrics M] "
      "[--pattern P ...] [--quant_modules P ...] [--output FILE]");
  options.add_options()("help,h", "show this help")(
      "scope", po::value<std::string>()->default_value("linear"),
      "linear (input statistics) or layer (block output error)")("model_path", po::value<std::string>(),
                                                                 "checkpoint directory")(
      "model_type", po::value<std::string>()->default_value(""), "model type (default: config.json)")(
      "calib_dataset", po::value<std::string>()->default_value(kDefaultCalibDataset),
      "calibration data (path or name)")("topk", po::value<std::size_t>()->default_value(15),
                                         "how many ranked rows (groups of tied scores) to print and exclude")(
      "metrics", po::value<std::string>(),
      "linear: kurtosis (default), std, quantile or range_parm (linear_quant's disable_level ranking); "
      "layer: mse_layer_wise (default) or mse_model_wise")(
      "pattern", po::value<std::vector<std::string>>()->composing(),
      "linear scope: analyse only linears matching this glob (repeatable)")(
      "quant_modules", po::value<std::vector<std::string>>()->composing(),
      "layer scope: probe-quantize only linears matching this glob (repeatable; default *)")(
      "output", po::value<std::string>(), "also write the full ranking as JSON");
  add_max_calib_tokens_option(options);
  add_common_options(options);
  po::positional_options_description positional;
  positional.add("scope", 1);
  const auto parsed = parse_command_line(args, options, "\n", &positional);
  if (!parsed) return 0;
  const po::variables_map& values = *parsed;
  const std::string scope = values["scope"].as<std::string>();
  if (scope != "linear" && scope != "layer")
    throw UsageError("scope '" + scope + "': expected linear or layer");
  require_flags(values, {"model_path"});
  const std::string metric = values.count("metrics") ? values["metrics"].as<std::string>()
                             : scope == "linear"     ? "kurtosis"
                                                     : "mse_layer_wise";
  if (scope == "layer" && metric != "mse_layer_wise" && metric != "mse_model_wise") {
    throw UsageError("--metrics " + metric + ": layer scope supports mse_layer_wise and mse_model_wise");
  }
  if (scope == "linear" && metric != "kurtosis" && metric != "std" && metric != "quantile" &&
      metric != "range_parm") {
    throw UsageError("--metrics " + metric +
                     ": linear scope supports kurtosis, std, quantile and range_parm");
  }
  if (scope == "layer" && values.count("pattern")) {
    throw UsageError(
        "--pattern applies to linear scope; layer scope selects the probed linears with "
        "--quant_modules");
  }
  if (scope == "linear" && values.count("quant_modules")) {
    throw UsageError("--quant_modules applies to layer scope; linear scope selects linears with --pattern");
  }
  const std::size_t topk = values["topk"].as<std::size_t>();
  if (topk == 0) throw UsageError("--topk must be at least 1");
  const std::optional<std::size_t> max_calib_tokens = max_calib_tokens_flag(values);

  PluginRegistry registry;
  apply_common_options(values, registry);
  const auto model =
      registry.load_model(values["model_path"].as<std::string>(), values["model_type"].as<std::string>());
  const auto texts =
      read_text_dataset(resolve_dataset(values["calib_dataset"].as<std::string>(), dataset_dirs()));
  const std::vector<at::Tensor> token_ids = calibration_token_ids(*model, texts, max_calib_tokens);
  if (token_ids.empty()) throw Error(ErrorCode::kInvalidDataset, "--calib_dataset produced no tokens");
  std::vector<ExpertTokenCounts> expert_tokens;
  const std::vector<SensitivityScore> scores =
      scope == "linear"
          ? analyze_linears(*model, token_ids, metric, patterns_of(values, "pattern"), &expert_tokens)
          : analyze_blocks(*model, registry, token_ids, kProbe, patterns_of(values, "quant_modules"), metric,
                           &expert_tokens);
  const std::vector<SensitivityGroup> groups = group_ties(scores);
  print_ranking(groups, topk, metric, scope == "layer");
  if (values.count("output")) {
    nlohmann::json report = {{"scope", scope},
                             {"metric", metric},
                             {"ranking", nlohmann::json::array()},
                             {"groups", nlohmann::json::array()}};
    for (const auto& entry : scores)
      report["ranking"].push_back({{"name", entry.name}, {"score", entry.score}});
    for (const auto& group : groups) report["groups"].push_back(group.names);
    // Mixture of experts: calibration coverage, tokens the router sent to each expert of each block.
    if (!expert_tokens.empty()) report["tokens_per_expert"] = expert_token_report(expert_tokens);
    write_text_atomic(values["output"].as<std::string>(), report.dump(2) + "\n");
  }
  return 0;
}

}  // namespace modelslim::core
