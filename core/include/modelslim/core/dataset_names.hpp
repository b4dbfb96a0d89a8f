// The shipped datasets (data/datasets) that commands fall back to, named once.
#pragma once

namespace modelslim::core {

// Calibration text for quant, tune and analyze when the practice or the command line names none.
inline constexpr const char* kDefaultCalibDataset = "kjv_calib.jsonl";

}  // namespace modelslim::core
