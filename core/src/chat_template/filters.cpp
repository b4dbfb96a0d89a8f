// `value | filter` and `value | filter(args)`, with @huggingface/jinja's per-type filter tables.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "errors.hpp"
#include "interpreter.hpp"
#include "js_text.hpp"

namespace modelslim::core::jinja {

Value string_method(const std::string& self, const std::string& name);
Value object_method(const Value& self, const std::string& name);

// compareRuntimeValues: numbers (and booleans) with numbers, strings with strings, none with none.
int compare_values(const Value& a, const Value& b, bool case_sensitive) {
  const auto nullish = [](const Value& v) { return v.is(Kind::kNull) || v.is(Kind::kUndefined); };
  if (nullish(a) || nullish(b)) {
    if (a.kind == b.kind) return 0;
    fail(std::string("cannot compare ") + type_name(a) + " with " + type_name(b));
  }
  const auto num = [](const Value& v) { return v.is(Kind::kBool) ? (v.flag ? 1.0 : 0.0) : v.number; };
  if ((a.is_number() || a.is(Kind::kBool)) && (b.is_number() || b.is(Kind::kBool))) {
    return num(a) < num(b) ? -1 : num(a) > num(b) ? 1 : 0;
  }
  if (!a.is(Kind::kString) || !b.is(Kind::kString)) {
    fail(std::string("cannot compare ") + type_name(a) + " with " + type_name(b));
  }
  const std::string x = case_sensitive ? a.text : ascii_lower(a.text);
  const std::string y = case_sensitive ? b.text : ascii_lower(b.text);
  return x < y ? -1 : x > y ? 1 : 0;
}

namespace {

[[noreturn]] void unknown(const std::string& name, const Value& operand) {
  fail("unsupported filter '" + name + "' for " + type_name(operand));
}

// join's element text: JavaScript's Array.prototype.join on the wrapped values.
std::string join_piece(const Value& v) {
  return v.is(Kind::kNull) || v.is(Kind::kUndefined) ? std::string() : to_js_string(v);
}

std::string join(const Value& operand, const std::string& separator) {
  std::string out;
  const bool is_string = operand.is(Kind::kString);
  const std::vector<std::string> chars = is_string ? code_points(operand.text) : std::vector<std::string>{};
  const std::size_t n = is_string ? chars.size() : operand.items().size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) out += separator;
    out += is_string ? chars[i] : join_piece(operand.items()[i]);
    check_text_size(out.size());
  }
  return out;
}

// parseInt(s, 10) / parseFloat(s); NaN when no number starts the string.
double parse_number(const std::string& raw, bool integer) {
  const std::string s = trim_start(raw);
  std::size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
  const std::size_t digits_start = i;
  if (!integer && s.compare(i, 8, "Infinity") == 0) return s[0] == '-' ? -INFINITY : INFINITY;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  bool any = i > digits_start;
  if (!integer && i < s.size() && s[i] == '.') {
    const std::size_t frac = ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    any = any || i > frac;
  }
  if (!any) return NAN;
  if (!integer && i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t j = i + 1 + (i + 1 < s.size() && (s[i + 1] == '-' || s[i + 1] == '+') ? 1 : 0);
    const std::size_t exp_start = j;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j > exp_start) i = j;
  }
  return std::strtod(s.substr(0, i).c_str(), nullptr);
}

