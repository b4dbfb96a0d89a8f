// What vLLM (and HF transformers) compute from a compressed-tensors output, checked before any work (from
// the practice) and again on every saved block. Facts and the vLLM files they come from: docs/savers.md.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/block.hpp"
#include "modelslim/practice_check.hpp"

namespace modelslim::compressed_tensors {

// Throws Error(kUnsupported) naming the saver `compressed_tensors`, the processor and the alternative.
std::vector<std::string> check_vllm_practice(const PracticeView& practice);
// Throws for a norm or linear bias the engine drops and for fused modules whose parts differ.
// `scheme_key(linear)`: the saved scheme, empty for float.
// A block saved in parts (BlockPartsSaver): `block_keys` gathers every part's (linear, key) so the
// one-scheme-per-experts-module rule spans the whole block; null for a block saved whole.
void check_vllm_block(Block& block, const nlohmann::json& hf_config,
                      std::vector<std::pair<std::string, std::string>>* block_keys = nullptr);

}  // namespace modelslim::compressed_tensors
