// Chat template errors name the line and column; unsupported constructs and runaway templates are errors,
// never a crash or silently wrong text; the ordered_json overload keeps the caller's key order.
#include <doctest/doctest.h>

#include "modelslim/core/chat_template.hpp"
#include "modelslim/error.hpp"
#include "support/test_support.hpp"

using modelslim::Error;
using modelslim::ErrorCode;
using modelslim::core::ChatTemplate;

namespace {

std::string render_error(const std::string& source,
                         const nlohmann::json& variables = nlohmann::json::object()) {
  try {
    ChatTemplate(source).render(variables);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaValidate);
    return e.what();
  }
  FAIL("no error for " << source);
  return {};
}

using modelslim::test::contains;

}  // namespace

TEST_CASE("syntax errors name the line and column of the offending token") {
  // "{{ foo( }}" on line 2: the '}}' that ends the call's argument list early is at column 9.
  const std::string error = render_error("line one\n{{ foo( }}");
  CHECK_MESSAGE(contains(error, "chat_template line 2 column 9: "), error);
  // Columns count characters, not bytes: 'é' and '日' are one column each.
  CHECK_MESSAGE(contains(render_error("é日 {% if %}"), "chat_template line 1 column 10: "),
                render_error("é日 {% if %}"));
  CHECK(contains(render_error("{% for x in xs %}\n{{ x }}"),
                 "line 2 column 8: unexpected end of template: missing {% endfor %}"));
  CHECK(contains(render_error("a\n\n  {{ 'abc }}"), "line 3 column 6: unterminated string literal"));
}

TEST_CASE("raise_exception's message surfaces with the call's position") {
  const std::string source =
      "{% for m in messages %}\n{% if m.role not in ['user', 'assistant'] %}"
      "{{ raise_exception('Unknown role: ' + m.role) }}{% endif %}{% endfor %}";
  const std::string error = render_error(source, {{"messages", {{{"role", "robot"}, {"content", "x"}}}}});
  CHECK_MESSAGE(contains(error, "chat_template line 2 column 48: raise_exception: Unknown role: robot"),
                error);
  CHECK(ChatTemplate(source).render({{"messages", {{{"role", "user"}}}}}).empty());
}

TEST_CASE("runtime errors name the position of the failing expression") {
  const std::string error =
      render_error("ok\n  {{ messages[0].content + 1 }}", {{"messages", {{{"content", nullptr}}}}});
  CHECK_MESSAGE(contains(error, "line 2 column 26: cannot apply '+' to none"), error);
}

TEST_CASE("constructs outside the subset are errors naming them") {
  CHECK(contains(render_error("{% include 'x.j2' %}"), "unsupported statement 'include'"));
  CHECK(contains(render_error("{% call m() %}{% endcall %}"), "unsupported statement 'call'"));
  CHECK(contains(render_error("{% filter upper %}x{% endfilter %}"), "unsupported statement 'filter'"));
  CHECK(contains(render_error("{{ 'x' | wordcount }}"), "unsupported filter 'wordcount' for StringValue"));
  CHECK(contains(render_error("{{ 3 is divisibleby }}"), "unknown test 'divisibleby'"));
  CHECK(contains(render_error("{{ x }}", {{"range", 1}}), "variable 'range' is a reserved name"));
}

TEST_CASE("runaway templates hit a budget instead of exhausting memory or time") {
  CHECK(contains(render_error("{% for i in range(2000) %}{% for j in range(2000) %}{% for k in range(2000) %}"
                              "{% endfor %}{% endfor %}{% endfor %}"),
                 "evaluation steps"));
  CHECK(contains(
      render_error("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
                   "{% endfor %}"),
      "16 MiB limit"));
  CHECK(contains(render_error("{{ range(100000000) | length }}"), "1048576-item limit"));
  CHECK(contains(render_error("{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}"),
                 "nested more than 200 levels"));
  CHECK(
      contains(render_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"), "nested more than 100 deep"));
}

TEST_CASE("render_ordered keeps the caller's key order; nlohmann::json sorts it") {
  const ChatTemplate tojson("{{ tool | tojson }}");
  const auto ordered =
      nlohmann::ordered_json::parse(R"({"tool": {"name": "f", "description": "d", "args": 1}})");
  CHECK(tojson.render_ordered(ordered) == R"({"name": "f", "description": "d", "args": 1})");
  CHECK(tojson.render(nlohmann::json(ordered)) == R"({"args": 1, "description": "d", "name": "f"})");
}

TEST_CASE("a template is parsed once and rendered many times, moved freely") {
  ChatTemplate first("{{ messages | length }}{% set n = 1 %}{{ n }}");
  ChatTemplate moved = std::move(first);
  for (int i = 0; i < 3; ++i) CHECK(moved.render({{"messages", {1, 2, 3}}}) == "31");
  CHECK(contains(render_error("{{ x }}", nlohmann::json::array()), "variables must be a JSON object"));
}

TEST_CASE("deeply nested values are destroyed without recursion and refused when printed") {
  // {% set x = [x] %} in a loop nests 200000 lists: destroying them recursively overflowed the stack.
  const std::string nest =
      "{% set ns = namespace(x=none) %}{% for i in range(200000) %}{% set ns.x = [ns.x] %}{% endfor %}";
  CHECK(ChatTemplate(nest + "{{ ns.x | length }}").render(nlohmann::json::object()) == "1");
  CHECK(contains(render_error(nest + "{{ ns.x }}"), "nested deeper than 512 levels"));
  // A namespace stored inside itself would be a reference cycle (leaked, and endless to print).
  CHECK(contains(render_error("{% set ns = namespace() %}{% set ns.me = [1, {'a': ns}] %}"),
                 "cannot store a namespace inside itself"));
  nlohmann::json deep = 1;
  for (int i = 0; i < 600; ++i) deep = nlohmann::json::array({deep});
  CHECK(contains(render_error("{{ v }}", {{"v", deep}}),
                 "variable 'v': variables nested deeper than 512 levels"));
}