Value indent(const std::string& text, double width, bool first, bool blank) {
  std::string out;
  const std::string pad(static_cast<std::size_t>(width), ' ');
  std::size_t start = 0;
  for (std::size_t line = 0;; ++line) {
    const std::size_t end = text.find('\n', start);
    const std::string piece = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (line > 0) out += '\n';
    if (!((!first && line == 0) || (!blank && piece.empty()))) out += pad;
    out += piece;
    check_text_size(out.size());
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return Value::string(out);
}

Value array_filter(const std::string& name, const Value& operand) {
  const auto& items = operand.items();
  if (name == "list") return operand;
  if (name == "first" || name == "last") {
    if (items.empty()) fail("'" + name + "' of an empty list");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "length") return Value::integer(static_cast<double>(items.size()));
  if (name == "reverse") return Value::list(std::vector<Value>(items.rbegin(), items.rend()));
  if (name == "sort") {
    std::vector<Value> sorted = items;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Value& a, const Value& b) { return compare_values(a, b, false) < 0; });
    return Value::list(std::move(sorted));
  }
  if (name == "join") return Value::string(join(operand, ""));
  if (name == "string") {
    JsonOptions options;
    options.undefined_as_null = false;
    return Value::string(to_json(operand, options));
  }
  if (name == "unique") {
    std::vector<Value> out;
    for (const Value& item : items) {
      const bool seen =
          std::any_of(out.begin(), out.end(), [&](const Value& x) { return strict_equals(x, item); });
      if (!seen) out.push_back(item);
    }
    return Value::list(std::move(out));
  }
  unknown(name, operand);
}

Value string_filter(const std::string& name, const Value& operand) {
  if (name == "length") return string_method(operand.text, "length");
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    return (*string_method(operand.text, name).function)(CallArgs{});
  }
  if (name == "trim") return Value::string(trim(operand.text));
  if (name == "indent") return indent(operand.text, 4, false, false);
  if (name == "join" || name == "string") return operand;
  if (name == "int") {
    const double n = parse_number(operand.text, true);
    return Value::integer(std::isnan(n) ? 0 : n);
  }
  if (name == "float") {
    const double n = parse_number(operand.text, false);
    return Value::floating(std::isnan(n) ? 0 : n);
  }
  unknown(name, operand);
}

Value simple_filter(const std::string& name, const Value& operand) {
  if (name == "safe") return operand;
  if (name == "tojson") return Value::string(to_json(operand, JsonOptions{}));
  if (operand.is(Kind::kArray)) return array_filter(name, operand);
  if (operand.is(Kind::kString)) return string_filter(name, operand);
  if (operand.is_number()) {
    if (name == "abs")
      return operand.is(Kind::kInt) ? Value::integer(std::fabs(operand.number))
                                    : Value::floating(std::fabs(operand.number));
    if (name == "int") return Value::integer(std::floor(operand.number));
    if (name == "float") return Value::floating(operand.number);
    if (name == "string") return Value::string(to_output(operand));
    unknown(name, operand);
  }
  if (operand.is(Kind::kObject)) {
    if (name == "length") return Value::integer(static_cast<double>(operand.object->size()));
    if (name == "items") return (*object_method(operand, "items").function)(CallArgs{});
    const Value builtin = object_method(operand, name);
    if (builtin.is(Kind::kFunction)) return (*builtin.function)(CallArgs{});
    unknown(name, operand);
  }
  if (operand.is(Kind::kBool)) {
    if (name == "bool") return operand;
    if (name == "int") return Value::integer(operand.flag ? 1 : 0);
    if (name == "float") return Value::floating(operand.flag ? 1 : 0);
    if (name == "string") return Value::string(operand.flag ? "true" : "false");
  }
  unknown(name, operand);
}

const Value* option(const CallArgs& args, std::size_t i, const char* key) {
  if (i < args.positional.size()) return &args.positional[i];
  return args.keywords.find(key);
}

Value tojson(const Value& operand, const CallArgs& args) {
  JsonOptions options;
  const Value* indent_arg = args.keywords.find("indent");
  if (indent_arg && !indent_arg->is(Kind::kInt) && !indent_arg->is(Kind::kNull))
    fail("tojson: indent must be a number");
  if (indent_arg && indent_arg->is(Kind::kInt)) {
    if (indent_arg->number < 0 || indent_arg->number > 64) fail("tojson: indent must be between 0 and 64");
    options.indent = static_cast<int>(indent_arg->number);
  }
  for (const auto& [key, target] : {std::pair<const char*, bool*>{"ensure_ascii", &options.ensure_ascii},
                                    {"sort_keys", &options.sort_keys}}) {
    const Value* flag = args.keywords.find(key);
    if (flag && !flag->is(Kind::kBool)) fail(std::string("tojson: ") + key + " must be a boolean");
    *target = flag != nullptr && flag->flag;
  }
  if (const Value* separators = args.keywords.find("separators");
      separators && !separators->is(Kind::kNull)) {
    const bool ok = separators->is(Kind::kArray) && separators->items().size() == 2 &&
                    separators->items()[0].is(Kind::kString) && separators->items()[1].is(Kind::kString);
    if (!ok) fail("tojson: separators must be a tuple of two strings");
    options.has_separators = true;
    options.item_separator = separators->items()[0].text;
    options.key_separator = separators->items()[1].text;
  }
  return Value::string(to_json(operand, options));
}

