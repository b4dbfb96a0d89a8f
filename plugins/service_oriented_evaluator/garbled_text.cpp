#include "garbled_text.hpp"

#include <algorithm>

namespace modelslim::service {
namespace {

std::u32string decode(const std::string& utf8) {
  std::u32string out;
  for (std::size_t i = 0; i < utf8.size();) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    const int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    char32_t cp = extra == 0 ? c : c & (0x3F >> extra);
    for (int k = 1; k <= extra && i + k < utf8.size(); ++k) cp = (cp << 6) | (utf8[i + k] & 0x3F);
    out.push_back(c >= 0x80 && c < 0xC0 ? U'\uFFFD' : cp);  // a stray continuation byte is not text
    i += 1 + extra;
  }
  return out;
}

bool is_space(char32_t c) {
  return c == ' ' || (c >= 9 && c <= 13) || c == 0x3000 || c == 0xA0;
}

// Letters and digits of the common scripts: Python's \w, approximated by script ranges.
bool is_word(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  const std::pair<char32_t, char32_t> ranges[] = {
      {0xC0, 0x24F},    {0x370, 0x52F},   {0x590, 0x6FF},   {0x900, 0x97F},   {0x3040, 0x30FF},
      {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7AF}, {0xFF10, 0xFF19}, {0xFF21, 0xFF5A}};
  return std::any_of(std::begin(ranges), std::end(ranges),
                     [c](const auto& r) { return c >= r.first && c <= r.second && c != 0xD7 && c != 0xF7; });
}

bool is_punctuation(char32_t c) {
  static const std::u32string marks = U"，。！？、；：“”‘’（）【】《》.,!?;:()[]{}\"'-\\";
  return marks.find(c) != std::u32string::npos;
}

bool empty_text(const std::u32string& t) {
  return std::all_of(t.begin(), t.end(), is_space);
}

bool repeated_char(const std::u32string& t) {
  std::size_t longest = 0;
  for (std::size_t i = 0, run = 0; i < t.size(); ++i) {
    run = i > 0 && t[i] == t[i - 1] ? run + 1 : 1;
    longest = std::max(longest, run);
  }
  return !t.empty() && static_cast<double>(longest) > 0.3 * static_cast<double>(t.size());
}

bool normal_char_ratio(const std::u32string& t) {
  if (t.empty()) return false;
  const auto normal = std::count_if(
      t.begin(), t.end(), [](char32_t c) { return is_word(c) || is_space(c) || is_punctuation(c); });
  return static_cast<double>(normal) < 0.5 * static_cast<double>(t.size());
}

bool control_char(const std::u32string& t) {
  if (t.empty()) return false;
  const auto control = std::count_if(
      t.begin(), t.end(), [](char32_t c) { return c < 32 && c != '\n' && c != '\r' && c != '\t'; });
  return static_cast<double>(control) > 0.1 * static_cast<double>(t.size());
}

std::size_t count_non_overlapping(const std::u32string& text, const std::u32string& pattern) {
  std::size_t count = 0;
  for (auto pos = text.find(pattern); pos != std::u32string::npos;
       pos = text.find(pattern, pos + pattern.size()))
    ++count;
  return count;
}

bool repeated_pattern(const std::u32string& t) {
  if (t.size() < 6) return false;
  const std::size_t longest = std::min<std::size_t>(10, t.size() / 3);
  for (std::size_t length = 2; length < longest; ++length) {
    const std::size_t count = count_non_overlapping(t, t.substr(0, length));
    if (count >= 3 && static_cast<double>(length * count) >= 0.5 * static_cast<double>(t.size())) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> garbled_by(const std::string& text, const std::vector<std::string>& items) {
  const std::u32string t = decode(text);
  for (const std::string& item : items) {
    const bool garbled = item == "empty_text"          ? empty_text(t)
                         : item == "repeated_char"     ? repeated_char(t)
                         : item == "normal_char_ratio" ? normal_char_ratio(t)
                         : item == "control_char"      ? control_char(t)
                         : item == "repeated_pattern"  ? repeated_pattern(t)
                                                       : false;
    if (garbled) return item;
  }
  return std::nullopt;
}

}  // namespace modelslim::service
