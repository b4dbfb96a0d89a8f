#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer_regex.hpp"

#include <pcre2.h>

#include <stdexcept>

namespace modelslim::tokenizer_detail {

struct Regex::Code {
  std::unique_ptr<pcre2_code, decltype(&pcre2_code_free)> code{nullptr, &pcre2_code_free};
};

Regex::Regex(const std::string& pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* compiled =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error_code, &error_offset, nullptr);
  if (compiled == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    throw std::runtime_error("regex '" + pattern + "' does not compile at offset " +
                             std::to_string(error_offset) + ": " + reinterpret_cast<const char*>(message));
  }
  auto code = std::make_shared<Code>();
  code->code.reset(compiled);
  pcre2_jit_compile(compiled, PCRE2_JIT_COMPLETE);  // best effort: falls back to the interpreter
  code_ = std::move(code);
}

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  const std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(code_->code.get(), nullptr), &pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t offset = 0;
  while (offset <= text.size()) {
    const int rc = pcre2_match(code_->code.get(), subject, text.size(), offset, 0, data.get(), nullptr);
    if (rc < 0) break;  // PCRE2_ERROR_NOMATCH or a UTF error: no more matches
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    const std::size_t begin = ovector[0];
    const std::size_t end = ovector[1];
    if (end == begin) {
      // Empty match: step over one UTF-8 character.
      std::size_t next = begin + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      offset = next;
      continue;
    }
    matches.emplace_back(begin, end);
    offset = end;
  }
  return matches;
}

}  // namespace modelslim::tokenizer_detail