Value sort_filter(const Value& operand, const CallArgs& args) {
  const Value* reverse = option(args, 0, "reverse");
  const Value* case_sensitive = option(args, 1, "case_sensitive");
  const Value* attribute = option(args, 2, "attribute");
  if ((reverse && !reverse->is(Kind::kBool)) || (case_sensitive && !case_sensitive->is(Kind::kBool))) {
    fail("sort: reverse and case_sensitive must be booleans");
  }
  if (attribute && !attribute->is(Kind::kString) && !attribute->is(Kind::kInt) &&
      !attribute->is(Kind::kNull)) {
    fail("sort: attribute must be a string, integer, or none");
  }
  const bool by_attribute = attribute && !attribute->is(Kind::kNull);
  const std::string path = by_attribute ? to_js_string(*attribute) : "";
  const auto key = [&](const Value& item) -> Value {
    if (!by_attribute) return item;
    Value v = item;
    for (std::size_t start = 0;;) {
      const std::size_t dot = path.find('.', start);
      const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (v.is_mapping()) {
        const Value* found = v.object->find(part);
        v = found ? *found : Value::undefined();
      } else if (v.is(Kind::kArray)) {
        char* end = nullptr;
        const long index = std::strtol(part.c_str(), &end, 10);
        if (end == part.c_str() || index < 0 || static_cast<std::size_t>(index) >= v.items().size())
          return Value::undefined();
        v = v.items()[static_cast<std::size_t>(index)];
      } else {
        return Value::undefined();
      }
      if (dot == std::string::npos) return v;
      start = dot + 1;
    }
  };
  std::vector<Value> sorted = operand.items();
  const bool desc = reverse && reverse->flag;
  const bool cs = case_sensitive && case_sensitive->flag;
  std::stable_sort(sorted.begin(), sorted.end(), [&](const Value& a, const Value& b) {
    const int c = compare_values(key(a), key(b), cs);
    return desc ? c > 0 : c < 0;
  });
  return Value::list(std::move(sorted));
}

