#include "value.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "errors.hpp"
#include "js_text.hpp"

namespace modelslim::core::jinja {

const Value* Object::find(const std::string& key) const {
  const auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

void Object::set(const std::string& key, Value value) {
  const auto it = index_.find(key);
  if (it != index_.end()) {
    entries_[it->second].second = std::move(value);
    return;
  }
  index_.emplace(key, entries_.size());
  entries_.emplace_back(key, std::move(value));
}

Value Value::null() {
  return make(Kind::kNull);
}
Value Value::boolean(bool b) {
  Value v = make(Kind::kBool);
  v.flag = b;
  return v;
}
Value Value::integer(double n) {
  Value v = make(Kind::kInt);
  v.number = n;
  return v;
}
Value Value::floating(double n) {
  Value v = make(Kind::kFloat);
  v.number = n;
  return v;
}
Value Value::string(std::string s) {
  Value v = make(Kind::kString);
  v.text = std::move(s);
  return v;
}
Value Value::list(std::vector<Value> items, bool tuple) {
  Value v = make(Kind::kArray);
  v.array = std::make_shared<std::vector<Value>>(std::move(items));
  v.flag = tuple;
  return v;
}
Value Value::dict(Object entries, Kind kind) {
  Value v = make(kind);
  v.object = std::make_shared<Object>(std::move(entries));
  return v;
}
Value Value::callable(Function f) {
  Value v = make(Kind::kFunction);
  v.function = std::make_shared<const Function>(std::move(f));
  return v;
}
Value Value::make(Kind k) {
  Value v;
  v.kind = k;
  return v;
}

std::vector<Value> CallArgs::flattened() const {
  std::vector<Value> all = positional;
  if (keywords.size() > 0) {
    Value kw = Value::dict(keywords);
    kw.flag = true;
    all.push_back(std::move(kw));
  }
  return all;
}

const char* type_name(const Value& value) {
  switch (value.kind) {
    case Kind::kUndefined:
      return "UndefinedValue";
    case Kind::kNull:
      return "NullValue";
    case Kind::kBool:
      return "BooleanValue";
    case Kind::kInt:
      return "IntegerValue";
    case Kind::kFloat:
      return "FloatValue";
    case Kind::kString:
      return "StringValue";
    case Kind::kArray:
      return value.flag ? "TupleValue" : "ArrayValue";
    case Kind::kObject:
      return value.flag ? "KeywordArgumentsValue" : "ObjectValue";
    case Kind::kNamespace:
      return "NamespaceValue";
    case Kind::kFunction:
      return "FunctionValue";
  }
  return "?";
}

bool truthy(const Value& value) {
  switch (value.kind) {
    case Kind::kBool:
      return value.flag;
    case Kind::kInt:
    case Kind::kFloat:
      return value.number != 0 && !std::isnan(value.number);
    case Kind::kString:
      return !value.text.empty();
    case Kind::kArray:
      return !value.array->empty();
    case Kind::kObject:
      return value.object->size() > 0;
    case Kind::kNamespace:
    case Kind::kFunction:
      return true;
    default:
      return false;
  }
}

namespace {

std::string float_output(double n) {
  if (n == 0 && std::signbit(n)) return "-0.0";
  if (std::isfinite(n) && std::fmod(n, 1.0) == 0 && std::fabs(n) < 1e21) return js_number(n) + ".0";
  return js_number(n);
}

[[noreturn]] void function_text() {
  fail("cannot convert a function to text");
}

}  // namespace

std::string to_output(const Value& value) {
  switch (value.kind) {
    case Kind::kFloat:
      return float_output(value.number);
    case Kind::kArray:
    case Kind::kObject:
    case Kind::kNamespace: {
      JsonOptions options;
      options.undefined_as_null = false;
      return to_json(value, options);
    }
    default:
      return to_js_string(value);
  }
}

std::string to_js_string(const Value& value) {
  switch (value.kind) {
    case Kind::kUndefined:
      return "undefined";
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return value.flag ? "true" : "false";
    case Kind::kInt:
    case Kind::kFloat:
      return js_number(value.number);
    case Kind::kString:
      return value.text;
    case Kind::kArray: {
      std::string out;
      for (std::size_t i = 0; i < value.array->size(); ++i) {
        if (i > 0) out += ',';
        out += to_output((*value.array)[i]);
      }
      return out;
    }
    case Kind::kObject:
    case Kind::kNamespace:
      return "[object Map]";
    case Kind::kFunction:
      function_text();
  }
  return {};
}

namespace {

// Approximates String.prototype.localeCompare (ICU root collation) for sort_keys: case-insensitive first,
// punctuation before digits before letters, lower case before upper case on ties.
int collation_rank(char c) {
  if (c >= '0' && c <= '9') return 1;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 2;
  return static_cast<unsigned char>(c) >= 0x80 ? 3 : 0;
}

bool locale_less(const std::string& a, const std::string& b) {
  const auto key = [](const std::string& s) {
    std::vector<std::pair<int, char>> k;
    for (char c : s) k.emplace_back(collation_rank(c), ascii_lower(std::string(1, c))[0]);
    return k;
  };
  const auto ka = key(a);
  const auto kb = key(b);
  if (ka != kb) return ka < kb;
  return b < a;  // on a case-only tie, lower case ('a' > 'A' in bytes) first
}

std::string json_container(const Value& value, const JsonOptions& options, int depth) {
  const bool indenting = options.indent > 0;
  const std::string item_sep = options.has_separators ? options.item_separator : indenting ? "," : ", ";
  const std::string key_sep = options.has_separators ? options.key_separator : ": ";
  const std::string unit(static_cast<std::size_t>(indenting ? options.indent : 0), ' ');
  std::string base = "\n";
  for (int i = 0; i < depth; ++i) base += unit;
  const std::string child = base + unit;
  std::vector<std::string> parts;
  if (value.is(Kind::kArray)) {
    for (const Value& item : value.items()) parts.push_back(to_json(item, options, depth + 1));
  } else {
    auto entries = value.object->entries();
    if (options.sort_keys) {
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto& a, const auto& b) { return locale_less(a.first, b.first); });
    }
    for (const auto& [key, item] : entries) {
      parts.push_back(json_quote(key, options.ensure_ascii) + key_sep + to_json(item, options, depth + 1));
    }
  }
  const bool is_array = value.is(Kind::kArray);
  std::string out(1, is_array ? '[' : '{');
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += item_sep;
    if (indenting) out += child;
    out += parts[i];
  }
  if (indenting && !parts.empty()) out += base;
  out += is_array ? ']' : '}';
  return out;
}

}  // namespace

