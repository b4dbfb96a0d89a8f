// Hugging Face chat templates (tokenizer_config.json "chat_template") rendered with the subset of Jinja2 that
// real templates use. No Jinja library for C++ is packaged in Debian bookworm; tests compare every rendering
// with npm @huggingface/jinja. The library does not link LibTorch (it is fuzzed on its own).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace modelslim::core {

namespace jinja {
struct Program;
}

// Parsed once, rendered per request. Errors (syntax, unsupported construct, a template's own
// raise_exception) are modelslim::Error(kSchemaValidate) with "chat_template line L column C: ..." .
class ChatTemplate {
 public:
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // `variables`: messages (array of {role, content, ...}), add_generation_prompt, bos_token, eos_token and
  // anything else the caller passes (tools, enable_thinking, ...).
  std::string render(const nlohmann::json& variables) const;
  // The same with the caller's key order kept (nlohmann::json sorts object keys): tojson of tool schemas then
  // prints keys in request order, as transformers does. Prefer this when the request was parsed as
  // ordered_json.
  std::string render(const nlohmann::ordered_json& variables) const;

 private:
  std::unique_ptr<const jinja::Program> program_;
};

}  // namespace modelslim::core