Value select_filter(const std::string& name, const Value& operand, const Node& call, Interpreter& in,
                    Scope& scope) {
  for (const Value& item : operand.items()) {
    if (!item.is_mapping()) fail(name + " can only be applied to a list of objects");
  }
  std::vector<Value> args;
  for (std::size_t i = 1; i < call.kids.size(); ++i) {
    if (call.kids[i]->kind != NodeKind::kString)
      fail("the arguments of " + name + " must be string literals");
    args.push_back(in.evaluate(*call.kids[i], scope));
  }
  if (args.empty()) fail(name + " needs an attribute name");
  std::vector<Value> out;
  for (const Value& item : operand.items()) {
    const Value* attribute = item.object->find(args[0].text);
    bool result = false;
    if (attribute != nullptr) {
      result = args.size() > 1 ? run_test(args[1].text, *attribute, args.size() > 2 ? &args[2] : nullptr)
                               : truthy(*attribute);
    }
    if (result == (name == "selectattr")) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value map_filter(const Value& operand, const CallArgs& args) {
  const Value* attribute = args.keywords.find("attribute");
  if (attribute == nullptr) fail("map is only supported with attribute=...");
  if (!attribute->is(Kind::kString)) fail("map: attribute must be a string");
  const Value* fallback = args.keywords.find("default");
  std::vector<Value> out;
  for (const Value& item : operand.items()) {
    if (!item.is_mapping()) fail("map: the items must be objects");
    Value v = item;
    std::size_t start = 0;
    while (true) {
      const std::size_t dot = attribute->text.find('.', start);
      const std::string part =
          attribute->text.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      const Value* found = v.is_mapping() ? v.object->find(part) : nullptr;
      v = found ? *found : Value::undefined();
      if (dot == std::string::npos || v.is(Kind::kUndefined)) break;
      start = dot + 1;
    }
    out.push_back(v.is(Kind::kUndefined) && fallback ? *fallback : v);
  }
  return Value::list(std::move(out));
}

Value call_filter(const std::string& name, const Value& operand, const Node& call, Interpreter& in,
                  Scope& scope) {
  if (operand.is(Kind::kArray) && (name == "selectattr" || name == "rejectattr")) {
    return select_filter(name, operand, call, in, scope);
  }
  std::vector<const Node*> arg_nodes;
  for (std::size_t i = 1; i < call.kids.size(); ++i) arg_nodes.push_back(call.kids[i].get());
  const CallArgs args = in.evaluate_args(arg_nodes, scope);
  if (name == "tojson") return tojson(operand, args);
  if (name == "join") {
    if (!operand.is(Kind::kString) && !operand.is(Kind::kArray)) unknown(name, operand);
    const Value* separator = option(args, 0, "separator");
    if (separator && !separator->is(Kind::kString)) fail("join: separator must be a string");
    return Value::string(join(operand, separator ? separator->text : ""));
  }
  if (name == "int" || name == "float") {
    const Value* fallback = option(args, 0, "default");
    const Value dflt = fallback ? *fallback : name == "int" ? Value::integer(0) : Value::floating(0);
    if (operand.is(Kind::kString)) {
      const double n = parse_number(operand.text, name == "int");
      return std::isnan(n) ? dflt : name == "int" ? Value::integer(n) : Value::floating(n);
    }
    if (operand.is_number()) return operand;
    if (operand.is(Kind::kBool))
      return name == "int" ? Value::integer(operand.flag) : Value::floating(operand.flag);
    unknown(name, operand);
  }
  if (name == "default") {
    const Value dflt = args.positional.empty() ? Value::string("") : args.positional[0];
    const Value* boolean = option(args, 1, "boolean");
    if (boolean && !boolean->is(Kind::kBool)) fail("default: the boolean flag must be a boolean");
    const bool use = operand.is(Kind::kUndefined) || (boolean && boolean->flag && !truthy(operand));
    return use ? dflt : operand;
  }
  if (operand.is(Kind::kArray)) {
    if (name == "sort") return sort_filter(operand, args);
    if (name == "map") return map_filter(operand, args);
  } else if (operand.is(Kind::kString)) {
    if (name == "indent") {
      const Value* width = option(args, 0, "width");
      if (width && !width->is(Kind::kInt)) fail("indent: width must be a number");
      const double w = width ? width->number : 4;
      if (w < 0 || w > 1024) fail("indent: width must be between 0 and 1024");
      const Value* first = option(args, 1, "first");
      const Value* blank = option(args, 2, "blank");
      return indent(operand.text, w, first && truthy(*first), blank && truthy(*blank));
    }
    if (name == "replace") return (*string_method(operand.text, "replace").function)(args);
  } else if (operand.is(Kind::kObject)) {
    const Value builtin = object_method(operand, name);
    if (builtin.is(Kind::kFunction)) return (*builtin.function)(args);
  }
  unknown(name, operand);
}

}  // namespace

Value apply_filter(const Value& operand, const Node& filter, Interpreter& interpreter, Scope& scope) {
  if (filter.kind == NodeKind::kIdentifier) return simple_filter(filter.text, operand);
  if (filter.kind == NodeKind::kCall && filter.kids[0]->kind == NodeKind::kIdentifier) {
    return call_filter(filter.kids[0]->text, operand, filter, interpreter, scope);
  }
  fail("unsupported filter expression");
}

}  // namespace modelslim::core::jinja
