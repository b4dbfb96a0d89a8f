#include "modelslim/core/quant_service.hpp"

#include <algorithm>
#include <fstream>

#include <spdlog/spdlog.h>

#include "modelslim/core/paths.hpp"
#include "modelslim/core/pipeline.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/practice_config.hpp"
#include "modelslim/core/practice_repo.hpp"
#include "modelslim/core/staging_dir.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"

namespace modelslim::core {
namespace {

constexpr const char* kDefaultDataset = "kjv_calib.jsonl";

nlohmann::json read_model_config(const std::filesystem::path& model_path) {
  if (!std::filesystem::is_directory(model_path)) {
    throw Error(
        ErrorCode::kInvalidModel, "--model_path " + model_path.string() + " is not a directory",
        "pass the directory of a Hugging Face checkpoint (config.json, *.safetensors, tokenizer.json)");
  }
  const std::filesystem::path config_file = model_path / "config.json";
  if (!std::filesystem::exists(config_file)) {
    throw Error(ErrorCode::kInvalidModel,
                config_file.string() + ": missing (every checkpoint needs config.json)");
  }
  return read_json_file(config_file);
}

std::size_t device_count(const std::string& device) {
  const auto colon = device.find(':');
  const std::string kind = device.substr(0, colon);
  if (kind != "cpu") {
    throw Error(ErrorCode::kUnsupported, "--device " + device + ": only cpu is supported by this build",
                "pass --device cpu");
  }
  if (colon == std::string::npos) return 1;
  return static_cast<std::size_t>(std::count(device.begin() + colon, device.end(), ',') + 1);
}

Pipeline build_pipeline(const PracticeConfig& config, const PluginRegistry& registry) {
  Pipeline pipeline;
  if (!config.spec.prior.empty()) {
    config.spec.prior.front().fail("prior stages are not supported in this version");
  }
  for (const ConfigNode& node : config.spec.process)
    pipeline.processors.push_back(registry.create_processor(node));
  for (const ConfigNode& node : config.spec.save) pipeline.savers.push_back(registry.create_saver(node));
  if (pipeline.savers.empty()) {
    // A quantization nobody can deploy is never what the user wants: default to the reference format.
    spdlog::info("spec.save is empty: saving with ascendv1_saver");
    pipeline.savers.push_back(
        registry.create_saver(parse_yaml_string("{type: ascendv1_saver}", "(default saver)")));
  }
  return pipeline;
}

}  // namespace

QuantSummary run_quant(const QuantOptions& options, PluginRegistry& registry) {
  const nlohmann::json hf_config = read_model_config(options.model_path);
  const std::size_t devices = device_count(options.device);
  const std::string adapter_type = registry.select_model_adapter(options.model_type, hf_config);
  const std::string model_type = !options.model_type.empty() ? options.model_type
                                 : hf_config.contains("model_type")
                                     ? hf_config["model_type"].get<std::string>()
                                     : adapter_type;

  std::filesystem::path config_path;
  if (options.config_path) {
    config_path = *options.config_path;
  } else if (options.quant_type) {
    config_path = find_best_practice(practice_dirs(options.practice_repo), model_type, *options.quant_type);
    spdlog::info("--quant_type {}: using practice {}", *options.quant_type, config_path.string());
  } else {
    throw Error(ErrorCode::kSchemaValidate, "one of --config_path or --quant_type is required");
  }
  // Everything the config says is validated (by the plugins too) before the model is touched.
  const PracticeConfig practice = parse_practice_config(parse_yaml_file(config_path.string()));
  Pipeline pipeline = build_pipeline(practice, registry);
  const RunnerKind runner = resolve_runner(practice.spec.runner, devices);

  std::vector<std::string> texts;
  if (pipeline.needs_data()) {
    const std::string dataset = practice.spec.dataset.empty() ? kDefaultDataset : practice.spec.dataset;
    const std::filesystem::path dataset_file = resolve_dataset(dataset, dataset_dirs());
    texts = read_text_dataset(dataset_file);
    spdlog::info("calibration: {} samples from {}", texts.size(), dataset_file.string());
  }

  StagingDir output(options.save_path);
  ModelLoadRequest request{options.model_path, hf_config, model_type, at::kCPU, options.trust_remote_code};
  std::unique_ptr<ModelAdapter> model = registry.create_model_adapter(adapter_type, request);
  std::vector<at::Tensor> token_ids;
  if (!texts.empty()) {
    token_ids = tokenize_texts(*model, texts);
    if (token_ids.empty()) {
      throw Error(ErrorCode::kInvalidDataset, "the calibration dataset produced no tokens");
    }
  }

  QuantSummary summary;
  summary.model_type = model_type;
  summary.config_id = practice.metadata.config_id;
  summary.samples = token_ids.size();
  const SaveContext save_context{output.path(), options.model_path, *model};
  const RunStats stats =
      run_pipeline(*model, pipeline, token_ids, runner, save_context, [](const BlockProgress& p) {
        spdlog::info("[quant] block {}/{} {}  elapsed {:.1f}s  ETA {:.1f}s", p.index, p.total, p.name,
                     p.elapsed_seconds, p.eta_seconds);
      });
  if (options.quant_type) {
    std::filesystem::copy_file(config_path, output.path() / (model_type + "_best_practice.yaml"),
                               std::filesystem::copy_options::overwrite_existing);
  }
  output.commit();
  summary.blocks = stats.blocks;
  summary.block_forwards = stats.block_forwards;
  summary.seconds = stats.seconds;
  for (const auto& processor : pipeline.processors) {
    for (auto& warning : processor->warnings()) summary.warnings.push_back(std::move(warning));
  }
  return summary;
}

}  // namespace modelslim::core
