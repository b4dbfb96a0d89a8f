// linear_quant's disable_level (the reference's Calibrator(disable_level='Lx')): one float pass over the
// first calibration samples gives every selected linear's range_parm; the x largest stay in float.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/model_adapter.hpp"

namespace modelslim::linear_quant {

struct RangeScore {
  std::string name;
  double range_parm = 0.0;
};

// In block and forward order. Each sample runs through fresh float copies of the blocks (load_block); only
// the first kRangeParamSamples samples are used, as the reference's get_features(calib_data[:5]).
std::vector<RangeScore> range_parm_of_linears(ModelAdapter& model, const std::vector<BlockInput>& samples,
                                              const std::function<bool(const std::string&)>& wanted);

// The `count` names with the largest range_parm, largest first; equal values keep forward order (a stable
// sort, as the reference's sorted dict). All of them when count exceeds the list.
std::vector<std::string> top_by_range_parm(std::vector<RangeScore> scores, std::size_t count);

// "L0", "L12" → 0, 12; anything else throws naming `field`.
std::size_t parse_disable_level(const std::string& level, const std::string& field);

}  // namespace modelslim::linear_quant
