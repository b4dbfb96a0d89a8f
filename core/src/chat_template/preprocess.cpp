#include "preprocess.hpp"

#include "js_text.hpp"

namespace modelslim::core::jinja {
namespace {

// Copies `in` without the bytes whose `drop` flag is set.
MappedText without(const MappedText& in, const std::vector<bool>& drop) {
  MappedText out;
  for (std::size_t i = 0; i < in.text.size(); ++i) {
    if (drop[i]) continue;
    out.text += in.text[i];
    out.origin.push_back(in.origin[i]);
  }
  out.origin.push_back(in.origin.back());
  return out;
}

bool line_start(const std::string& s, std::size_t i) {
  if (i == 0) return true;
  if (s[i - 1] == '\n' || s[i - 1] == '\r') return true;
  return i >= 3 && s.compare(i - 3, 2, "\xE2\x80") == 0 && (s[i - 1] == '\xA8' || s[i - 1] == '\xA9');
}

// lstrip_blocks: /^[ \t]*({[#%-])/gm -> "$1".
MappedText lstrip_blocks(const MappedText& in) {
  const std::string& s = in.text;
  std::vector<bool> drop(s.size(), false);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!line_start(s, i)) continue;
    std::size_t j = i;
    while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
    if (j > i && j + 1 < s.size() && s[j] == '{' && (s[j + 1] == '#' || s[j + 1] == '%' || s[j + 1] == '-')) {
      for (std::size_t k = i; k < j; ++k) drop[k] = true;
    }
    i = j > i ? j - 1 : i;
  }
  return without(in, drop);
}

// trim_blocks: /([#%-]})\n/g -> "$1".
MappedText trim_blocks(const MappedText& in) {
  const std::string& s = in.text;
  std::vector<bool> drop(s.size(), false);
  for (std::size_t i = 0; i + 2 < s.size(); ++i) {
    if ((s[i] == '#' || s[i] == '%' || s[i] == '-') && s[i + 1] == '}' && s[i + 2] == '\n') {
      drop[i + 2] = true;
      i += 2;
    }
  }
  return without(in, drop);
}

std::size_t skip_space(const std::string& s, std::size_t i) {
  for (std::size_t n = 0; (n = space_at(s, i)) > 0;) i += n;
  return i;
}

// The end of a {%-? (end)?generation -?%} tag starting at `i` (0 when there is none); `lstrip`/`rstrip` get
// the tag's whitespace-control dashes.
std::size_t generation_tag(const std::string& s, std::size_t i, bool& lstrip, bool& rstrip) {
  if (s.compare(i, 2, "{%") != 0) return 0;
  std::size_t j = i + 2;
  lstrip = j < s.size() && s[j] == '-';
  j = skip_space(s, j + (lstrip ? 1 : 0));
  if (s.compare(j, 3, "end") == 0 && s.compare(j + 3, 10, "generation") == 0) j += 3;
  if (s.compare(j, 10, "generation") != 0) return 0;
  j = skip_space(s, j + 10);
  rstrip = j < s.size() && s[j] == '-';
  j += rstrip ? 1 : 0;
  return s.compare(j, 2, "%}") == 0 ? j + 2 : 0;
}

// /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs -> (lstrip ? "" : before) + (rstrip ? "" : after).
MappedText strip_generation(const MappedText& in) {
  const std::string& s = in.text;
  std::vector<bool> drop(s.size(), false);
  std::size_t last_end = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool lstrip = false;
    bool rstrip = false;
    const std::size_t end = generation_tag(s, i, lstrip, rstrip);
    if (end == 0) continue;
    std::size_t begin = i;
    for (std::size_t n = 0; begin > last_end && (n = space_before(s, begin)) > 0 && begin - n >= last_end;)
      begin -= n;
    const std::size_t after = skip_space(s, end);
    for (std::size_t k = lstrip ? begin : i; k < (rstrip ? after : end); ++k) drop[k] = true;
    last_end = after;
    i = after - 1;
  }
  return without(in, drop);
}

}  // namespace

MappedText preprocess(const std::string& source) {
  MappedText mapped;
  mapped.text = source;
  for (std::size_t i = 0; i <= source.size(); ++i) mapped.origin.push_back(i);
  if (!mapped.text.empty() && mapped.text.back() == '\n') {
    mapped.text.pop_back();
    mapped.origin.erase(mapped.origin.end() - 2);
  }
  return strip_generation(trim_blocks(lstrip_blocks(mapped)));
}

}  // namespace modelslim::core::jinja
