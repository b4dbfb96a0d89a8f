// Fuzzes the chat template engine (lexer, parser, renderer). The input is a template source, optionally
// followed by a NUL byte and a JSON object of variables; without one (or when it does not parse) the template
// is rendered with a fixed conversation that has tools, tool calls and reasoning content.
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "modelslim/core/chat_template.hpp"

namespace {

const nlohmann::ordered_json& default_variables() {
  static const auto variables = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "<think>\nlook up\n</think>\n\n", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
      {"role": "tool", "content": "{\"temp\": 21}"},
      {"role": "assistant", "content": "21C", "reasoning_content": "read it"}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "add_generation_prompt": true, "enable_thinking": false, "bos_token": "<s>", "eos_token": "</s>"})");
  return variables;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input = modelslim::fuzz::as_text(data, size);
  const std::size_t split = input.find('\0');
  const std::string source = input.substr(0, split);
  nlohmann::ordered_json variables = default_variables();
  if (split != std::string::npos) {
    auto parsed = nlohmann::ordered_json::parse(input.substr(split + 1), nullptr, false);
    if (parsed.is_object()) variables = std::move(parsed);
  }
  modelslim::fuzz::expect_clean([&] { modelslim::core::ChatTemplate(source).render(variables); });
  return 0;
}
