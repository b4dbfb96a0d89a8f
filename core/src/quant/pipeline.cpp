#include "modelslim/core/pipeline.hpp"

#include <algorithm>
#include <optional>

#include <spdlog/spdlog.h>

#include "expert_groups.hpp"
#include "modelslim/block_prefetch.hpp"
#include "modelslim/buffer_pool.hpp"
#include "modelslim/calibration_prepass.hpp"
#include "modelslim/error.hpp"
#include "modelslim/expert_streaming.hpp"
#include "modelslim/stored_dtype_weights.hpp"
#include "resident_heap.hpp"

namespace modelslim::core {

RunnerKind resolve_runner(const std::string& runner, std::size_t device_count) {
  if (runner == "auto") return device_count <= 1 ? RunnerKind::kLayerWise : RunnerKind::kDpLayerWise;
  if (runner == "dp_layer_wise") {
    if (device_count > 1) return RunnerKind::kDpLayerWise;
    throw Error(ErrorCode::kUnsupported, "runner 'dp_layer_wise' needs several devices",
                "pass --device cpu:0,1 (one rank per device), or start the ranks with RANK/WORLD_SIZE");
  }
  if (device_count <= 1) return runner == "model_wise" ? RunnerKind::kModelWise : RunnerKind::kLayerWise;
  throw Error(
      ErrorCode::kUnsupported,
      "runner '" + runner + "' runs on one device, but " + std::to_string(device_count) + " were given",
      "use runner auto or dp_layer_wise for several devices, or pass one --device");
}

namespace {

template <typename Part>
bool reads_stored_dtype(const std::vector<std::unique_ptr<Part>>& parts) {
  return std::all_of(parts.begin(), parts.end(), [](const auto& part) {
    const auto* reader = dynamic_cast<const StoredDtypeWeightReader*>(part.get());
    return reader != nullptr && reader->reads_stored_dtype_weights();
  });
}

// Linear weights stay in the checkpoint's dtype for this run (stored_dtype_weights.hpp) when the adapter
// can, every processor and saver only reads them, and no calibration forward would widen them per call
// (MODELSLIM_STORED_DTYPE_WEIGHTS=1 allows that too, =0 never). Restores float32 loading when it ends.
class StoredDtypeScope {
 public:
  StoredDtypeScope(ModelAdapter& model, const Pipeline& pipeline, bool forwards)
      : blocks_(dynamic_cast<StoredDtypeBlocks*>(&model)) {
    const StoredDtypeWeightsSetting setting = stored_dtype_weights_setting();
    const bool wanted = setting == StoredDtypeWeightsSetting::kForce ||
                        (setting == StoredDtypeWeightsSetting::kAuto && !forwards);
    if (blocks_ == nullptr || !wanted || !reads_stored_dtype(pipeline.processors) ||
        !reads_stored_dtype(pipeline.savers)) {
      blocks_ = nullptr;
      return;
    }
    blocks_->keep_stored_dtype_weights(true);
    spdlog::info(
        "linear weights stay in the checkpoint dtype (no float32 copy): every processor and saver reads them "
        "as stored{}",
        forwards ? " (MODELSLIM_STORED_DTYPE_WEIGHTS=1: the calibration forward widens them per call)" : "");
  }
  ~StoredDtypeScope() {
    if (blocks_ != nullptr) blocks_->keep_stored_dtype_weights(false);
  }
  StoredDtypeScope(const StoredDtypeScope&) = delete;
  StoredDtypeScope& operator=(const StoredDtypeScope&) = delete;

 private:
  StoredDtypeBlocks* blocks_;
};

}  // namespace

bool Pipeline::needs_data() const {
  return std::any_of(processors.begin(), processors.end(), [](const auto& p) { return !p->is_data_free(); });
}

RunStats run_pipeline(ModelAdapter& model, Pipeline& pipeline, const std::vector<at::Tensor>& token_ids,
                      RunnerKind runner, SaveContext save_context, const ProgressCallback& progress) {
  RunArtifacts artifacts;
  return run_pipeline(model, pipeline, token_ids, runner, std::move(save_context), progress, artifacts);
}

RunStats run_pipeline(ModelAdapter& model, Pipeline& pipeline, const std::vector<at::Tensor>& token_ids,
                      RunnerKind runner, SaveContext save_context, const ProgressCallback& progress,
                      RunArtifacts& artifacts, Communicator* communicator, BlockReuse* reuse) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  RunStats stats;
  const std::size_t total = model.num_blocks();

  const StoredDtypeScope stored_dtype(model, pipeline, !token_ids.empty());
  // model_wise materialises every block up front; layer_wise loads each just before its round.
  std::vector<std::unique_ptr<Block>> resident;
  if (runner == RunnerKind::kModelWise) {
    for (std::size_t i = 0; i < total; ++i) resident.push_back(model.load_block(i));
  }

  RunContext run_context{model, at::kCPU, &artifacts, communicator};
  for (auto& processor : pipeline.processors) processor->pre_run(run_context);
  save_context.artifacts = &artifacts;
  for (auto& saver : pipeline.savers) saver->begin(save_context);

