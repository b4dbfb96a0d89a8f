#include "precheck.hpp"

#include <spdlog/spdlog.h>

#include "answer_extraction.hpp"
#include "garbled_text.hpp"
#include "openai_client.hpp"

namespace modelslim::service {
namespace {

// Empty when the answer passes, else why it does not.
std::string judge(const PrecheckRule& rule, const PrecheckCase& c, const std::string& answer) {
  if (rule.type == "expected_answer") {
    if (c.expected.empty() || matches_answer(answer, c.expected, "contains")) return {};
    std::string expected;
    for (const auto& e : c.expected) expected += (expected.empty() ? "'" : " or '") + e + "'";
    return "the answer does not contain " + expected;
  }
  if (const auto item = garbled_by(answer, c.items)) return "the answer is garbled (" + *item + ")";
  return {};
}

}  // namespace

PrecheckOutcome run_precheck(const std::vector<PrecheckRule>& rules, const Server& server) {
  for (std::size_t r = 0; r < rules.size(); ++r) {
    const PrecheckRule& rule = rules[r];
    const OpenAiClient client(server, rule.timeout);
    const GenerateOptions options{rule.max_tokens, 0.0, {}};
    for (std::size_t i = 0; i < rule.cases.size(); ++i) {
      const PrecheckCase& c = rule.cases[i];
      std::string answer;
      try {
        answer = rule.api == "chat" ? client.chat(c.message, options) : client.complete(c.message, options);
      } catch (const RequestError& error) {
        spdlog::warn("precheck {} case {} ('{}') got no answer, skipped: {}", rule.type, i + 1, c.message,
                     error.what());
        continue;
      }
      if (const std::string why = judge(rule, c, answer); !why.empty()) {
        return {false, "precheck " + std::to_string(r) + " (" + rule.type + ") case " +
                           std::to_string(i + 1) + " '" + c.message + "': " + why + "; answer: '" +
                           answer.substr(0, 200) + "'"};
      }
    }
  }
  return {};
}

}  // namespace modelslim::service
