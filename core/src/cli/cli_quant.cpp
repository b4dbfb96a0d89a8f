#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>

#include "cli_commands.hpp"
#include "modelslim/core/distributed.hpp"
#include "modelslim/core/output_path.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/practice_v0.hpp"
#include "modelslim/core/quant_service.hpp"
#include "modelslim/core/save_path_lock.hpp"

namespace po = boost::program_options;

namespace modelslim::core {
namespace {

const char* kQuantExamples = R"(
examples:
  # W8A8 with the shipped best practice for the model's type
  modelslim quant --model_path ./Llama-2-7b-hf --save_path ./out-w8a8 --quant_type w8a8
  # a reference modelslim_v0 practice, shown as the v1 pipeline it runs
  modelslim quant --config_path qwen2-7b-w8a8.yaml --print_v1
  # a pipeline of your own
  modelslim quant --model_path ./Qwen3-8B --save_path ./out --config_path my_w8a8.yaml --model_type Qwen3-8B
)";

}  // namespace

int run_quant_command(const std::vector<std::string>& args) {
  po::options_description options(
      "modelslim quant --model_path DIR --save_path DIR (--config_path FILE | --quant_type TYPE)");
  options.add_options()("help,h", "show this help")("model_path", po::value<std::string>(),
                                                    "Hugging Face checkpoint directory (required)")(
      "save_path", po::value<std::string>(), "output directory (required; written atomically)")(
      "config_path", po::value<std::string>(),
      "practice YAML (apiversion modelslim_v1, or modelslim_v0, translated)")(
      "print_v1", "print --config_path as modelslim_v1 YAML (a modelslim_v0 practice translated) and exit")(
      "quant_type", po::value<std::string>(), "use the best shipped practice: w8a8, w8a16, ...")(
      "model_type", po::value<std::string>()->default_value(""),
      "model type or name (e.g. Qwen3-8B); default: config.json's model_type")(
      "device", po::value<std::string>()->default_value("cpu"),
      "cpu, or cpu:0,1 for data-parallel calibration (one rank per entry, dp_layer_wise)")(
      "trust_remote_code", po::value<std::string>()->default_value("False"), "True or False")(
      "practice_repo", po::value<std::string>()->default_value(""),
      "extra practice repository searched by --quant_type (also MSMODELSLIM_CUSTOM_PRACTICE_REPO)");
  add_max_calib_tokens_option(options);
  add_common_options(options);
  const auto parsed = parse_command_line(args, options, kQuantExamples);
  if (!parsed) return 0;
  const po::variables_map& values = *parsed;
  if (values.count("print_v1")) {
    if (!values.count("config_path")) throw UsageError("--print_v1 needs --config_path");
    std::cout << practice_v1_text(parse_yaml_file(values["config_path"].as<std::string>()));
    return 0;
  }
  require_flags(values, {"model_path", "save_path"});
  if (values.count("config_path") == values.count("quant_type")) {
    throw UsageError("pass exactly one of --config_path and --quant_type");
  }
  QuantOptions quant;
  quant.model_path = values["model_path"].as<std::string>();
  quant.save_path = values["save_path"].as<std::string>();
  if (values.count("config_path")) quant.config_path = values["config_path"].as<std::string>();
  if (values.count("quant_type")) quant.quant_type = values["quant_type"].as<std::string>();
  quant.model_type = values["model_type"].as<std::string>();
  quant.device = values["device"].as<std::string>();
  quant.trust_remote_code =
      parse_bool_flag("--trust_remote_code", values["trust_remote_code"].as<std::string>());
  quant.practice_repo = values["practice_repo"].as<std::string>();
  quant.max_calib_tokens = max_calib_tokens_flag(values);

  // Several devices and not yet a rank: run one process per rank here and supervise them.
  const std::size_t devices = requested_devices(quant.device);
  if (devices > 1 && !rank_from_environment()) {
    // The supervisor checks and locks the output for its ranks (rank 0 sees the lock is its parent's).
    quant.save_path = normalize_output_path(quant.save_path, "--save_path");
    check_output_path(quant.save_path, "--save_path", {{"--model_path", quant.model_path}});
    const SavePathLock lock(quant.save_path, "--save_path");
    ::setenv(kLockHolderEnv, std::to_string(::getpid()).c_str(), 1);
    std::vector<std::string> rank_args{"quant"};
    rank_args.insert(rank_args.end(), args.begin(), args.end());
    const int code = run_local_ranks(devices, rank_args, quant.save_path);
    if (code == 0) spdlog::info("dp_layer_wise: {} ranks finished → {}", devices, quant.save_path.string());
    return code;
  }
  PluginRegistry registry;
  apply_common_options(values, registry);
  const QuantSummary summary = run_quant(quant, registry);
  for (const auto& warning : summary.warnings) spdlog::warn("{}", warning);
  spdlog::info("quantized {} ({} blocks, {} calibration samples, {} block forwards) in {:.1f}s → {}",
               summary.model_type, summary.blocks, summary.samples, summary.block_forwards, summary.seconds,
               quant.save_path.string());
  return 0;
}

}  // namespace modelslim::core
