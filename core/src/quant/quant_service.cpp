#include "modelslim/core/quant_service.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include "modelslim/atomic_file.hpp"
#include "modelslim/core/block_cache.hpp"
#include "modelslim/core/calibration.hpp"
#include "modelslim/core/dataset_names.hpp"
#include "modelslim/core/disk_space.hpp"
#include "modelslim/core/distributed.hpp"
#include "modelslim/core/env_names.hpp"
#include "modelslim/core/float_checkpoint_saver.hpp"
#include "modelslim/core/output_path.hpp"
#include "modelslim/core/paths.hpp"
#include "modelslim/core/pipeline.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/practice_config.hpp"
#include "modelslim/core/practice_repo.hpp"
#include "modelslim/core/save_path_lock.hpp"
#include "modelslim/core/staging_dir.hpp"
#include "modelslim/core/tune_history.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/practice_check.hpp"
#include "modelslim/quant_math.hpp"

namespace modelslim::core {
namespace {

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

// Savers that know their engine's rules (PracticeCheck) see every processor config of the run and the
// model's config.json, and refuse what their engine would not load or would compute wrongly — before any
// data, weight or output is touched.
void check_savers_against_practice(const PracticeConfig& practice, const Pipeline& pipeline,
                                   const nlohmann::json& hf_config) {
  PracticeView view{{}, hf_config};
  for (const ConfigNode& stage : practice.spec.prior) {
    for (const ConfigNode& item : stage["process"].items()) view.processors.push_back(item);
  }
  for (const ConfigNode& node : practice.spec.process) view.processors.push_back(node);
  for (const auto& saver : pipeline.savers) {
    const auto* check = dynamic_cast<const PracticeCheck*>(saver.get());
    if (check == nullptr) continue;
    for (const std::string& warning : check->check_practice(view)) spdlog::warn("{}", warning);
  }
}

// A `spec.prior` stage: processors run over the whole model before the main stage; the result is written
// as a float checkpoint the next stage reads.
struct PriorStage {
  std::string label;  // "spec.prior.0"
  Pipeline pipeline;
  std::string dataset;
};

std::vector<PriorStage> build_prior_stages(const PracticeConfig& config, const PluginRegistry& registry) {
  std::vector<PriorStage> stages;
  for (const ConfigNode& node : config.spec.prior) {
    PriorStage stage;
    stage.label = node.path();
    if (!node.has("process")) node.fail("a prior stage needs a process list");
    const ConfigNode process = node["process"];
    process.require_sequence();
    if (process.size() == 0) process.fail("a prior stage needs at least one processor");
    for (const ConfigNode& item : process.items()) {
      stage.pipeline.processors.push_back(registry.create_processor(item));
    }
    stage.dataset = node.get_string("dataset", config.spec.dataset);
    stage.pipeline.savers.push_back(std::make_unique<FloatCheckpointSaver>(stage.label));
    stages.push_back(std::move(stage));
  }
  return stages;
}

std::vector<std::string> calibration_texts(const std::string& dataset) {
  const std::filesystem::path file =
      resolve_dataset(dataset.empty() ? kDefaultCalibDataset : dataset, dataset_dirs());
  std::vector<std::string> texts = read_text_dataset(file);
  spdlog::info("calibration: {} samples from {}", texts.size(), file.string());
  return texts;
}

// The calibration token limit the user asked for: --max_calib_tokens, else spec.max_calib_tokens.
struct RequestedTokens {
  std::optional<std::size_t> tokens;
  std::string source;
};

RequestedTokens requested_tokens(const QuantOptions& options, const PracticeConfig& practice) {
  if (options.max_calib_tokens) return {options.max_calib_tokens, "--max_calib_tokens"};
  return {practice.spec.max_calib_tokens, "spec.max_calib_tokens"};
}

std::vector<at::Tensor> calibration_ids(const ModelAdapter& model, const std::vector<std::string>& texts,
                                        const RequestedTokens& requested) {
  std::vector<at::Tensor> ids = calibration_token_ids(model, texts, requested.tokens, requested.source);
  if (!texts.empty() && ids.empty()) {
    throw Error(ErrorCode::kInvalidDataset, "the calibration dataset produced no tokens");
  }
  return ids;
}

void log_progress(const BlockProgress& p) {
  spdlog::info("[quant] block {}/{} {}  elapsed {:.1f}s  ETA {:.1f}s", p.index, p.total, p.name,
               p.elapsed_seconds, p.eta_seconds);
}

// dp_layer_wise: every processor must give all ranks the same result; name those that cannot.
void require_distributed_support(const PracticeConfig& practice, const Pipeline& pipeline) {
  std::string refused;
  for (std::size_t i = 0; i < pipeline.processors.size(); ++i) {
    if (pipeline.processors[i]->support_distributed()) continue;
    const ConfigNode& node = practice.spec.process[i];
    refused += (refused.empty() ? "" : ", ") + node.path() + " (" + node.get_string("type", "?") + ")";
  }
  if (!refused.empty()) {
    throw Error(ErrorCode::kUnsupported,
                "dp_layer_wise: these processors cannot combine their statistics across ranks: " + refused,
                "use one device, or activation method minmax without ext.aggregation_type mean");
  }
  if (!practice.spec.prior.empty()) {
    throw Error(ErrorCode::kUnsupported, "dp_layer_wise: spec.prior stages run on one device only",
                "run the practice on one device");
  }
}

// Rank r of n calibrates on samples r, r+n, r+2n, ...
std::vector<at::Tensor> shard(const std::vector<at::Tensor>& ids, const Communicator& communicator) {
  std::vector<at::Tensor> mine;
  for (std::size_t i = communicator.rank(); i < ids.size(); i += communicator.world_size())
    mine.push_back(ids[i]);
  return mine;
}

// Keys of the block cache: block k's key hashes block k-1's with the process config as it applies to block k,
// i.e. without the fallback patterns ("*<name>.*") that name other blocks — the only difference between
// most tuning candidates. Everything else in the config stays in, so any other change misses.
YAML::Node strip_other_blocks(const YAML::Node& node, const std::set<std::string>& others) {
  if (node.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& item : node) {
      const std::string key = item.first.as<std::string>();
      const bool patterns = (key == "include" || key == "exclude") && item.second.IsSequence();
      if (!patterns) {
        out[key] = strip_other_blocks(item.second, others);
        continue;
      }
      YAML::Node kept(YAML::NodeType::Sequence);
      for (const auto& pattern : item.second) {
        if (!pattern.IsScalar() || others.count(pattern.as<std::string>()) == 0) kept.push_back(pattern);
      }
      out[key] = kept;
    }
    return out;
  }
  if (node.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& item : node) out.push_back(strip_other_blocks(item, others));
    return out;
  }
  return node;
}

