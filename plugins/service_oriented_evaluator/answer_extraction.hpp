// Reading an answer out of generated text, as the common benchmarks score it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace modelslim::service {

// gsm8k: the number after the last "####", else the last number of the text; commas, '$' and a zero
// fraction removed ("1,234.00" → "1234"). Empty when the text has no number.
std::optional<std::string> number_answer(const std::string& text);
bool same_number(const std::string& a, const std::string& b);

// boolq: the first yes/no (or true/false) word of the text.
std::optional<bool> yes_no_answer(const std::string& text);

// Multiple choice: the letter (A, B, ...) of one of `choices` options the text answers with: a leading
// "B", "(B)", "B." or "B:", or "answer is B". Empty when none.
std::optional<int> letter_answer(const std::string& text, std::size_t choices);

// custom: whether `output` matches one of `answers` (contains, prefix — a whole-word prefix — or exact;
// case and surrounding whitespace ignored).
bool matches_answer(const std::string& output, const std::vector<std::string>& answers,
                    const std::string& mode);

}  // namespace modelslim::service
