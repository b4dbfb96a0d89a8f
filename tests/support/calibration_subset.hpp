// The first samples of the default calibration set, for tests whose point is not the statistics.
#pragma once

#include <filesystem>
#include <sstream>
#include <string>

#include "support/test_support.hpp"

namespace modelslim::test {

// Writes the first `samples` lines of data/datasets/kjv_calib.jsonl to `dir`/kjv_calib<samples>.jsonl and
// returns that path.
inline std::filesystem::path kjv_calibration_subset(const std::filesystem::path& dir, int samples) {
  std::istringstream lines(read_text(source_dir() / "data" / "datasets" / "kjv_calib.jsonl"));
  std::string subset;
  std::string line;
  for (int i = 0; i < samples && std::getline(lines, line); ++i) subset += line + "\n";
  const std::filesystem::path file = dir / ("kjv_calib" + std::to_string(samples) + ".jsonl");
  write_text(file, subset);
  return file;
}

}  // namespace modelslim::test
