// The reference's garbled-text checks, on Unicode code points: empty_text, repeated_char (one character
// run over 30% of the text), normal_char_ratio (under 50% letters, digits, spaces and common punctuation),
// control_char (over 10% control characters besides \n \r \t), repeated_pattern (the text's first 2..9
// characters repeated 3+ times covering half of it).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace modelslim::service {

// The name of the first check in `items` that finds `text` garbled; empty when none does.
std::optional<std::string> garbled_by(const std::string& text, const std::vector<std::string>& items);

}  // namespace modelslim::service
