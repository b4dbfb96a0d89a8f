// Linear weights kept in the checkpoint's dtype (since SDK 4.3). A bfloat16/float16 checkpoint's blocks are
// normally loaded with float32 weights, because processors may rewrite them (smoothing, rotation) and the
// calibration forward needs float32. A run whose processors and savers only read the weights — and only
// widen them exactly where they compute (quantize_weight_minmax reads bfloat16 chunk by chunk) — needs no
// float32 copy of a weight at all. Both sides opt in through optional interfaces (found by dynamic_cast;
// Processor, Saver and ModelAdapter are unchanged); the runner asks the adapter only when every processor
// and saver of the run agrees and no calibration forward runs (docs/architecture.md, "The layer-wise loop").
#pragma once

#include "modelslim/export.hpp"

namespace modelslim {

// A Processor or Saver that also derives from this reads linear weights (Linear::weight()) in any floating
// dtype — float32, bfloat16 or float16 — with the same result, and never writes them.
class MODELSLIM_SDK_API StoredDtypeWeightReader {
 public:
  virtual ~StoredDtypeWeightReader();
  virtual bool reads_stored_dtype_weights() const = 0;
};

// A ModelAdapter that also derives from this can load blocks whose linear weights stay in the checkpoint's
// floating dtype (bfloat16, float16); biases, norms and every other tensor are as before, and a checkpoint
// dtype that needs decoding (FP8) still gives float32. Linear::float_forward widens such a weight for each
// call, so a forward stays correct (only slower).
class MODELSLIM_SDK_API StoredDtypeBlocks {
 public:
  virtual ~StoredDtypeBlocks();
  // Applies to the load_block and prefetch_block calls that follow; false (the default) restores float32.
  virtual void keep_stored_dtype_weights(bool keep) = 0;
};

// MODELSLIM_STORED_DTYPE_WEIGHTS: "0" never keeps the stored dtype, "1" keeps it whenever processors,
// savers and adapter agree, even with a calibration forward (for measurements); unset: only without one.
enum class StoredDtypeWeightsSetting { kOff, kAuto, kForce };
MODELSLIM_SDK_API StoredDtypeWeightsSetting stored_dtype_weights_setting();

}  // namespace modelslim
