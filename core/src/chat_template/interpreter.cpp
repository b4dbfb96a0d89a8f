#include "interpreter.hpp"

#include "errors.hpp"

namespace modelslim::core::jinja {
namespace {

constexpr int kMaxCallDepth = 100;

struct BreakSignal {
  std::size_t offset;
};
struct ContinueSignal {
  std::size_t offset;
};

// Binds a loop or set target (a name or a tuple of names) to `value` in `scope`.
void assign_names(const Node& target, const Value& value, Scope& scope, bool loop) {
  if (target.kind == NodeKind::kIdentifier) return scope.set(target.text, value);
  if (!value.is(Kind::kArray) || (loop && value.flag)) {
    fail(std::string("cannot unpack non-iterable ") + type_name(value));
  }
  if (value.items().size() != target.kids.size()) {
    fail(std::string("too ") + (target.kids.size() > value.items().size() ? "few" : "many") +
         " items to unpack");
  }
  for (std::size_t i = 0; i < target.kids.size(); ++i) {
    if (target.kids[i]->kind != NodeKind::kIdentifier)
      fail("cannot unpack into something that is not a name");
    scope.set(target.kids[i]->text, value.items()[i]);
  }
}

bool mentions(const Node& node, const char* name) {
  if (node.kind == NodeKind::kIdentifier && node.text == name) return true;
  for (const Body* list : {&node.kids, &node.body, &node.alternate}) {
    for (const auto& child : *list) {
      if (child && mentions(*child, name)) return true;
    }
  }
  return false;
}

Value loop_object(const std::vector<Value>& items, std::size_t i) {
  const double n = static_cast<double>(items.size());
  const double index = static_cast<double>(i);
  Object loop;
  loop.set("index", Value::integer(index + 1));
  loop.set("index0", Value::integer(index));
  loop.set("revindex", Value::integer(n - index));
  loop.set("revindex0", Value::integer(n - index - 1));
  loop.set("first", Value::boolean(i == 0));
  loop.set("last", Value::boolean(i + 1 == items.size()));
  loop.set("length", Value::integer(n));
  loop.set("previtem", i > 0 ? items[i - 1] : Value::undefined());
  loop.set("nextitem", i + 1 < items.size() ? items[i + 1] : Value::undefined());
  return Value::dict(std::move(loop));
}

}  // namespace

Value Scope::lookup(const std::string& name) const {
  for (const Scope* scope = this; scope != nullptr; scope = scope->parent_) {
    const auto it = scope->vars_.find(name);
    if (it != scope->vars_.end()) return it->second;
  }
  return Value::undefined();
}

void check_text_size(std::size_t bytes) {
  if (bytes > kMaxTextBytes) fail("string longer than the 64 MiB limit for a rendered chat template");
}

void check_list_size(std::size_t items) {
  if (items > kMaxListItems) fail("list longer than the 1048576-item limit for a rendered chat template");
}

std::string Interpreter::render(const Body& program, Scope& globals) {
  try {
    return block(program, globals);
  } catch (const BreakSignal& signal) {
    throw PositionedError(signal.offset, "'break' outside a for loop");
  } catch (const ContinueSignal& signal) {
    throw PositionedError(signal.offset, "'continue' outside a for loop");
  }
}

std::string Interpreter::block(const Body& body, Scope& scope) {
  std::string out;
  for (const auto& statement : body) {
    const Value value = evaluate(*statement, scope);
    if (value.is(Kind::kNull) || value.is(Kind::kUndefined)) continue;
    try {
      out += value.is(Kind::kString) ? value.text : to_output(value);
      check_text_size(out.size());
    } catch (const EvalError& e) {
      throw PositionedError(statement->offset, e.what());
    }
  }
  return out;
}

Value Interpreter::evaluate(const Node& node, Scope& scope) {
  if (++steps_ > kMaxSteps) throw PositionedError(node.offset, "template exceeded 20000000 evaluation steps");
  try {
    return evaluate_node(node, scope);
  } catch (const RaiseSignal& e) {
    throw RaisedError(node.offset, e.what());
  } catch (const EvalError& e) {
    throw PositionedError(node.offset, e.what());
  }
}

Value Interpreter::evaluate_node(const Node& node, Scope& scope) {
  switch (node.kind) {
    case NodeKind::kText:
      return Value::string(node.text);
    case NodeKind::kComment:
      return Value::null();
    case NodeKind::kIf: {
      const bool test = truthy(evaluate(*node.kids[0], scope));
      return Value::string(block(test ? node.body : node.alternate, scope));
    }
    case NodeKind::kFor:
      return for_statement(node, scope);
    case NodeKind::kSet:
      return set_statement(node, scope);
    case NodeKind::kMacro:
      return macro_statement(node, scope);
    case NodeKind::kBreak:
      throw BreakSignal{node.offset};
    case NodeKind::kContinue:
      throw ContinueSignal{node.offset};
    default:
      return evaluate_expression(node, scope);
  }
}

Value Interpreter::evaluate_expression(const Node& node, Scope& scope) {
  switch (node.kind) {
    case NodeKind::kInteger:
      return Value::integer(node.number);
    case NodeKind::kFloat:
      return Value::floating(node.number);
    case NodeKind::kString:
      return Value::string(node.text);
    case NodeKind::kIdentifier:
      return scope.lookup(node.text);
    case NodeKind::kArray:
    case NodeKind::kTuple: {
      std::vector<Value> items;
      for (const auto& kid : node.kids) items.push_back(evaluate(*kid, scope));
      return Value::list(std::move(items), node.kind == NodeKind::kTuple);
    }
    case NodeKind::kObject:
      return object_literal(node, scope);
    case NodeKind::kBinary:
      return binary(node, scope);
    case NodeKind::kUnary: {
      const Value operand = evaluate(*node.kids[0], scope);
      return node.text == "not" ? Value::boolean(!truthy(operand)) : unary_operator(node.text, operand);
    }
    case NodeKind::kFilter:
      return apply_filter(evaluate(*node.kids[0], scope), *node.kids[1], *this, scope);
    case NodeKind::kTest:
      return Value::boolean(run_test(node.text, evaluate(*node.kids[0], scope), nullptr) != node.flag);
    case NodeKind::kSelect:
      return truthy(evaluate(*node.kids[1], scope)) ? evaluate(*node.kids[0], scope) : Value::undefined();
    case NodeKind::kTernary:
      return evaluate(*node.kids[truthy(evaluate(*node.kids[0], scope)) ? 1 : 2], scope);
    case NodeKind::kMember:
      return member(node, scope);
    case NodeKind::kCall:
      return call(node, scope);
    default:
      fail("this expression is only allowed inside a call's argument list or '[ ]'");
  }
}

Value Interpreter::binary(const Node& node, Scope& scope) {
  const Value left = evaluate(*node.kids[0], scope);
  if (node.text == "and") return truthy(left) ? evaluate(*node.kids[1], scope) : left;
  if (node.text == "or") return truthy(left) ? left : evaluate(*node.kids[1], scope);
  const Value right = evaluate(*node.kids[1], scope);
  if (node.text == "==") return Value::boolean(loose_equals(left, right));
  if (node.text == "!=") return Value::boolean(!loose_equals(left, right));
  return binary_operator(node.text, left, right);
}

Value Interpreter::object_literal(const Node& node, Scope& scope) {
  Object entries;
  for (std::size_t i = 0; i + 1 < node.kids.size(); i += 2) {
    const Value key = evaluate(*node.kids[i], scope);
    if (!key.is(Kind::kString)) fail(std::string("object keys must be strings, got ") + type_name(key));
    entries.set(key.text, evaluate(*node.kids[i + 1], scope));
  }
  return Value::dict(std::move(entries));
}

Value Interpreter::member(const Node& node, Scope& scope) {
  const Value object = evaluate(*node.kids[0], scope);
  const Node& property = *node.kids[1];
  if (node.flag && property.kind == NodeKind::kSlice) {
    Value parts[3];
    for (int i = 0; i < 3; ++i) {
      if (property.kids[i]) parts[i] = evaluate(*property.kids[i], scope);
    }
    return slice_value(object, parts[0], parts[1], parts[2]);
  }
  if (node.flag) return member_of(object, evaluate(property, scope));
  if (property.kind == NodeKind::kInteger) return member_of(object, Value::integer(property.number));
  return member_of(object, Value::string(property.text));
}

CallArgs Interpreter::evaluate_args(const std::vector<const Node*>& args, Scope& scope) {
  CallArgs out;
  out.caller = &scope;
  for (const Node* arg : args) {
    if (arg->kind == NodeKind::kSpread) {
      const Value items = evaluate(*arg->kids[0], scope);
      if (!items.is(Kind::kArray)) fail(std::string("cannot unpack non-iterable ") + type_name(items));
      for (const Value& item : items.items()) out.positional.push_back(item);
    } else if (arg->kind != NodeKind::kKeyword && arg->kind != NodeKind::kKeywordSpread) {
      out.positional.push_back(evaluate(*arg, scope));
    }
  }
  const auto add_keyword = [&](const std::string& key, Value value) {
    if (out.keywords.find(key) != nullptr) fail("got multiple values for keyword argument '" + key + "'");
    out.keywords.set(key, std::move(value));
  };
  for (const Node* arg : args) {
    if (arg->kind == NodeKind::kKeyword) add_keyword(arg->text, evaluate(*arg->kids[0], scope));
    if (arg->kind != NodeKind::kKeywordSpread) continue;
    const Value mapping = evaluate(*arg->kids[0], scope);
    if (!mapping.is(Kind::kObject))
      fail(std::string("argument after ** must be a mapping, not ") + type_name(mapping));
    for (const auto& [key, value] : mapping.object->entries()) add_keyword(key, value);
  }
  return out;
}

Value Interpreter::call(const Node& node, Scope& scope) {
  std::vector<const Node*> arg_nodes;
  for (std::size_t i = 1; i < node.kids.size(); ++i) arg_nodes.push_back(node.kids[i].get());
  const CallArgs args = evaluate_args(arg_nodes, scope);
  const Value callee = evaluate(*node.kids[0], scope);
  if (!callee.is(Kind::kFunction))
    fail(std::string("cannot call something that is not a function: got ") + type_name(callee));
  return (*callee.function)(args);
}

Value Interpreter::set_statement(const Node& node, Scope& scope) {
  const Value value =
      node.kids.size() > 1 ? evaluate(*node.kids[1], scope) : Value::string(block(node.body, scope));
  const Node& target = *node.kids[0];
  if (target.kind == NodeKind::kIdentifier || target.kind == NodeKind::kTuple) {
    assign_names(target, value, scope, false);
  } else if (target.kind == NodeKind::kMember) {
    const Value object = evaluate(*target.kids[0], scope);
    if (!object.is(Kind::kNamespace)) fail("cannot assign an attribute of something that is not a namespace");
    if (target.kids[1]->kind != NodeKind::kIdentifier) fail("cannot assign a member that is not a name");
    object.object->set(target.kids[1]->text, value);
  } else {
    fail("the target of 'set' must be a name, a tuple of names or a namespace attribute");
  }
  return Value::null();
}

Value Interpreter::for_statement(const Node& node, Scope& outer) {
  Scope scope(&outer);
  const Node& target = *node.kids[0];
  const Node* iterable_node = node.kids[1].get();
  const Node* condition = nullptr;
  if (iterable_node->kind == NodeKind::kSelect) {
    condition = iterable_node->kids[1].get();
    iterable_node = iterable_node->kids[0].get();
  }
  Value iterable = evaluate(*iterable_node, scope);
  if (iterable.is(Kind::kObject)) {
    std::vector<Value> keys;
    for (const auto& entry : iterable.object->entries()) keys.push_back(Value::string(entry.first));
    iterable = Value::list(std::move(keys));
  }
  if (!iterable.is(Kind::kArray))
    fail(std::string("expected a list or an object to loop over, got ") + type_name(iterable));
  std::vector<Value> items;
  for (const Value& item : iterable.items()) {
    Scope item_scope(&scope);
    assign_names(target, item, item_scope, true);
    if (condition != nullptr && !truthy(evaluate(*condition, item_scope))) continue;
    items.push_back(item);
  }
  std::string out;
  bool iterated = false;
  for (std::size_t i = 0; i < items.size(); ++i) {
    scope.set("loop", loop_object(items, i));
    assign_names(target, items[i], scope, true);
    try {
      out += block(node.body, scope);
      check_text_size(out.size());
    } catch (const ContinueSignal&) {
      continue;
    } catch (const BreakSignal&) {
      break;
    }
    iterated = true;
  }
  if (!iterated) out += block(node.alternate, scope);
  return Value::string(std::move(out));
}

Value Interpreter::macro_statement(const Node& node, Scope& scope) {
  const Node* macro = &node;
  scope.set(node.text,
            Value::callable([this, macro](const CallArgs& args) { return call_macro(*macro, args); }));
  return Value::null();
}

Value Interpreter::call_macro(const Node& node, const CallArgs& args) {
  if (call_depth_ >= kMaxCallDepth) fail("macro calls nested more than 100 deep");
  Scope scope(args.caller);
  Object keywords = args.keywords;
  Object remaining;
  std::vector<const Node*> pending;
  for (std::size_t i = 0; i < node.kids.size(); ++i) {
    const Node& param = *node.kids[i];
    const Value* value = i < args.positional.size() ? &args.positional[i] : keywords.find(param.text);
    if (value == nullptr && param.kind == NodeKind::kKeyword) pending.push_back(&param);
    scope.set(param.text, value != nullptr ? *value : Value::undefined());
  }
  for (const auto& [key, value] : keywords.entries()) {
    bool is_param = false;
    for (std::size_t i = args.positional.size(); i < node.kids.size(); ++i)
      is_param |= node.kids[i]->text == key;
    if (!is_param) remaining.set(key, value);
  }
  if (mentions(node, "kwargs")) {
    scope.set("kwargs", Value::dict(remaining));
  } else if (remaining.size() > 0) {
    fail("macro '" + node.text + "' takes no keyword argument '" + remaining.entries()[0].first + "'");
  }
  if (mentions(node, "varargs")) {
    const auto& all = args.positional;
    scope.set("varargs", Value::list(std::vector<Value>(all.begin() + std::min(all.size(), node.kids.size()),
                                                        all.end())));
  } else if (args.positional.size() > node.kids.size()) {
    fail("macro '" + node.text + "' takes not more than " + std::to_string(node.kids.size()) +
         " argument(s)");
  }
  ++call_depth_;
  struct Leave {
    int& depth;
    ~Leave() { --depth; }
  } leave{call_depth_};
  for (const Node* param : pending) scope.set(param->text, evaluate(*param->kids[0], scope));
  return Value::string(block(node.body, scope));
}

}  // namespace modelslim::core::jinja
