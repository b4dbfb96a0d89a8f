// One sample of a native benchmark: the request(s) it needs and whether the answer is right.
#pragma once

#include <nlohmann/json.hpp>

#include "benchmark_dataset.hpp"
#include "openai_client.hpp"

namespace modelslim::service {

struct SampleOutcome {
  nlohmann::json record;  // one line of <dataset>.samples.jsonl
  bool correct = false;
  bool error = false;      // the request failed (recorded, counted as wrong)
  double nll = 0.0;        // perplexity: summed negative log-likelihood
  std::size_t tokens = 0;  // perplexity: tokens scored
};

SampleOutcome score_sample(const OpenAiClient& client, const NativeDataset& dataset, const Sample& sample,
                           std::size_t index);

}  // namespace modelslim::service