std::vector<std::string> block_keys(const PracticeConfig& practice, const ModelAdapter& model,
                                    const nlohmann::json& hf_config, const std::filesystem::path& model_path,
                                    const std::vector<std::string>& texts,
                                    std::optional<std::size_t> max_calib_tokens) {
  YAML::Node process(YAML::NodeType::Sequence);
  for (const ConfigNode& node : practice.spec.process) process.push_back(node.yaml());
  std::string upstream = "block-cache-v1\n" + model_path.string() + "\n" + hf_config.dump() + "\n" +
                         std::to_string(max_calib_tokens.value_or(0)) + "\n";
  for (const auto& text : texts) upstream += text + "\x1e";
  upstream = content_hash(upstream);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < model.num_blocks(); ++i) names.push_back(model.block_name(i));
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::set<std::string> others;
    for (std::size_t j = 0; j < names.size(); ++j) {
      if (j != i) others.insert("*" + names[j] + ".*");
    }
    YAML::Emitter emitted;
    emitted << strip_other_blocks(process, others);
    upstream = content_hash(upstream + "\n" + std::to_string(i) + "\n" + emitted.c_str());
    keys.push_back(upstream);
  }
  return keys;
}

// Reuse needs blocks that depend on nothing but their inputs and config, and names under the block's own
// prefix (what makes a "*<other block>.*" pattern irrelevant to it).
bool can_reuse_blocks(const Pipeline& pipeline, RunnerKind runner, const PracticeConfig& practice,
                      ModelAdapter& model) {
  if (runner != RunnerKind::kLayerWise || !practice.spec.prior.empty()) return false;
  for (const auto& processor : pipeline.processors) {
    if (!processor->block_local()) return false;
  }
  for (std::size_t i = 0; i < model.num_blocks(); ++i) {
    if (model.block_name(i).empty()) return false;
  }
  return true;
}

