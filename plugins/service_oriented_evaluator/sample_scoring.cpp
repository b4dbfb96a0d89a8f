#include "sample_scoring.hpp"

#include <limits>

#include "answer_extraction.hpp"

namespace modelslim::service {
namespace {

std::string generate(const OpenAiClient& client, const NativeDataset& dataset, const std::string& prompt) {
  const GenerateOptions options{dataset.max_tokens, 0.0, dataset.stop};
  return dataset.api == "chat" ? client.chat(prompt, options) : client.complete(prompt, options);
}

// Summed log-probability of the tokens of `context + continuation` that start inside the continuation.
double continuation_logprob(const OpenAiClient& client, const std::string& context,
                            const std::string& continuation) {
  const std::size_t start = char_count(context);
  double sum = 0.0;
  for (const TokenLogprob& token : client.echo_logprobs(context + continuation)) {
    if (token.offset >= start && token.logprob) sum += *token.logprob;
  }
  return sum;
}

void score_choice_by_logprobs(const OpenAiClient& client, const Sample& sample, SampleOutcome& out) {
  nlohmann::json scores = nlohmann::json::array();
  int best = -1;
  double best_score = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < sample.choices.size(); ++i) {
    const double score = continuation_logprob(client, sample.context, sample.choices[i]);
    scores.push_back(score);
    if (score > best_score) {
      best_score = score;
      best = static_cast<int>(i);
    }
  }
  out.record["choice_logprobs"] = scores;
  out.record["predicted"] = best;
  out.correct = best == sample.label;
}

void score_generation(const OpenAiClient& client, const NativeDataset& dataset, const Sample& sample,
                      SampleOutcome& out) {
  const std::string output = generate(client, dataset, sample.prompt);
  out.record["output"] = output;
  if (dataset.task == "gsm8k") {
    const auto number = number_answer(output);
    out.record["predicted"] = number ? nlohmann::json(*number) : nlohmann::json();
    out.correct = number && same_number(*number, sample.expected);
  } else if (dataset.task == "boolq") {
    const auto yes = yes_no_answer(output);
    out.record["predicted"] = yes ? nlohmann::json(*yes ? "yes" : "no") : nlohmann::json();
    out.correct = yes && (*yes ? "yes" : "no") == sample.expected;
  } else if (dataset.task == "multiple_choice") {
    const auto letter = letter_answer(output, sample.choices.size());
    out.record["predicted"] = letter ? nlohmann::json(*letter) : nlohmann::json();
    out.correct = letter && *letter == sample.label;
  } else {
    out.correct = matches_answer(output, sample.answers, dataset.match);
  }
}

void score_perplexity(const OpenAiClient& client, const Sample& sample, SampleOutcome& out) {
  for (const TokenLogprob& token : client.echo_logprobs(sample.prompt)) {
    if (!token.logprob) continue;
    out.nll -= *token.logprob;
    ++out.tokens;
  }
  out.record["tokens"] = out.tokens;
  out.record["nll"] = out.nll;
}

}  // namespace

SampleOutcome score_sample(const OpenAiClient& client, const NativeDataset& dataset, const Sample& sample,
                           std::size_t index) {
  SampleOutcome out;
  out.record = {
      {"index", index},
      {"prompt",
       dataset.task == "multiple_choice" && dataset.method == "logprobs" ? sample.context : sample.prompt}};
  if (!sample.expected.empty()) out.record["expected"] = sample.expected;
  if (sample.label >= 0) out.record["expected"] = sample.label;
  if (!sample.answers.empty()) out.record["expected"] = sample.answers;
  try {
    if (dataset.task == "perplexity") {
      score_perplexity(client, sample, out);
    } else if (dataset.task == "multiple_choice" && dataset.method == "logprobs") {
      score_choice_by_logprobs(client, sample, out);
    } else {
      score_generation(client, dataset, sample, out);
    }
  } catch (const RequestError& error) {
    out.error = true;
    out.correct = false;
    out.record["error"] = error.what();
  }
  out.record["correct"] = out.correct;
  return out;
}

}  // namespace modelslim::service
