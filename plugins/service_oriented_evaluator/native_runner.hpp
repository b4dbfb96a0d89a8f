// The native benchmark runner: every sample of a dataset sent to an OpenAI-compatible server by
// `concurrency` clients, scored, and written next to the score:
//   <dir>/<dataset>.samples.jsonl  one line per sample (prompt, output, expected, predicted, correct, error)
//   <dir>/<dataset>.score.json     {dataset, metric, value, samples, correct, errors}
// Accuracy is in percent (as ais_bench reports it); perplexity is exp(mean token NLL), lower is better.
// A sample whose request fails after the retries counts as wrong and carries the error; a dataset where
// every request failed, or a perplexity with any failed request, throws Error (no measurement).
#pragma once

#include <filesystem>
#include <string>

#include "service_config.hpp"

namespace modelslim::service {

struct DatasetScore {
  std::string dataset;
  std::string metric;  // acc | ppl
  double value = 0.0;
  bool lower_is_better = false;
  std::size_t samples = 0, correct = 0, errors = 0;
};

DatasetScore run_native_dataset(const NativeDataset& dataset, const NativeSettings& settings,
                                const Server& server, const std::filesystem::path& out_dir);

}  // namespace modelslim::service
