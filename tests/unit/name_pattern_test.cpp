// Module-name globs: brace expansion, `*` crossing dots, include/exclude and the unmatched-pattern report.
#include "support/doctest.hpp"

#include "modelslim/name_pattern.hpp"

using namespace modelslim;

namespace {

using Strings = std::vector<std::string>;

// The linear layers of a 3-layer Llama, as the adapter names them.
Strings llama_linears() {
  Strings names;
  for (int layer = 0; layer < 3; ++layer) {
    const std::string prefix = "model.layers." + std::to_string(layer) + ".";
    for (const char* name : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                             "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
      names.push_back(prefix + name);
    }
  }
  names.push_back("lm_head");
  return names;
}

Strings selected(NameFilter& filter, const Strings& names) {
  Strings result;
  for (const auto& name : names) {
    if (filter.selects(name)) result.push_back(name);
  }
  return result;
}

}  // namespace

TEST_CASE("brace expansion") {
  CHECK(expand_braces("a.{1,2}.b") == Strings{"a.1.b", "a.2.b"});
  CHECK(expand_braces("{x,y}{1,2}") == Strings{"x1", "x2", "y1", "y2"});
  CHECK(expand_braces("model.layers.{0,2}.mlp.{gate,up}_proj") ==
        Strings{"model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj", "model.layers.2.mlp.gate_proj",
                "model.layers.2.mlp.up_proj"});
  CHECK(expand_braces("l.{0,{1,2}0}") == Strings{"l.0", "l.10", "l.20"});  // nested
  CHECK(expand_braces("{a,b{c,d}e}f") == Strings{"af", "bcef", "bdef"});
  CHECK(expand_braces("x{a,}") == Strings{"xa", "x"});  // an empty option is an option
  CHECK(expand_braces("{a,b,c}") == Strings{"a", "b", "c"});
  CHECK(expand_braces("plain") == Strings{"plain"});
  // Without a comma, or unbalanced, braces are literal.
  CHECK(expand_braces("{single}") == Strings{"{single}"});
  CHECK(expand_braces("{}") == Strings{"{}"});
  CHECK(expand_braces("no{brace") == Strings{"no{brace"});
  CHECK(expand_braces("no}brace{") == Strings{"no}brace{"});
  CHECK(expand_braces("{keep}.{a,b}") == Strings{"{keep}.a", "{keep}.b"});
  CHECK(expand_braces("open{a,{b,c}") == Strings{"open{a,b", "open{a,c"});
}

