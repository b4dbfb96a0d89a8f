#include "answer_extraction.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <regex>

namespace modelslim::service {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string trimmed(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const auto end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::string normalized_number(std::string number) {
  number.erase(std::remove_if(number.begin(), number.end(), [](char c) { return c == ',' || c == '$'; }),
               number.end());
  if (const auto dot = number.find('.'); dot != std::string::npos) {
    while (number.back() == '0') number.pop_back();
    if (number.back() == '.') number.pop_back();
  }
  if (number == "-0") number = "0";
  return number;
}

const std::regex& number_pattern() {
  static const std::regex pattern(R"(-?\$?\d[\d,]*(\.\d+)?)");
  return pattern;
}

}  // namespace

std::optional<std::string> number_answer(const std::string& text) {
  const auto marker = text.rfind("####");
  if (marker != std::string::npos) {
    std::smatch match;
    const std::string after = text.substr(marker + 4);
    if (std::regex_search(after, match, number_pattern())) return normalized_number(match.str());
  }
  std::optional<std::string> last;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number_pattern());
       it != std::sregex_iterator(); ++it)
    last = normalized_number(it->str());
  return last;
}

bool same_number(const std::string& a, const std::string& b) {
  if (a == b) return true;
  char* end_a = nullptr;
  char* end_b = nullptr;
  const double x = std::strtod(a.c_str(), &end_a);
  const double y = std::strtod(b.c_str(), &end_b);
  if (*end_a != '\0' || *end_b != '\0' || a.empty() || b.empty()) return false;
  return std::abs(x - y) <= 1e-6 * std::max(1.0, std::abs(y));
}

std::optional<bool> yes_no_answer(const std::string& text) {
  static const std::regex word(R"(\b(yes|no|true|false)\b)", std::regex::icase);
  std::smatch match;
  if (!std::regex_search(text, match, word)) return std::nullopt;
  const std::string w = lower(match.str(1));
  return w == "yes" || w == "true";
}

std::optional<int> letter_answer(const std::string& text, std::size_t choices) {
  if (choices == 0 || choices > 26) return std::nullopt;
  const std::string range = "[A-" + std::string(1, static_cast<char>('A' + choices - 1)) + "]";
  const std::regex leading(R"(^\s*\(?()" + range + R"()\)?(?:[.:)\s]|$))");
  const std::regex stated(R"([Aa]nswer\s+is\s*:?\s*\(?()" + range + R"()\b)");
  std::smatch match;
  if (std::regex_search(text, match, leading) || std::regex_search(text, match, stated))
    return std::toupper(static_cast<unsigned char>(match.str(1)[0])) - 'A';
  return std::nullopt;
}

bool matches_answer(const std::string& output, const std::vector<std::string>& answers,
                    const std::string& mode) {
  const std::string out = lower(trimmed(output));
  return std::any_of(answers.begin(), answers.end(), [&](const std::string& answer) {
    const std::string a = lower(trimmed(answer));
    if (a.empty()) return false;
    if (mode == "exact") return out == a;
    if (mode == "prefix")  // a whole-word prefix: "the" is not the start of "thee"
      return out.compare(0, a.size(), a) == 0 &&
             (out.size() == a.size() || !std::isalnum(static_cast<unsigned char>(out[a.size()])) ||
              !std::isalnum(static_cast<unsigned char>(a.back())));
    return out.find(a) != std::string::npos;
  });
}

}  // namespace modelslim::service
