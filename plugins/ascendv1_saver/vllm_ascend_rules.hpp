// What vllm-ascend (`--quantization ascend`) loads from an ascendv1 output, and what it computes wrongly,
// checked before any work (from the practice) and again on every saved block (from the real linears).
// Facts and the vllm-ascend files they come from: docs/savers.md.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/block.hpp"
#include "modelslim/practice_check.hpp"

namespace modelslim::ascendv1 {

// Throws Error(kUnsupported) naming ascendv1_saver, the processor and the alternative.
std::vector<std::string> check_vllm_ascend_practice(const PracticeView& practice);
// Throws for fused modules whose parts got different types, and biases the engine would drop.
// A block saved in parts (BlockPartsSaver): `block_keys` gathers every part's (linear, key) so the
// one-scheme-per-experts-module rule spans the whole block; null for a block saved whole.
void check_vllm_ascend_block(Block& block, const nlohmann::json& hf_config,
                             std::vector<std::pair<std::string, std::string>>* block_keys = nullptr);

}  // namespace modelslim::ascendv1
