// Text helpers with the semantics of @huggingface/jinja (JavaScript strings): JavaScript's notion of white
// space (\s, String.prototype.trim), UTF-16 lengths, and Number.prototype.toString. Strings are UTF-8.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace modelslim::core::jinja {

// Byte length of the JavaScript white-space character starting at `pos` (0 when there is none).
std::size_t space_at(std::string_view text, std::size_t pos);
// Byte length of the JavaScript white-space character ending just before `end` (0 when there is none).
std::size_t space_before(std::string_view text, std::size_t end);

std::string trim_start(std::string_view text);
std::string trim_end(std::string_view text);
std::string trim(std::string_view text);

// The code points of `text` as UTF-8 pieces (invalid bytes are one piece each).
std::vector<std::string> code_points(std::string_view text);
// JavaScript's String.length: UTF-16 code units.
std::size_t utf16_length(std::string_view text);

std::string ascii_upper(std::string_view text);
std::string ascii_lower(std::string_view text);
bool is_word_char(char c);  // JavaScript's \w: ASCII letters, digits and '_'

// Number.prototype.toString (shortest round trip; exponent form outside [1e-7, 1e21)).
std::string js_number(double value);
// JSON.stringify of a string (well-formed: lone surrogates cannot occur in UTF-8 input).
std::string json_quote(std::string_view text, bool ensure_ascii);

}  // namespace modelslim::core::jinja
