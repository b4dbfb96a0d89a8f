// An optional capability of processors: one look at the whole model with the calibration samples before
// the block-by-block run, for decisions that need every block's statistics first (linear_quant's
// disable_level ranks all linears by range_parm, then keeps the top x in float). A processor class that
// also derives from CalibrationPrepass is called by the host once, after every processor's pre_run, with
// the embedded samples (the input of block 0; empty when the run has no data). Processors that do not
// derive from it are never called; hosts that do not know it never call (the Processor interface is
// unchanged). Blocks the prepass loads are its own (load_block gives a fresh copy).
#pragma once

#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/export.hpp"

namespace modelslim {

class ModelAdapter;

class MODELSLIM_SDK_API CalibrationPrepass {
 public:
  virtual ~CalibrationPrepass();
  virtual void prepass(ModelAdapter& model, const std::vector<BlockInput>& samples) = 0;
};

}  // namespace modelslim
