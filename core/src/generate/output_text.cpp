#include "modelslim/core/output_text.hpp"

#include <algorithm>

#include "modelslim/tokenizer.hpp"

namespace modelslim::core {
namespace {

// Bytes at the end of `text` that start a UTF-8 character not yet complete.
std::size_t incomplete_utf8_tail(const std::string& text) {
  const std::size_t n = text.size();
  for (std::size_t back = 1; back <= std::min<std::size_t>(3, n); ++back) {
    const auto byte = static_cast<unsigned char>(text[n - back]);
    if ((byte & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

}  // namespace

OutputText::OutputText(const Tokenizer& tokenizer, std::vector<std::string> stop,
                       const std::vector<std::int64_t>& prompt_ids)
    : tokenizer_(tokenizer), stop_(std::move(stop)) {
  stop_.erase(std::remove(stop_.begin(), stop_.end(), std::string()), stop_.end());
  const std::size_t keep = std::min<std::size_t>(prompt_ids.size(), 4);
  context_.assign(prompt_ids.end() - static_cast<std::ptrdiff_t>(keep), prompt_ids.end());
  context_text_ = tokenizer_.decode(context_);
}

std::string OutputText::decode_output(std::size_t count) const {
  std::vector<std::int64_t> ids = context_;
  ids.insert(ids.end(), ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(count));
  const std::string whole = tokenizer_.decode(ids);
  if (whole.compare(0, context_text_.size(), context_text_) == 0) return whole.substr(context_text_.size());
  return tokenizer_.decode({ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(count)});
}

bool OutputText::push(std::int64_t token) {
  if (stopped_) return true;
  ids_.push_back(token);
  // Decoding the whole output keeps multi-token characters and the tokenizer's leading-space rule right.
  text_ = decode_output(ids_.size());
  std::size_t cut = std::string::npos;
  for (const std::string& stop : stop_) cut = std::min(cut, text_.find(stop));
  if (cut == std::string::npos) {
    kept_tokens_ = ids_.size();
    return false;
  }
  stopped_ = true;
  text_.resize(cut);
  kept_tokens_ = 0;
  while (kept_tokens_ < ids_.size() && decode_output(kept_tokens_ + 1).size() <= cut) ++kept_tokens_;
  return true;
}

std::size_t OutputText::held_back() const {
  std::size_t hold = incomplete_utf8_tail(text_);
  if (stopped_) return 0;
  for (const std::string& stop : stop_) {
    // The longest proper prefix of `stop` that ends the text.
    for (std::size_t length = std::min(stop.size() - 1, text_.size()); length > hold; --length) {
      if (text_.compare(text_.size() - length, length, stop, 0, length) == 0) {
        hold = length;
        break;
      }
    }
  }
  return hold;
}

std::string OutputText::take(bool final) {
  const std::size_t end = final ? text_.size() : text_.size() - held_back();
  if (end <= released_) return {};
  std::string delta = text_.substr(released_, end - released_);
  released_ = end;
  return delta;
}

}  // namespace modelslim::core