// Destroys a run's savers when it ends (run_quant: before its staging directories are removed).
struct SaverTeardown {
  Pipeline& pipeline;
  std::vector<PriorStage>& prior;
  ~SaverTeardown() {
    pipeline.savers.clear();
    for (PriorStage& stage : prior) stage.pipeline.savers.clear();
  }
};

}  // namespace

std::size_t requested_devices(const std::string& device) {
  return device_count(device);
}

std::string resolve_model_type(const std::filesystem::path& model_path, const std::string& requested,
                               const PluginRegistry& registry) {
  const nlohmann::json hf_config = read_model_config(model_path);
  return resolved_model_type(requested, hf_config, registry.select_model_adapter(requested, hf_config));
}

QuantSummary run_quant(const QuantOptions& options, PluginRegistry& registry) {
  const nlohmann::json hf_config = read_model_config(options.model_path);
  const std::optional<RankInfo> rank = rank_from_environment();
  const std::size_t devices = rank ? rank->world_size : device_count(options.device);
  // The user's files first: refuse an output over the model or over a directory modelslim did not make,
  // and a second run on the same output, before any work.
  const std::filesystem::path save_path = normalize_output_path(options.save_path, "--save_path");
  const bool may_write = !rank || rank->rank == 0;
  std::optional<SavePathLock> lock;
  if (may_write) {
    check_output_path(save_path, "--save_path", {{"--model_path", options.model_path}});
    if (!lock_held_by_parent()) lock.emplace(save_path, "--save_path");
  }
  const std::string adapter_type = registry.select_model_adapter(options.model_type, hf_config);
  const std::string model_type = resolved_model_type(options.model_type, hf_config, adapter_type);

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
  std::vector<PriorStage> prior = build_prior_stages(practice, registry);
  const RequestedTokens requested = requested_tokens(options, practice);
  Pipeline pipeline = build_pipeline(practice, registry);
  check_savers_against_practice(practice, pipeline, hf_config);
  const RunnerKind runner = resolve_runner(practice.spec.runner, devices);
  std::unique_ptr<Communicator> communicator;
  if (runner == RunnerKind::kDpLayerWise) {
    require_distributed_support(practice, pipeline);
    if (!rank) {
      throw Error(ErrorCode::kUnsupported, "dp_layer_wise: this process was not started as a rank",
                  "pass --device cpu:0,1 to the CLI, or set RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT");
    }
    spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(rank->rank) + "] [%^%l%$] %v");
    if (rank->rank != 0 && spdlog::get_level() < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
    // Ranks on one machine share its cores: without a user choice, split them instead of oversubscribing.
    if (std::getenv(env::kOmpNumThreads) == nullptr) {
      const auto cores = static_cast<std::size_t>(std::max(1U, std::thread::hardware_concurrency()));
      const int threads = static_cast<int>(std::max<std::size_t>(1, cores / rank->world_size));
      at::set_num_threads(threads);
      set_weight_quant_threads(threads);
    }
    communicator = connect_ranks(*rank, std::chrono::minutes(10));
    // One rank writes; every rank computes the same quantized weights.
    if (rank->rank != 0) pipeline.savers.clear();
  }
  const bool writes = !communicator || communicator->rank() == 0;
  if (writes) {
    const std::uint64_t needed = estimate_output_bytes(
        options.model_path, hf_config, smallest_weight_bits(practice.root.yaml()), prior.size());
    require_free_space("--save_path " + save_path.string(), needed, free_bytes(save_path.parent_path()));
  }
  std::vector<std::string> texts;
  if (pipeline.needs_data()) texts = calibration_texts(practice.spec.dataset);

  std::optional<StagingDir> output;
  if (writes) output.emplace(save_path);
  const std::filesystem::path output_dir = writes ? output->path() : std::filesystem::path();
  ModelLoadRequest request{options.model_path, hf_config, model_type, at::kCPU, options.trust_remote_code};
  std::unique_ptr<ModelAdapter> model = registry.create_model_adapter(adapter_type, request);

  QuantSummary summary;
  RunArtifacts artifacts;  // carried from the prior stages to the final savers (e.g. QuaRot's rotation)
  std::vector<std::unique_ptr<StagingDir>> scratch;  // intermediate checkpoints, removed at the end
  // A saver's shard writer may still be writing into a staging directory on its own thread
  // (StreamingShardWriter::enqueue). On an error the savers go first — their destructors stop the writer
  // and remove its files — and only then are the directories removed; otherwise a file created meanwhile
  // could leave a half-removed directory behind. Declared after the directories, so destroyed before them.
  const SaverTeardown teardown{pipeline, prior};
  for (std::size_t i = 0; i < prior.size(); ++i) {
    PriorStage& stage = prior[i];
    spdlog::info("{}: running {} processor(s) over the whole model", stage.label,
                 stage.pipeline.processors.size());
    const std::vector<std::string> stage_texts =
        stage.pipeline.needs_data() ? calibration_texts(stage.dataset) : std::vector<std::string>{};
    scratch.push_back(std::make_unique<StagingDir>(save_path.string() + ".prior-" + std::to_string(i)));
    const RunStats stats = run_pipeline(
        *model, stage.pipeline, calibration_ids(*model, stage_texts, requested), runner,
        SaveContext{scratch.back()->path(), options.model_path, *model}, log_progress, artifacts);
    summary.block_forwards += stats.block_forwards;
    request.model_dir = scratch.back()->path();
    request.hf_config = read_json_file(request.model_dir / "config.json");
    model = registry.create_model_adapter(adapter_type, request);
  }

  const std::vector<at::Tensor> all_ids = calibration_ids(*model, texts, requested);
  const std::vector<at::Tensor> token_ids = communicator ? shard(all_ids, *communicator) : all_ids;
  summary.model_type = model_type;
  summary.config_id = practice.metadata.config_id;
  summary.samples = token_ids.size();
  const std::shared_ptr<ModelAdapter> main_model(std::move(model));
  const SaveContext save_context{output_dir, options.model_path, *main_model};
  std::optional<BlockReuse> reuse;
  if (options.block_cache != nullptr && !communicator &&
      can_reuse_blocks(pipeline, runner, practice, *main_model)) {
    reuse.emplace(
        BlockReuse{*options.block_cache,
                   block_keys(practice, *main_model, hf_config, options.model_path, texts, requested.tokens),
                   main_model});
  }
  const RunStats stats = run_pipeline(*main_model, pipeline, token_ids, runner, save_context,
                                      writes ? ProgressCallback(log_progress) : ProgressCallback(), artifacts,
                                      communicator.get(), reuse ? &*reuse : nullptr);
  if (reuse) summary.blocks_reused = reuse->reused;
  // Nothing is published unless every rank got through.
  if (communicator) communicator->barrier();
  if (writes) {
    if (options.quant_type) {
      copy_file_atomic(config_path, output->path() / (model_type + "_best_practice.yaml"));
    }
    output->commit();
  }
  summary.blocks = stats.blocks;
  summary.block_forwards += stats.block_forwards;
  summary.seconds = stats.seconds;
  for (PriorStage& stage : prior) {
    for (const auto& processor : stage.pipeline.processors) {
      for (auto& warning : processor->warnings()) summary.warnings.push_back(std::move(warning));
    }
  }
  for (const auto& processor : pipeline.processors) {
    for (auto& warning : processor->warnings()) summary.warnings.push_back(std::move(warning));
  }
  return summary;
}

}  // namespace modelslim::core
