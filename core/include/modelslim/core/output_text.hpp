// The generator's output text as tokens arrive: finds stop strings (also when they span tokens) and releases
// text for streaming only once it can no longer become part of a stop string or of an incomplete UTF-8
// character.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace modelslim {
class Tokenizer;
}

namespace modelslim::core {

class OutputText {
 public:
  // `prompt_ids`: the output is decoded after the prompt's last tokens, so a leading space the tokenizer
  // drops at the start of a text (SentencePiece) is kept, as in the decoded whole sequence.
  OutputText(const Tokenizer& tokenizer, std::vector<std::string> stop,
             const std::vector<std::int64_t>& prompt_ids = {});

  // Appends one output token; returns true when the text now contains a stop string (the text is then cut
  // before it and further tokens are ignored).
  bool push(std::int64_t token);
  // Text released since the last call. With `final`, everything left (the end of generation).
  std::string take(bool final = false);

  const std::string& text() const { return text_; }
  // Output tokens whose text lies wholly before the stop string (all of them when none was found).
  std::size_t kept_tokens() const { return kept_tokens_; }
  bool stopped() const { return stopped_; }

 private:
  std::size_t held_back() const;  // bytes at the end of text_ that may still change meaning
  std::string decode_output(std::size_t count) const;  // the first `count` output tokens' text

  const Tokenizer& tokenizer_;
  std::vector<std::string> stop_;
  std::vector<std::int64_t> context_;  // the prompt's last tokens
  std::string context_text_;
  std::vector<std::int64_t> ids_;
  std::string text_;
  std::size_t released_ = 0;
  std::size_t kept_tokens_ = 0;
  bool stopped_ = false;
};

}  // namespace modelslim::core
