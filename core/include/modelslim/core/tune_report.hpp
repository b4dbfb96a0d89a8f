// save_path/report.html: every candidate of the run (fallback, outlier suppression, metrics, verdict,
// history hit) and an SVG chart of fallback count against the first expectation's metric, with the float
// baseline and the demand's threshold.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace modelslim::core {

struct ReportRow {
  std::string id;
  std::string anti_outlier;
  std::vector<std::string> fallback;
  std::string verdict;          // the demand summary
  std::optional<double> value;  // the charted metric
  bool passed = false;
  bool cached = false;
  bool chosen = false;
  double seconds = 0.0;
  std::vector<std::string> warnings;  // from the candidate's quantization
};

struct TuneReport {
  std::string title;
  std::string model;
  std::string outcome;  // one line: passed/none passed, stop reason
  std::string metric_label;
  std::optional<double> baseline;
  std::optional<double> threshold;
  std::vector<ReportRow> rows;
};

std::string render_tune_report(const TuneReport& report);

}  // namespace modelslim::core
