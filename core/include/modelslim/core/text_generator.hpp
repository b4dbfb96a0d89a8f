// Text generation shared by `modelslim generate` and `modelslim serve`: one loaded model (the float
// checkpoint, or a saved quantized artifact run with the deployed arithmetic the builtin evaluator uses),
// token-id prompts, OpenAI-style sampling settings, per-token log-probabilities and streaming.
//
// Not thread-safe: one generation at a time per generator (the server queues requests in front of it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace modelslim {
class Tokenizer;
}

namespace modelslim::core {

class PluginRegistry;

struct GeneratorOptions {
  std::filesystem::path model_path;                 // the float checkpoint (tokenizer, config.json)
  std::optional<std::filesystem::path> quant_path;  // a saved artifact; absent: run the float model
  std::string model_type;                           // --model_type; empty: from config.json
};

// OpenAI completion parameters, already validated by the caller (ranges below).
struct SamplingParams {
  std::int64_t max_tokens = 16;          // >= 0 new tokens (prompt + max_tokens <= context_length())
  double temperature = 1.0;              // >= 0; 0 = greedy (argmax, ties to the lowest id)
  double top_p = 1.0;                    // (0, 1]
  std::int64_t top_k = 0;                // >= 0; 0 = no limit
  std::optional<std::uint64_t> seed;     // same seed, prompt and settings: same output
  std::vector<std::string> stop;         // generation ends before the first occurrence of any (excluded)
  std::optional<std::int64_t> logprobs;  // 0..20: the chosen token's log-prob plus that many alternatives
  bool echo = false;                     // also score the prompt tokens (their log-probs, first one null)
};

// Log-probabilities are natural logs under the model's distribution at temperature 1 (as OpenAI reports
// them), whatever the sampling temperature.
struct TokenLogprob {
  std::int64_t token = 0;
  std::string text;                                 // the token's text (decoded alone)
  std::optional<double> logprob;                    // absent for the first prompt token
  std::vector<std::pair<std::string, double>> top;  // `logprobs` alternatives, most likely first
};

// kStop: a stop string or the model's end-of-sequence token (neither is part of the output text).
enum class FinishReason { kLength, kStop, kCancelled };

struct Generation {
  std::vector<std::int64_t> prompt_ids;
  std::vector<std::int64_t> output_ids;  // up to (not including) a stop string's tokens
  std::string text;                      // decoded output, stop string excluded
  FinishReason finish = FinishReason::kLength;
  std::vector<TokenLogprob> prompt_logprobs;  // echo only: one per prompt token
  std::vector<TokenLogprob> output_logprobs;  // `logprobs` set only: one per output token
};

// Streaming: called with each piece of output text as soon as it can no longer become part of a stop
// string; the pieces concatenate to Generation::text. Return false to cancel (finish = kCancelled).
using TextCallback = std::function<bool(const std::string& text_delta)>;

class TextGenerator {
 public:
  virtual ~TextGenerator() = default;
  virtual const Tokenizer& tokenizer() const = 0;
  // Positions the model supports (config.json max_position_embeddings): prompt + max_tokens must fit.
  virtual std::int64_t context_length() const = 0;
  // chat_template, bos_token and eos_token (as text) from the model's tokenizer_config.json; empty when
  // absent.
  virtual std::string chat_template() const = 0;
  virtual std::string bos_token() const = 0;
  virtual std::string eos_token() const = 0;
  virtual Generation generate(const std::vector<std::int64_t>& prompt_ids, const SamplingParams& params,
                              const TextCallback& on_text = {}) = 0;
};

// Loads the model once (every block resident, quantized linears from the saved tensors) for repeated
// generation. Throws modelslim::Error naming the path on a bad checkpoint or artifact.
std::unique_ptr<TextGenerator> open_text_generator(const PluginRegistry& registry,
                                                   const GeneratorOptions& options);

}  // namespace modelslim::core
