// Evaluates the syntax tree against variables, with @huggingface/jinja's semantics (scopes, loops, set,
// macros). Budgets bound the work a hostile template can cause.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>

#include "ast.hpp"
#include "value.hpp"

namespace modelslim::core::jinja {

constexpr std::size_t kMaxSteps = 20'000'000;     // node evaluations per render
constexpr std::size_t kMaxTextBytes = 64u << 20;  // longest string a render may build
constexpr std::size_t kMaxListItems = 1u << 20;   // longest list a render may build

class Scope {
 public:
  explicit Scope(Scope* parent = nullptr) : parent_(parent) {}
  Value lookup(const std::string& name) const;
  bool has_own(const std::string& name) const { return vars_.count(name) > 0; }
  void set(const std::string& name, Value value) { vars_[name] = std::move(value); }

 private:
  Scope* parent_;
  std::unordered_map<std::string, Value> vars_;
};

class Interpreter {
 public:
  std::string render(const Body& program, Scope& globals);
  Value evaluate(const Node& node, Scope& scope);
  CallArgs evaluate_args(const std::vector<const Node*>& args, Scope& scope);
  std::string block(const Body& body, Scope& scope);

 private:
  Value evaluate_node(const Node& node, Scope& scope);
  Value evaluate_expression(const Node& node, Scope& scope);
  Value set_statement(const Node& node, Scope& scope);
  Value for_statement(const Node& node, Scope& scope);
  Value macro_statement(const Node& node, Scope& scope);
  Value call_macro(const Node& node, const CallArgs& args);
  Value member(const Node& node, Scope& scope);
  Value call(const Node& node, Scope& scope);
  Value object_literal(const Node& node, Scope& scope);
  Value binary(const Node& node, Scope& scope);

  std::size_t steps_ = 0;
  int call_depth_ = 0;
};

// Operators (operators.cpp).
Value binary_operator(const std::string& op, const Value& left, const Value& right);
Value unary_operator(const std::string& op, const Value& operand);
Value slice_value(const Value& object, const Value& start, const Value& stop, const Value& step);

// Attribute and item access, including the builtin methods of strings and objects (members.cpp).
Value member_of(const Value& object, const Value& property);

// Filters (filters.cpp) and tests (tests.cpp).
Value apply_filter(const Value& operand, const Node& filter, Interpreter& interpreter, Scope& scope);
bool run_test(const std::string& name, const Value& operand, const Value* argument);

// The global names: true/false/none (and title case), namespace, range, raise_exception, strftime_now.
void install_globals(Scope& globals);

// Throws EvalError when a string or list would exceed the budgets above.
void check_text_size(std::size_t bytes);
void check_list_size(std::size_t items);

}  // namespace modelslim::core::jinja
