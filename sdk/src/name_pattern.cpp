#include "modelslim/name_pattern.hpp"

#include <fnmatch.h>

namespace modelslim {
namespace {

// Finds the first top-level {...} group that contains a comma; returns false when there is none.
bool find_brace_group(const std::string& text, std::size_t& open, std::size_t& close,
                      std::vector<std::string>& options) {
  for (std::size_t start = 0; start < text.size(); ++start) {
    if (text[start] != '{') continue;
    int depth = 0;
    std::size_t part_begin = start + 1;
    std::vector<std::string> parts;
    for (std::size_t i = start; i < text.size(); ++i) {
      if (text[i] == '{') {
        ++depth;
      } else if (text[i] == '}') {
        if (--depth == 0) {
          parts.push_back(text.substr(part_begin, i - part_begin));
          if (parts.size() > 1) {
            open = start;
            close = i;
            options = std::move(parts);
            return true;
          }
          break;
        }
      } else if (text[i] == ',' && depth == 1) {
        parts.push_back(text.substr(part_begin, i - part_begin));
        part_begin = i + 1;
      }
    }
  }
  return false;
}

}  // namespace

std::vector<std::string> expand_braces(const std::string& pattern) {
  std::size_t open = 0;
  std::size_t close = 0;
  std::vector<std::string> options;
  if (!find_brace_group(pattern, open, close, options)) return {pattern};
  std::vector<std::string> result;
  const std::string prefix = pattern.substr(0, open);
  const std::string suffix = pattern.substr(close + 1);
  for (const auto& option : options) {
    for (auto& expanded : expand_braces(prefix + option + suffix)) result.push_back(std::move(expanded));
  }
  return result;
}

bool glob_match(std::string_view pattern, std::string_view name) {
  // Without FNM_PATHNAME/FNM_PERIOD, `*` crosses dots and slashes, as the reference's fnmatch does.
  return ::fnmatch(std::string(pattern).c_str(), std::string(name).c_str(), 0) == 0;
}

NameFilter::NameFilter(std::vector<std::string> include, std::vector<std::string> exclude)
    : include_(std::move(include)), exclude_(std::move(exclude)) {
  for (const auto& text : include_) include_patterns_.push_back({text, expand_braces(text), false});
  for (const auto& text : exclude_) exclude_patterns_.push_back({text, expand_braces(text), false});
}

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
