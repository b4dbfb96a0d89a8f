// The runners: visit the model block by block and schedule processors and savers on each block.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "modelslim/core/block_cache.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/processor.hpp"
#include "modelslim/saver.hpp"

namespace modelslim::core {

// dp_layer_wise: layer_wise on every rank, each with its shard of the calibration samples, statistics
// combined through the communicator.
enum class RunnerKind { kLayerWise, kModelWise, kDpLayerWise };
// "auto" → layer_wise on one device, dp_layer_wise on several. Throws Unsupported when the runner and the
// device count disagree.
RunnerKind resolve_runner(const std::string& runner, std::size_t device_count);

struct Pipeline {
  std::vector<std::unique_ptr<Processor>> processors;
  std::vector<std::unique_ptr<Saver>> savers;
  bool needs_data() const;
};

struct RunStats {
  std::size_t blocks = 0;
  std::size_t block_forwards = 0;  // block forwards over all samples
  double seconds = 0.0;
};

struct BlockProgress {
  std::size_t index;
  std::size_t total;
  std::string name;
  double elapsed_seconds;
  double eta_seconds;
};
using ProgressCallback = std::function<void(const BlockProgress&)>;

// Runs the pipeline. `token_ids` are the calibration samples, each int64 [1, seq] (empty when nothing
// needs data); they are embedded after the processors' pre_run, which may change the embedding (QuaRot).
// The savers' context gets the run's artifacts.
RunStats run_pipeline(ModelAdapter& model, Pipeline& pipeline, const std::vector<at::Tensor>& token_ids,
                      RunnerKind runner, SaveContext save_context, const ProgressCallback& progress);
// Same, with artifacts that outlive the run: what earlier stages produced is kept and passed to the savers.
RunStats run_pipeline(ModelAdapter& model, Pipeline& pipeline, const std::vector<at::Tensor>& token_ids,
                      RunnerKind runner, SaveContext save_context, const ProgressCallback& progress,
                      RunArtifacts& artifacts, Communicator* communicator = nullptr,
                      BlockReuse* reuse = nullptr);

}  // namespace modelslim::core
