// Processors transform a model block by block (the reference's protocol): pre_run once, then for every
// block preprocess → process → postprocess, then post_run once.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/distributed.hpp"
#include "modelslim/export.hpp"

namespace modelslim {

class ModelAdapter;

// Tensors a processor hands to the savers besides the model (e.g. QuaRot's global rotation). Savers that
// support extra files write them as optional/<name>.safetensors and list them in their description.
struct OptionalTensors {
  std::string name;      // "quarot"
  std::string map_name;  // how the description groups the tensors, e.g. "rotation_map"
  std::map<std::string, at::Tensor> tensors;
};

struct RunArtifacts {
  std::vector<OptionalTensors> optional;
};

struct RunContext {
  ModelAdapter& model;
  at::Device device = at::kCPU;
  RunArtifacts* artifacts = nullptr;     // owned by the host, outlives the savers' finish()
  Communicator* communicator = nullptr;  // dp_layer_wise only: the other ranks
};

struct BlockRequest {
  std::string name;
  Block& block;
  const std::vector<BlockInput>& inputs;  // per calibration sample (empty for data-free runs)
  std::vector<at::Tensor> outputs;        // filled by the last forward that ran on this block
  std::size_t forward_count = 0;          // number of block forwards over all samples this round
  // dp_layer_wise only (else null): `inputs` is this rank's shard; statistics must be combined through it.
  Communicator* communicator = nullptr;
};

// Runs the block on every input and stores the outputs in the request. The shared calibration forward.
MODELSLIM_SDK_API void run_block_forward(BlockRequest& request);

class MODELSLIM_SDK_API Processor {
 public:
  virtual ~Processor();  // key function, defined in sdk/src (see export.hpp)

  virtual void pre_run(RunContext& /*context*/) {}
  virtual void preprocess(BlockRequest& /*request*/) {}
  // Default: a calibration forward unless the processor is data-free.
  virtual void process(BlockRequest& request) {
    if (!is_data_free()) run_block_forward(request);
  }
  virtual void postprocess(BlockRequest& /*request*/) {}
  virtual void post_run(RunContext& /*context*/) {}

  // True when the processor never needs calibration data (no forward).
  virtual bool is_data_free() const = 0;
  // True when the processor gives every rank the same result under dp_layer_wise (it combines its
  // statistics through BlockRequest::communicator, or needs none). The host refuses the others up front.
  virtual bool support_distributed() const { return false; }
  virtual bool need_kv_cache() const { return false; }
  // True when pre_run leaves the model as it is and the work on a block depends only on that block, its
  // inputs and this processor's config, with nothing carried to later blocks or post_run. Then a tuning run
  // may reuse a block processed for an earlier candidate whose config is the same up to that block.
  virtual bool block_local() const { return false; }
  // Called once after the run: warnings such as include patterns that matched nothing.
  virtual std::vector<std::string> warnings() const { return {}; }
};

}  // namespace modelslim
