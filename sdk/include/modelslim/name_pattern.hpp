// Module-name globs as in the reference: fnmatch where `*` also crosses dots, `?` one character,
// `[...]` classes, plus brace expansion ("model.layers.{0,2}.*"). Case-sensitive.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

// "a.{1,2}.{x,y}" → ["a.1.x", "a.1.y", "a.2.x", "a.2.y"]. Nested braces are supported.
MODELSLIM_SDK_API std::vector<std::string> expand_braces(const std::string& pattern);
MODELSLIM_SDK_API bool glob_match(std::string_view pattern, std::string_view name);

// include/exclude selection that remembers which patterns ever matched, for the "matched nothing" warning.
class MODELSLIM_SDK_API NameFilter {
 public:
  NameFilter(std::vector<std::string> include, std::vector<std::string> exclude);
  bool selects(const std::string& name);
  // Patterns (other than "*") that never matched any name passed to selects().
  std::vector<std::string> unmatched_patterns() const;
  const std::vector<std::string>& include() const { return include_; }
  const std::vector<std::string>& exclude() const { return exclude_; }

 private:
  struct Pattern {
    std::string text;
    std::vector<std::string> expanded;
    bool matched = false;
  };
  static bool match_any(std::vector<Pattern>& patterns, const std::string& name);
  std::vector<std::string> include_;
  std::vector<std::string> exclude_;
  std::vector<Pattern> include_patterns_;
  std::vector<Pattern> exclude_patterns_;
};

}  // namespace modelslim