std::string to_json(const Value& value, const JsonOptions& options, int depth) {
  switch (value.kind) {
    case Kind::kNull:
      return "null";
    case Kind::kUndefined:
      return options.undefined_as_null ? "null" : "undefined";
    case Kind::kBool:
      return value.flag ? "true" : "false";
    case Kind::kInt:
    case Kind::kFloat:
      return std::isfinite(value.number) ? js_number(value.number) : "null";
    case Kind::kString:
      return json_quote(value.text, options.ensure_ascii);
    case Kind::kFunction:
      fail("Cannot convert to JSON: FunctionValue");
    default:
      if (value.is(Kind::kArray) && value.flag) fail("cannot convert a tuple to JSON or text");
      return json_container(value, options, depth);
  }
}

Value from_json(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(static_cast<double>(json.get<std::int64_t>()));
    case nlohmann::ordered_json::value_t::number_unsigned:
      return Value::integer(static_cast<double>(json.get<std::uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: {
      const double n = json.get<double>();
      return std::isfinite(n) && std::floor(n) == n ? Value::integer(n) : Value::floating(n);
    }
    case nlohmann::ordered_json::value_t::string:
      return Value::string(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      for (const auto& item : json) items.push_back(from_json(item));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Object entries;
      for (const auto& [key, item] : json.items()) entries.set(key, from_json(item));
      return Value::dict(std::move(entries));
    }
    default:
      return Value::null();
  }
}

namespace {

// JavaScript's ToNumber on a string.
double string_to_number(const std::string& raw) {
  const std::string s = trim(raw);
  if (s.empty()) return 0;
  if (s == "Infinity" || s == "+Infinity") return INFINITY;
  if (s == "-Infinity") return -INFINITY;
  const bool prefixed = s.size() > 2 && s[0] == '0';
  const int base = !prefixed                      ? 10
                   : (s[1] == 'x' || s[1] == 'X') ? 16
                   : (s[1] == 'o' || s[1] == 'O') ? 8
                   : (s[1] == 'b' || s[1] == 'B') ? 2
                                                  : 10;
  if (base != 10) {
    char* end = nullptr;
    const double n = static_cast<double>(std::strtoull(s.c_str() + 2, &end, base));
    return *end == '\0' && std::isalnum(static_cast<unsigned char>(s[2])) ? n : NAN;
  }
  for (char c : s) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' || c == '+' ||
          c == '-')) {
      return NAN;
    }
  }
  char* end = nullptr;
  const double n = std::strtod(s.c_str(), &end);
  return *end == '\0' ? n : NAN;
}

bool is_container(const Value& v) {
  return v.is(Kind::kArray) || v.is_mapping() || v.is(Kind::kFunction);
}

bool same_container(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  if (a.is(Kind::kArray)) return a.array == b.array;
  if (a.is(Kind::kFunction)) return a.function == b.function;
  return a.object == b.object;
}

double to_number(const Value& v) {
  if (v.is(Kind::kBool)) return v.flag ? 1 : 0;
  if (v.is(Kind::kString)) return string_to_number(v.text);
  return v.number;
}

}  // namespace

bool loose_equals(const Value& a, const Value& b) {
  const auto nullish = [](const Value& v) { return v.is(Kind::kNull) || v.is(Kind::kUndefined); };
  if (nullish(a) || nullish(b)) return nullish(a) && nullish(b);
  if (is_container(a) && is_container(b)) return same_container(a, b);
  if (is_container(a) || is_container(b)) {
    const Value primitive_a = is_container(a) ? Value::string(to_js_string(a)) : a;
    const Value primitive_b = is_container(b) ? Value::string(to_js_string(b)) : b;
    return loose_equals(primitive_a, primitive_b);
  }
  if (a.is(Kind::kString) && b.is(Kind::kString)) return a.text == b.text;
  return to_number(a) == to_number(b);
}

bool strict_equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.number == b.number;
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kUndefined:
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return a.flag == b.flag;
    case Kind::kString:
      return a.text == b.text;
    default:
      return same_container(a, b);
  }
}

}  // namespace modelslim::core::jinja
