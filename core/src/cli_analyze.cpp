#include <fstream>
#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli_commands.hpp"
#include "modelslim/core/analyze_service.hpp"
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

void print_ranking(const std::vector<SensitivityScore>& scores, std::size_t topk, const std::string& metric,
                   bool blocks) {
  std::cout << std::left << std::setw(6) << "RANK" << std::setw(48) << (blocks ? "BLOCK" : "LINEAR") << metric
            << "\n";
  for (std::size_t i = 0; i < std::min(topk, scores.size()); ++i) {
    std::cout << std::left << std::setw(6) << i + 1 << std::setw(48) << scores[i].name << std::setprecision(6)
              << scores[i].score << "\n";
  }
  // Ready to paste into a linear_quant config: the most sensitive ones stay in float.
  std::cout << "\nexclude: [";
  for (std::size_t i = 0; i < std::min(topk, scores.size()); ++i) {
    std::cout << (i ? ", " : "") << '"' << scores[i].name << (blocks ? ".*" : "") << '"';
  }
  std::cout << "]\n";
}

}  // namespace

int run_analyze_command(const std::vector<std::string>& args) {
  po::options_description options(
      "modelslim analyze [linear|layer] --model_path DIR [--calib_dataset F] [--topk 15] [--metrics M] "
      "[--output FILE]");
  options.add_options()("help,h", "show this help")(
      "scope", po::value<std::string>()->default_value("linear"),
      "linear (input statistics) or layer (block output error)")("model_path", po::value<std::string>(),
                                                                 "checkpoint directory")(
      "model_type", po::value<std::string>()->default_value(""), "model type (default: config.json)")(
      "calib_dataset", po::value<std::string>()->default_value("kjv_calib.jsonl"),
      "calibration data (path or name)")("topk", po::value<std::size_t>()->default_value(15),
                                         "how many to print and exclude")(
      "metrics", po::value<std::string>(),
      "linear: kurtosis (default) or std; layer: mse_layer_wise (default)")(
      "output", po::value<std::string>(), "also write the full ranking as JSON");
  add_common_options(options);
  po::positional_options_description positional;
  positional.add("scope", 1);
  po::variables_map values;
  po::store(po::command_line_parser(args).options(options).positional(positional).run(), values);
  po::notify(values);
  if (values.count("help")) {
    std::cout << options << "\n";
    return 0;
  }
  const std::string scope = values["scope"].as<std::string>();
  if (scope != "linear" && scope != "layer")
    throw UsageError("scope '" + scope + "': expected linear or layer");
  if (!values.count("model_path")) throw UsageError("--model_path is required");
  const std::string metric = values.count("metrics") ? values["metrics"].as<std::string>()
                             : scope == "linear"     ? "kurtosis"
                                                     : "mse_layer_wise";
  if (scope == "layer" && metric != "mse_layer_wise") {
    throw UsageError("--metrics " + metric + ": layer scope supports mse_layer_wise");
  }
  if (scope == "linear" && metric != "kurtosis" && metric != "std") {
    throw UsageError("--metrics " + metric + ": linear scope supports kurtosis and std");
  }
  const std::size_t topk = values["topk"].as<std::size_t>();
  if (topk == 0) throw UsageError("--topk must be at least 1");

  PluginRegistry registry;
  apply_common_options(values, registry);
  const auto model =
      registry.load_model(values["model_path"].as<std::string>(), values["model_type"].as<std::string>());
  const auto texts =
      read_text_dataset(resolve_dataset(values["calib_dataset"].as<std::string>(), dataset_dirs()));
  const std::vector<at::Tensor> token_ids = tokenize_texts(*model, texts);
  if (token_ids.empty()) throw Error(ErrorCode::kInvalidDataset, "--calib_dataset produced no tokens");
  const std::vector<SensitivityScore> scores = scope == "linear"
                                                   ? analyze_linears(*model, token_ids, metric)
                                                   : analyze_blocks(*model, registry, token_ids, kProbe);
  print_ranking(scores, topk, metric, scope == "layer");
  if (values.count("output")) {
    nlohmann::json report = {{"scope", scope}, {"metric", metric}, {"ranking", nlohmann::json::array()}};
    for (const auto& entry : scores)
      report["ranking"].push_back({{"name", entry.name}, {"score", entry.score}});
    write_text_atomic(values["output"].as<std::string>(), report.dump(2) + "\n");
  }
  return 0;
}

}  // namespace modelslim::core
