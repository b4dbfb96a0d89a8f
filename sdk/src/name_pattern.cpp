#include "modelslim/name_pattern.hpp"

#include <optional>

namespace modelslim {
namespace {

struct BraceGroup {
  std::size_t open = 0;   // index of '{'
  std::size_t close = 0;  // index of the matching '}'
  std::vector<std::string> options;
};

// The first balanced {...} group with a top-level comma. Groups without a comma ("{x}") and unbalanced
// braces stay literal, as in the shell.
std::optional<BraceGroup> find_brace_group(const std::string& text) {
  for (std::size_t start = 0; start < text.size(); ++start) {
    if (text[start] != '{') continue;
    int depth = 0;
    std::size_t option_begin = start + 1;
    std::vector<std::string> options;
    for (std::size_t i = start; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '{') {
        ++depth;
      } else if (c == ',' && depth == 1) {
        options.push_back(text.substr(option_begin, i - option_begin));
        option_begin = i + 1;
      } else if (c == '}' && --depth == 0) {
        if (options.empty()) break;  // "{x}": literal; look for a later group
        options.push_back(text.substr(option_begin, i - option_begin));
        return BraceGroup{start, i, std::move(options)};
      }
    }
  }
  return std::nullopt;
}

// Matches one pattern element at `p` ('?', a [...] class or a literal) against `c`; sets `next` to the
// index after the element. Follows Python's fnmatch: `[!...]` negates, a ']' right after '[' or '[!' is a
// member, `a-z` is a range, a '[' without a closing ']' is a literal, backslash is an ordinary character.
bool match_element(std::string_view pattern, std::size_t p, char c, std::size_t& next) {
  if (pattern[p] == '?') {
    next = p + 1;
    return true;
  }
  if (pattern[p] == '[') {
    std::size_t j = p + 1;
    const bool negate = j < pattern.size() && pattern[j] == '!';
    if (negate) ++j;
    const std::size_t members_begin = j;
    if (j < pattern.size() && pattern[j] == ']') ++j;
    while (j < pattern.size() && pattern[j] != ']') ++j;
    if (j < pattern.size()) {
      const std::string_view members = pattern.substr(members_begin, j - members_begin);
      const auto byte = [](char x) { return static_cast<unsigned char>(x); };  // UTF-8 bytes sort above ASCII
      bool member = false;
      for (std::size_t k = 0; k < members.size() && !member;) {
        if (k + 2 < members.size() && members[k + 1] == '-') {
          member = byte(members[k]) <= byte(c) && byte(c) <= byte(members[k + 2]);
          k += 3;
        } else {
          member = members[k] == c;
          ++k;
        }
      }
      next = j + 1;
      return member != negate;
    }
    // No closing ']': the '[' is a literal character.
  }
  next = p + 1;
  return pattern[p] == c;
}

}  // namespace

std::vector<std::string> expand_braces(const std::string& pattern) {
  const std::optional<BraceGroup> group = find_brace_group(pattern);
  if (!group) return {pattern};
  const std::string prefix = pattern.substr(0, group->open);
  const std::string suffix = pattern.substr(group->close + 1);
  std::vector<std::string> result;
  // Options may hold braces themselves, and the suffix may hold more groups: expand recursively.
  for (const auto& option : group->options) {
    for (auto& expanded : expand_braces(prefix + option + suffix)) result.push_back(std::move(expanded));
  }
  return result;
}

// fnmatch without FNM_PATHNAME/FNM_PERIOD (Python's fnmatchcase): `*` crosses dots, so
// "model.layers.*.mlp.down_proj" matches every layer. Greedy with backtracking to the last `*`, which is
// enough because a later `*` can absorb whatever an earlier one would have.
bool glob_match(std::string_view pattern, std::string_view name) {
  constexpr std::size_t kNone = std::string_view::npos;
  std::size_t p = 0;
  std::size_t n = 0;
  std::size_t resume_pattern = kNone;  // just after the last '*' seen
  std::size_t resume_name = 0;         // where that '*' is currently assumed to stop
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      resume_pattern = ++p;
      resume_name = n;
      continue;
    }
    std::size_t next = 0;
    if (p < pattern.size() && match_element(pattern, p, name[n], next)) {
      p = next;
      ++n;
      continue;
    }
    if (resume_pattern == kNone) return false;
    p = resume_pattern;  // let the last '*' swallow one more character and retry
    n = ++resume_name;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

NameFilter::NameFilter(std::vector<std::string> include, std::vector<std::string> exclude)
    : include_(std::move(include)), exclude_(std::move(exclude)) {
  for (const auto& text : include_) include_patterns_.push_back({text, expand_braces(text), false});
  for (const auto& text : exclude_) exclude_patterns_.push_back({text, expand_braces(text), false});
}

// Tries every pattern (no early exit) so that each one that matches is remembered for the warning.
bool NameFilter::match_any(std::vector<Pattern>& patterns, const std::string& name) {
  bool any = false;
  for (auto& pattern : patterns) {
    for (const auto& expanded : pattern.expanded) {
      if (glob_match(expanded, name)) {
        pattern.matched = true;
        any = true;
        break;
      }
    }
  }
  return any;
}

bool NameFilter::selects(const std::string& name) {
  const bool included = match_any(include_patterns_, name);
  const bool excluded = match_any(exclude_patterns_, name);
  return included && !excluded;
}

std::vector<std::string> NameFilter::unmatched_patterns() const {
  std::vector<std::string> unmatched;
  for (const auto* patterns : {&include_patterns_, &exclude_patterns_}) {
    for (const auto& pattern : *patterns) {
      if (!pattern.matched && pattern.text != "*") unmatched.push_back(pattern.text);
    }
  }
  return unmatched;
}

}  // namespace modelslim
