// Runtime values of the template language, modelled on @huggingface/jinja's RuntimeValue classes: numbers are
// doubles tagged integer or float (JavaScript numbers), containers are shared (a namespace is mutable and
// seen by every holder), objects keep insertion order.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelslim::core::jinja {

struct Value;
struct CallArgs;
class Scope;
using Function = std::function<Value(const CallArgs&)>;

enum class Kind { kUndefined, kNull, kBool, kInt, kFloat, kString, kArray, kObject, kNamespace, kFunction };

// An insertion-ordered string map.
class Object {
 public:
  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value value);
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<std::string, Value>> entries_;
  std::unordered_map<std::string, std::size_t> index_;
};

struct Value {
  Kind kind = Kind::kUndefined;
  bool flag = false;  // kBool: the value; kArray: a tuple; kObject: keyword arguments
  double number = 0;
  std::string text;
  std::shared_ptr<std::vector<Value>> array;
  std::shared_ptr<Object> object;  // kObject and kNamespace
  std::shared_ptr<const Function> function;

  static Value undefined() { return {}; }
  static Value null();
  static Value boolean(bool b);
  static Value integer(double n);
  static Value floating(double n);
  static Value string(std::string s);
  static Value list(std::vector<Value> items, bool tuple = false);
  static Value dict(Object entries, Kind kind = Kind::kObject);
  static Value callable(Function f);

  bool is(Kind k) const { return kind == k; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  bool is_mapping() const { return kind == Kind::kObject || kind == Kind::kNamespace; }
  const std::vector<Value>& items() const { return *array; }

 private:
  static Value make(Kind k);
};

struct CallArgs {
  std::vector<Value> positional;
  Object keywords;
  Scope* caller = nullptr;  // the calling scope (macros resolve free names there, as @huggingface/jinja does)
  // The arguments as @huggingface/jinja passes them to builtins: keywords, if any, as a trailing object.
  std::vector<Value> flattened() const;
};

// The name @huggingface/jinja uses for the kind in its messages ("StringValue", ...).
const char* type_name(const Value& value);
bool truthy(const Value& value);
// RuntimeValue.toString(): what {{ value }} prints.
std::string to_output(const Value& value);
// JavaScript's String(value.value): what '+' and '~' concatenate.
std::string to_js_string(const Value& value);

struct JsonOptions {
  int indent = 0;
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool has_separators = false;
  std::string item_separator;
  std::string key_separator;
  bool undefined_as_null = true;
};
std::string to_json(const Value& value, const JsonOptions& options, int depth = 0);

Value from_json(const nlohmann::ordered_json& json);

// JavaScript's == on the wrapped values, and === (used by `in` on arrays).
bool loose_equals(const Value& a, const Value& b);
bool strict_equals(const Value& a, const Value& b);

}  // namespace modelslim::core::jinja
