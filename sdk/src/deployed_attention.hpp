// FA3 in a saved ascendv1 artifact: the attention inputs computed as deployed (internal to the SDK).
#pragma once

#include "modelslim/block.hpp"
#include "modelslim/quant_description.hpp"
#include "modelslim/safetensors.hpp"

namespace modelslim {

// For each attention module of `block` with a "<attn>.quant_type" entry: static inputs fake-quantized per
// head with the saved <attn>.fa_*.scale, dynamic ones per token. Blocks without AttentionQuantSource, or
// whose description has no entry, are left alone; a type modelslim cannot compute is refused.
void apply_deployed_attention_quant(const QuantDescription& description, const SafetensorsCheckpoint& tensors,
                                    Block& block);

}  // namespace modelslim