  std::vector<BlockInput> inputs;
  inputs.reserve(token_ids.size());
  for (const at::Tensor& ids : token_ids) inputs.push_back(model.embed(ids));
  for (auto& processor : pipeline.processors) {
    if (auto* prepass = dynamic_cast<CalibrationPrepass*>(processor.get())) prepass->prepass(model, inputs);
  }

  keep_heap_resident();
  // Sparse blocks whose routed experts load in groups (expert_groups.hpp); null when they load whole.
  ExpertStreamingModel* grouped_model =
      runner == RunnerKind::kModelWise ? nullptr : expert_grouping(model, pipeline);
  // layer_wise reads block k+1 on a background thread while block k runs (not the blocks the cache has).
  // Not beside grouped loading: the adapter would see two calls at once.
  std::optional<BlockLoader> loader;
  if (runner != RunnerKind::kModelWise && grouped_model == nullptr) loader.emplace(model);
  const std::uint64_t group_budget = grouped_model ? expert_group_settings().budget : 0;
  const auto next_to_load = [&](std::size_t index) -> std::optional<std::size_t> {
    for (std::size_t next = index + 1; next < total; ++next) {
      if (reuse == nullptr || !reuse->cache.contains(reuse->keys.at(next))) return next;
    }
    return std::nullopt;
  };
  const auto report = [&](std::size_t index, const std::string& name) {
    if (!progress) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double per_block = elapsed / static_cast<double>(index + 1);
    progress({index + 1, total, name, elapsed, per_block * static_cast<double>(total - index - 1)});
  };
  for (std::size_t index = 0; index < total; ++index) {
    buffer_pool_next_round();
    if (reuse != nullptr) {
      if (const auto cached = reuse->cache.find(reuse->keys.at(index))) {
        for (auto& saver : pipeline.savers) saver->save_block(*cached->block);
        if (!cached->outputs.empty()) {
          for (std::size_t s = 0; s < inputs.size(); ++s) inputs[s].hidden = cached->outputs[s];
        }
        ++reuse->reused;
        if (progress) {
          const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
          progress({index + 1, total, cached->block->name(), elapsed, 0.0});
        }
        continue;
      }
    }
    const std::uint64_t expert_bytes = grouped_model ? grouped_model->routed_expert_bytes(index) : 0;
    if (expert_bytes > 0) {
      std::unique_ptr<Block> block = grouped_model->load_block_without_experts(index);
      const std::int64_t group_size =
          experts_per_group(expert_bytes, expert_grouped_block(*block)->num_routed_experts(), group_budget);
      GroupedBlockRun run =
          run_block_in_groups(*block, pipeline, inputs, communicator, group_size, index + 1 < total);
      if (!run.outputs.empty()) {
        for (std::size_t s = 0; s < inputs.size(); ++s) inputs[s].hidden = std::move(run.outputs[s]);
      }
      stats.block_forwards += run.forwards;
      spdlog::info("{}: routed experts in {} groups of up to {} (expert memory budget {} MiB)", block->name(),
                   run.groups, group_size, group_budget / (1024 * 1024));
      const std::string name = block->name();
      block.reset();
      report(index, name);
      continue;  // not kept by the tune cache: it never held the whole block
    }
    std::unique_ptr<Block> block = loader          ? loader->load(index, next_to_load(index))
                                   : grouped_model ? model.load_block(index)
                                                   : std::move(resident[index]);
    BlockRequest request{block->name(), *block, inputs, {}, 0, communicator};
    for (auto& processor : pipeline.processors) {
      processor->preprocess(request);
      processor->process(request);
      processor->postprocess(request);
    }
    // The next block needs this block's outputs; run one forward if no processor did.
    if (!inputs.empty() && request.outputs.empty() && index + 1 < total) run_block_forward(request);
    for (auto& saver : pipeline.savers) saver->save_block(*block);
    if (!request.outputs.empty()) {
      for (std::size_t s = 0; s < inputs.size(); ++s) inputs[s].hidden = std::move(request.outputs[s]);
    }
    stats.block_forwards += request.forward_count;
    if (reuse != nullptr) {
      // Outputs are shared, not copied: nothing changes a hidden-state tensor in place.
      std::vector<at::Tensor> outputs;
      if (!request.outputs.empty()) {
        for (const BlockInput& input : inputs) outputs.push_back(input.hidden);
      }
      BlockCache::Entry entry;
      entry.bytes = BlockCache::bytes_of(*block, outputs);
      entry.owner = reuse->owner;
      entry.block = std::shared_ptr<Block>(std::move(block));
      entry.outputs = std::move(outputs);
      reuse->cache.put(reuse->keys.at(index), std::move(entry));
    }
    block.reset();  // free this block's weights before the next one is read

    report(index, request.name);
  }
  loader.reset();            // no prefetch in flight while the adapter reads the non-block tensors
  release_pooled_buffers();  // their memory goes back before the embedding and lm_head are saved
  release_free_heap();
  for (auto& processor : pipeline.processors) processor->post_run(run_context);
  for (auto& saver : pipeline.savers) saver->finish(model.non_block_parameters());
  stats.blocks = total;
  stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return stats;
}

}  // namespace modelslim::core