TEST_CASE("glob semantics: * crosses dots, ? and classes, case-sensitive") {
  CHECK(glob_match("*down_proj", "model.layers.3.mlp.down_proj"));
  CHECK(glob_match("model.layers.*.mlp.*", "model.layers.12.mlp.gate_proj"));
  CHECK(glob_match("model.layers.*.mlp.down_proj", "model.layers.12.mlp.down_proj"));
  CHECK(glob_match("model.*.down_proj", "model.layers.12.mlp.down_proj"));  // one * spans several dots
  CHECK_FALSE(glob_match("model.layers.*.mlp.down_proj", "model.layers.12.mlp.up_proj"));
  CHECK_FALSE(glob_match("model.layers.*.mlp.down_proj", "model.layers.12.mlp.down_proj.weight"));
  CHECK(glob_match("*", "lm_head"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("", ""));
  CHECK_FALSE(glob_match("", "x"));
  CHECK(glob_match("lm_head", "lm_head"));
  CHECK_FALSE(glob_match("lm_head", "model.lm_head"));
  CHECK_FALSE(glob_match("lm_head", "lm_head2"));
  CHECK(glob_match("*lm_head", "model.lm_head"));
  CHECK(glob_match("*.*", "a.b"));
  CHECK_FALSE(glob_match("*.*", "ab"));
  CHECK(glob_match("a*b*c", "aXbYbZc"));  // needs backtracking past the first 'b'
  CHECK(glob_match("**x", "yyx"));
  CHECK_FALSE(glob_match("a*b*c", "aXbYbZ"));

  CHECK(glob_match("model.layers.?.self_attn.q_proj", "model.layers.7.self_attn.q_proj"));
  CHECK_FALSE(glob_match("model.layers.?.self_attn.q_proj", "model.layers.17.self_attn.q_proj"));
  CHECK_FALSE(glob_match("a?", "a"));

  CHECK(glob_match("model.layers.[0-2].*", "model.layers.1.mlp.up_proj"));
  CHECK_FALSE(glob_match("model.layers.[0-2].*", "model.layers.3.mlp.up_proj"));
  CHECK(glob_match("[abc]x", "bx"));
  CHECK_FALSE(glob_match("[abc]x", "dx"));
  CHECK(glob_match("[!0]", "1"));
  CHECK_FALSE(glob_match("[!0]", "0"));
  CHECK(glob_match("[!a-c]z", "dz"));
  CHECK_FALSE(glob_match("[!a-c]z", "bz"));
  CHECK(glob_match("[]]", "]"));  // ']' first is a member
  CHECK(glob_match("[!]]", "x"));
  CHECK(glob_match("[a-]", "-"));  // trailing '-' is literal
  CHECK(glob_match("a[", "a["));   // no closing ']': literal '['
  CHECK(glob_match("a[b", "a[b"));
  CHECK(glob_match("a\\b", "a\\b"));  // backslash is an ordinary character
  CHECK(glob_match("[*]", "*"));
  CHECK_FALSE(glob_match("[*]", "x"));

  CHECK_FALSE(glob_match("*Down_proj", "model.layers.3.mlp.down_proj"));
  CHECK_FALSE(glob_match("[A-Z]", "a"));
}

TEST_CASE("include/exclude over real module names") {
  const Strings names = llama_linears();
  NameFilter down({"model.layers.*.mlp.down_proj"}, {});
  CHECK(selected(down, names) == Strings{"model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj",
                                         "model.layers.2.mlp.down_proj"});

  NameFilter all_but_head({"*"}, {"lm_head"});
  CHECK(selected(all_but_head, names).size() == 21);
  CHECK_FALSE(all_but_head.selects("lm_head"));
  CHECK(all_but_head.unmatched_patterns().empty());

  NameFilter braces({"model.layers.{0,2}.self_attn.{q,k}_proj"}, {"*.2.*k_proj"});
  CHECK(selected(braces, names) == Strings{"model.layers.0.self_attn.q_proj",
                                           "model.layers.0.self_attn.k_proj",
                                           "model.layers.2.self_attn.q_proj"});
  CHECK(braces.include() == Strings{"model.layers.{0,2}.self_attn.{q,k}_proj"});
  CHECK(braces.exclude() == Strings{"*.2.*k_proj"});
}

TEST_CASE("unmatched patterns are reported by their text, include and exclude alike") {
  NameFilter filter({"model.layers.{0,1}.*", "*.nothing", "*"},
                    {"*down_proj", "*never*", "model.layers.{7,8}.*"});
  CHECK(filter.selects("model.layers.0.mlp.up_proj"));
  CHECK_FALSE(filter.selects("model.layers.1.mlp.down_proj"));
  CHECK(filter.selects("model.layers.2.mlp.up_proj"));  // through "*"
  CHECK(filter.unmatched_patterns() == Strings{"*.nothing", "*never*", "model.layers.{7,8}.*"});

  // Nothing seen yet: every pattern but "*" is unmatched.
  NameFilter fresh({"*", "lm_head"}, {"*"});
  CHECK(fresh.unmatched_patterns() == Strings{"lm_head"});
  CHECK_FALSE(fresh.selects("lm_head"));  // excluded by "*"
  CHECK(fresh.unmatched_patterns().empty());

  NameFilter empty({}, {});
  CHECK_FALSE(empty.selects("anything"));
  CHECK(empty.unmatched_patterns().empty());
}
