// A compiled PCRE2 pattern (UTF + Unicode properties) for tokenizer pre-tokenization splits.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modelslim::tokenizer_detail {

class Regex {
 public:
  explicit Regex(const std::string& pattern);  // throws std::runtime_error with PCRE2's message
  // Byte ranges [begin, end) of every non-overlapping match, left to right.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
};

}  // namespace modelslim::tokenizer_detail
