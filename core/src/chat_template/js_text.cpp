#include "js_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace modelslim::core::jinja {
namespace {

// Decodes the code point at `pos`; `length` gets its byte length (1 for an invalid byte).
char32_t decode(std::string_view text, std::size_t pos, std::size_t& length) {
  const auto byte = static_cast<unsigned char>(text[pos]);
  std::size_t extra = 0;
  char32_t cp = byte;
  if (byte >= 0xF0 && byte < 0xF8) {
    extra = 3, cp = byte & 0x07;
  } else if (byte >= 0xE0) {
    extra = byte < 0xF0 ? 2 : 0, cp = byte & 0x0F;
  } else if (byte >= 0xC0) {
    extra = 1, cp = byte & 0x1F;
  }
  if (byte >= 0x80 && extra == 0) return length = 1, byte;
  if (pos + extra >= text.size()) return length = 1, byte;
  for (std::size_t i = 1; i <= extra; ++i) {
    const auto next = static_cast<unsigned char>(text[pos + i]);
    if ((next & 0xC0) != 0x80) return length = 1, byte;
    cp = (cp << 6) | (next & 0x3F);
  }
  length = extra + 1;
  return cp;
}

bool is_js_space(char32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace

std::size_t space_at(std::string_view text, std::size_t pos) {
  if (pos >= text.size()) return 0;
  std::size_t length = 0;
  return is_js_space(decode(text, pos, length)) ? length : 0;
}

std::size_t space_before(std::string_view text, std::size_t end) {
  for (std::size_t length = 1; length <= 3 && length <= end; ++length) {
    if (space_at(text, end - length) == length) return length;
  }
  return 0;
}

std::string trim_start(std::string_view text) {
  std::size_t pos = 0;
  for (std::size_t n = 0; (n = space_at(text, pos)) > 0;) pos += n;
  return std::string(text.substr(pos));
}

std::string trim_end(std::string_view text) {
  std::size_t end = text.size();
  for (std::size_t n = 0; (n = space_before(text, end)) > 0;) end -= n;
  return std::string(text.substr(0, end));
}

std::string trim(std::string_view text) {
  return trim_end(trim_start(text));
}

std::vector<std::string> code_points(std::string_view text) {
  std::vector<std::string> pieces;
  for (std::size_t pos = 0, length = 0; pos < text.size(); pos += length) {
    decode(text, pos, length);
    pieces.emplace_back(text.substr(pos, length));
  }
  return pieces;
}

std::size_t utf16_length(std::string_view text) {
  std::size_t units = 0;
  for (std::size_t pos = 0, length = 0; pos < text.size(); pos += length) {
    units += decode(text, pos, length) > 0xFFFF ? 2 : 1;
  }
  return units;
}

std::string ascii_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string js_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return "0";
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, std::fabs(value), std::chars_format::scientific);
  const std::string sci(buffer, result.ptr);
  const std::size_t e_pos = sci.find('e');
  std::string digits = sci.substr(0, 1) + (e_pos > 1 ? sci.substr(2, e_pos - 2) : "");
  const int n = std::atoi(sci.c_str() + e_pos + 1) + 1;  // decimal point position
  const int k = static_cast<int>(digits.size());
  std::string out = value < 0 ? "-" : "";
  if (k <= n && n <= 21) return out + digits + std::string(static_cast<std::size_t>(n - k), '0');
  if (0 < n && n <= 21) return out + digits.substr(0, n) + "." + digits.substr(n);
  if (-6 < n && n <= 0) return out + "0." + std::string(static_cast<std::size_t>(-n), '0') + digits;
  const int exponent = n - 1;
  out += digits.substr(0, 1);
  if (k > 1) out += "." + digits.substr(1);
  return out + "e" + (exponent < 0 ? "-" : "+") + std::to_string(std::abs(exponent));
}

std::string json_quote(std::string_view text, bool ensure_ascii) {
  std::string out = "\"";
  char hex[16];
  for (std::size_t pos = 0, length = 0; pos < text.size(); pos += length) {
    const char32_t cp = decode(text, pos, length);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      default:
        break;
    }
    if (cp < 0x20 || (ensure_ascii && cp >= 0x7F && cp <= 0xFFFF)) {
      std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(cp));
      out += hex;
    } else if (ensure_ascii && cp > 0xFFFF) {
      const char32_t v = cp - 0x10000;
      std::snprintf(hex, sizeof hex, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                    static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
      out += hex;
    } else {
      out.append(text.substr(pos, length));
    }
  }
  return out + "\"";
}

}  // namespace modelslim::core::jinja
