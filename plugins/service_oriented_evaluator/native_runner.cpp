#include "native_runner.hpp"

#include <atomic>
#include <cmath>
#include <thread>

#include <nlohmann/json.hpp>

#include "benchmark_dataset.hpp"
#include "modelslim/atomic_file.hpp"
#include "modelslim/error.hpp"
#include "sample_scoring.hpp"

namespace modelslim::service {
namespace {

std::vector<SampleOutcome> run_all(const NativeDataset& dataset, const NativeSettings& settings,
                                   const Server& server, const std::vector<Sample>& samples) {
  std::vector<SampleOutcome> outcomes(samples.size());
  std::atomic<std::size_t> next{0};
  const auto worker = [&] {
    const OpenAiClient client(server, settings.request_timeout, settings.retry);
    for (std::size_t i = next++; i < samples.size(); i = next++)
      outcomes[i] = score_sample(client, dataset, samples[i], i);
  };
  const std::size_t threads =
      std::min<std::size_t>(static_cast<std::size_t>(settings.concurrency), samples.size());
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& thread : pool) thread.join();
  return outcomes;
}

DatasetScore summarize(const NativeDataset& dataset, const std::vector<SampleOutcome>& outcomes) {
  DatasetScore score{dataset.name,
                     dataset.task == "perplexity" ? "ppl" : "acc",
                     0.0,
                     dataset.task == "perplexity",
                     outcomes.size(),
                     0,
                     0};
  double nll = 0.0;
  std::size_t tokens = 0;
  std::string first_error;
  for (const SampleOutcome& o : outcomes) {
    score.correct += o.correct;
    score.errors += o.error;
    nll += o.nll;
    tokens += o.tokens;
    if (o.error && first_error.empty()) first_error = o.record["error"].get<std::string>();
  }
  const bool failed = score.errors == score.samples || (score.lower_is_better && score.errors > 0);
  if (failed)
    throw Error(ErrorCode::kIo,
                "dataset " + dataset.name + ": " + std::to_string(score.errors) + " of " +
                    std::to_string(score.samples) + " requests failed (first: " + first_error + ")",
                "check the engine's log and evaluation.evaluation.request_timeout");
  if (score.lower_is_better) {
    if (tokens == 0)
      throw Error(ErrorCode::kInvalidDataset, "dataset " + dataset.name + ": no token was scored");
    score.value = std::exp(nll / static_cast<double>(tokens));
  } else {
    score.value = 100.0 * static_cast<double>(score.correct) / static_cast<double>(score.samples);
  }
  return score;
}

void write_samples(const std::filesystem::path& file, const std::vector<SampleOutcome>& outcomes) {
  std::string lines;
  for (const SampleOutcome& o : outcomes)
    lines += o.record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  write_file_atomic(file, lines);
}

void write_score(const std::filesystem::path& file, const DatasetScore& score) {
  const nlohmann::json summary = {{"dataset", score.dataset}, {"metric", score.metric},
                                  {"value", score.value},     {"samples", score.samples},
                                  {"correct", score.correct}, {"errors", score.errors}};
  write_file_atomic(file, summary.dump(2) + "\n");
}

}  // namespace

DatasetScore run_native_dataset(const NativeDataset& dataset, const NativeSettings& settings,
                                const Server& server, const std::filesystem::path& out_dir) {
  const std::vector<Sample> samples = load_samples(dataset);
  const std::vector<SampleOutcome> outcomes = run_all(dataset, settings, server, samples);
  std::filesystem::create_directories(out_dir);
  // Written before a failed dataset throws, so the failures can be read there.
  write_samples(out_dir / (dataset.name + ".samples.jsonl"), outcomes);
  const DatasetScore score = summarize(dataset, outcomes);
  write_score(out_dir / (dataset.name + ".score.json"), score);
  return score;
}

}  // namespace modelslim::service
