// Module-name globs: brace expansion, `*` crossing dots, include/exclude and the unmatched-pattern report.
#include "support/doctest.hpp"

#include "modelslim/name_pattern.hpp"

using namespace modelslim;

TEST_CASE("brace expansion") {
  CHECK(expand_braces("a.{1,2}.b") == std::vector<std::string>{"a.1.b", "a.2.b"});
  CHECK(expand_braces("{x,y}{1,2}") == std::vector<std::string>{"x1", "x2", "y1", "y2"});
  CHECK(expand_braces("l.{0,{1,2}0}") == std::vector<std::string>{"l.0", "l.10", "l.20"});
  CHECK(expand_braces("no{brace") == std::vector<std::string>{"no{brace"});
  CHECK(expand_braces("{single}") == std::vector<std::string>{"{single}"});
}

TEST_CASE("glob semantics: * crosses dots, ? and classes, case-sensitive") {
  CHECK(glob_match("*down_proj", "model.layers.3.mlp.down_proj"));
  CHECK(glob_match("model.layers.*.mlp.*", "model.layers.12.mlp.gate_proj"));
  CHECK(glob_match("*", "lm_head"));
  CHECK_FALSE(glob_match("lm_head", "model.lm_head"));
  CHECK(glob_match("model.layers.?.self_attn.q_proj", "model.layers.7.self_attn.q_proj"));
  CHECK_FALSE(glob_match("model.layers.?.self_attn.q_proj", "model.layers.17.self_attn.q_proj"));
  CHECK(glob_match("model.layers.[0-2].*", "model.layers.1.mlp.up_proj"));
  CHECK_FALSE(glob_match("*Down_proj", "model.layers.3.mlp.down_proj"));
}

TEST_CASE("include/exclude with unmatched patterns reported") {
  NameFilter filter({"model.layers.{0,1}.*", "*.nothing"}, {"*down_proj", "*never*"});
  CHECK(filter.selects("model.layers.0.mlp.up_proj"));
  CHECK_FALSE(filter.selects("model.layers.1.mlp.down_proj"));
  CHECK_FALSE(filter.selects("model.layers.2.mlp.up_proj"));
  CHECK(filter.unmatched_patterns() == std::vector<std::string>{"*.nothing", "*never*"});
  NameFilter all({"*"}, {});
  CHECK(all.unmatched_patterns().empty());
}
