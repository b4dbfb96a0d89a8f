// Mixture-of-experts blocks in groups (SDK modelslim/expert_streaming.hpp): the layer-wise runner loads a
// sparse block without its routed experts, runs every processor on the resident part, then reads the
// experts a group at a time — each group calibrated, quantized, saved and freed before the next — so one
// block never holds all its experts in float32. The result is byte-identical to the whole block's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "modelslim/core/pipeline.hpp"
#include "modelslim/expert_streaming.hpp"

namespace modelslim::core {

struct ExpertGroupSettings {
  bool enabled = true;        // MODELSLIM_EXPERT_STREAMING=0 turns grouping off (whole blocks)
  std::uint64_t budget = 0;   // bytes of float32 expert weights one group may hold
  bool budget_given = false;  // MODELSLIM_EXPERT_MEMORY_MIB set (else a default from the machine)
};

// Reads the environment: MODELSLIM_EXPERT_MEMORY_MIB, else min(256 MiB, MemAvailable / 8).
ExpertGroupSettings expert_group_settings();

// Why this pipeline cannot take a block in parts ("processor 2 of spec.process needs the whole block ..."),
// or empty when every processor and saver can.
std::string block_parts_refusal(const Pipeline& pipeline);

// The adapter's ExpertStreamingModel when this run loads sparse blocks in groups; null (blocks load whole)
// when grouping is off, the adapter cannot, or a processor or saver needs whole blocks. In the last case a
// block whose experts exceed the budget is a warning — an error when MODELSLIM_EXPERT_MEMORY_MIB was given.
ExpertStreamingModel* expert_grouping(ModelAdapter& model, const Pipeline& pipeline);

// Experts per group: as many as `budget` holds, at least one, at most all.
std::int64_t experts_per_group(std::uint64_t routed_expert_bytes, std::int64_t experts, std::uint64_t budget);

struct GroupedBlockRun {
  std::vector<at::Tensor> outputs;  // the block's outputs per sample (empty when not needed)
  std::size_t forwards = 0;         // block forwards over all samples
  std::size_t groups = 0;
};

// One block in parts: every processor's preprocess → calibration forward → postprocess on the resident
// part, then on each group of `group_size` experts (read, processed, saved, freed), then the savers get the
// resident rest. `outputs_needed`: a later block needs this one's outputs even if no processor ran a forward.
GroupedBlockRun run_block_in_groups(Block& block, Pipeline& pipeline, const std::vector<BlockInput>& inputs,
                                    Communicator* communicator, std::int64_t group_size, bool outputs_needed);

}  // namespace modelslim::core
