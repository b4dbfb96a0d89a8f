// Object methods (get, items, keys, values, dictsort), the tests of `x is name`, and the global names.
#include <algorithm>
#include <chrono>
#include <ctime>

#include "errors.hpp"
#include "interpreter.hpp"
#include "js_text.hpp"

namespace modelslim::core::jinja {

int compare_values(const Value& a, const Value& b, bool case_sensitive);

namespace {

Value pairs(const Value& self) {
  std::vector<Value> items;
  for (const auto& [key, value] : self.object->entries())
    items.push_back(Value::list({Value::string(key), value}));
  return Value::list(std::move(items));
}

Value dictsort(const Value& self, const std::vector<Value>& all) {
  std::vector<Value> positional = all;
  Object keywords;
  if (!positional.empty() && positional.back().is(Kind::kObject) && positional.back().flag) {
    keywords = *positional.back().object;
    positional.pop_back();
  }
  const auto option = [&](std::size_t i, const char* key, Value fallback) {
    if (i < positional.size()) return positional[i];
    const Value* found = keywords.find(key);
    return found ? *found : fallback;
  };
  const Value case_sensitive = option(0, "case_sensitive", Value::boolean(false));
  const Value by = option(1, "by", Value::string("key"));
  const Value reverse = option(2, "reverse", Value::boolean(false));
  if (!case_sensitive.is(Kind::kBool) || !reverse.is(Kind::kBool))
    fail("dictsort: case_sensitive and reverse must be booleans");
  if (!by.is(Kind::kString) || (by.text != "key" && by.text != "value"))
    fail("dictsort: by must be 'key' or 'value'");
  std::vector<Value> items = pairs(self).items();
  const std::size_t index = by.text == "key" ? 0 : 1;
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    const int c = compare_values(a.items()[index], b.items()[index], case_sensitive.flag);
    return reverse.flag ? c > 0 : c < 0;
  });
  return Value::list(std::move(items));
}

bool is_lower_or_upper(const Value& v, bool upper) {
  if (!v.is(Kind::kString)) fail(std::string("test '") + (upper ? "upper" : "lower") + "' needs a string");
  return v.text == (upper ? ascii_upper(v.text) : ascii_lower(v.text));
}

std::string strftime_now(const std::string& format) {
  static const char* const kLong[] = {"January", "February", "March",     "April",   "May",      "June",
                                      "July",    "August",   "September", "October", "November", "December"};
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);
  const auto pad2 = [](int n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char c = i + 1 < format.size() && format[i] == '%' ? format[i + 1] : '\0';
    std::string piece;
    switch (c) {
      case 'Y':
        piece = std::to_string(local.tm_year + 1900);
        break;
      case 'm':
        piece = pad2(local.tm_mon + 1);
        break;
      case 'd':
        piece = pad2(local.tm_mday);
        break;
      case 'b':
        piece = std::string(kLong[local.tm_mon]).substr(0, 3);
        break;
      case 'B':
        piece = kLong[local.tm_mon];
        break;
      case 'H':
        piece = pad2(local.tm_hour);
        break;
      case 'M':
        piece = pad2(local.tm_min);
        break;
      case '%':
        piece = "%";
        break;
      default:
        out += format[i];
        continue;
    }
    out += piece;
    ++i;
  }
  return out;
}

Value range(const CallArgs& args) {
  const auto all = args.flattened();
  if (all.empty() || all.size() > 3) fail("range() takes 1 to 3 numbers");
  for (const Value& v : all) {
    if (!v.is_number()) fail(std::string("range() arguments must be numbers, got ") + type_name(v));
  }
  double start = all.size() > 1 ? all[0].number : 0;
  const double stop = all.size() > 1 ? all[1].number : all[0].number;
  const double step = all.size() > 2 ? all[2].number : 1;
  if (step == 0) fail("range() step must not be zero");
  std::vector<Value> items;
  for (double i = start; step > 0 ? i < stop : i > stop; i += step) {
    check_list_size(items.size() + 1);
    items.push_back(std::floor(i) == i ? Value::integer(i) : Value::floating(i));
  }
  return Value::list(std::move(items));
}

Value make_namespace(const CallArgs& args) {
  if (args.positional.size() > 1) fail("namespace() takes at most 1 positional argument");
  Object entries;
  if (args.positional.size() == 1) {
    const Value& source = args.positional[0];
    if (source.is(Kind::kObject)) {
      for (const auto& [key, value] : source.object->entries()) entries.set(key, value);
    } else if (source.is(Kind::kArray)) {
      for (const Value& pair : source.items()) {
        if (!pair.is(Kind::kArray) || pair.items().size() != 2 || !pair.items()[0].is(Kind::kString)) {
          fail("namespace() expects an object or a list of [key, value] pairs");
        }
        entries.set(pair.items()[0].text, pair.items()[1]);
      }
    } else {
      fail(std::string("namespace() cannot take ") + type_name(source));
    }
  }
  for (const auto& [key, value] : args.keywords.entries()) entries.set(key, value);
  return Value::dict(std::move(entries), Kind::kNamespace);
}

}  // namespace

Value object_method(const Value& self, const std::string& name) {
  if (name == "get") {
    return Value::callable([self](const CallArgs& args) {
      const auto all = args.flattened();
      if (all.empty() || !all[0].is(Kind::kString)) {
        fail(std::string("object key must be a string: got ") +
             (all.empty() ? "UndefinedValue" : type_name(all[0])));
      }
      if (const Value* found = self.object->find(all[0].text)) return *found;
      return all.size() > 1 ? all[1] : Value::null();
    });
  }
  if (name == "items") return Value::callable([self](const CallArgs&) { return pairs(self); });
  if (name == "keys" || name == "values") {
    const bool keys = name == "keys";
    return Value::callable([self, keys](const CallArgs&) {
      std::vector<Value> items;
      for (const auto& [key, value] : self.object->entries())
        items.push_back(keys ? Value::string(key) : value);
      return Value::list(std::move(items));
    });
  }
  if (name == "dictsort")
    return Value::callable([self](const CallArgs& args) { return dictsort(self, args.flattened()); });
  return Value::undefined();
}

bool run_test(const std::string& name, const Value& v, const Value* argument) {
  if (name == "defined") return !v.is(Kind::kUndefined);
  if (name == "undefined") return v.is(Kind::kUndefined);
  if (name == "none") return v.is(Kind::kNull);
  if (name == "boolean") return v.is(Kind::kBool);
  if (name == "true" || name == "false") return v.is(Kind::kBool) && v.flag == (name == "true");
  if (name == "string") return v.is(Kind::kString);
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is(Kind::kInt);
  if (name == "iterable") return v.is(Kind::kArray) || v.is(Kind::kString);
  if (name == "mapping") return v.is(Kind::kObject);
  if (name == "sequence") return v.is(Kind::kArray) || v.is(Kind::kObject) || v.is(Kind::kString);
  if (name == "callable") return v.is(Kind::kFunction);
  if (name == "lower" || name == "upper") return is_lower_or_upper(v, name == "upper");
  if (name == "odd" || name == "even") {
    if (!v.is(Kind::kInt)) fail("test '" + name + "' needs an integer, got " + type_name(v));
    return (std::fmod(v.number, 2) != 0) == (name == "odd");
  }
  if (name == "equalto" || name == "eq") {
    if (argument == nullptr) fail("test '" + name + "' needs a value to compare with");
    return strict_equals(v, *argument);
  }
  fail("unknown test '" + name +
       "' (supported: defined, undefined, none, boolean, true, false, string, number, integer, iterable, "
       "mapping, "
       "sequence, callable, lower, upper, odd, even, equalto)");
}

void install_globals(Scope& globals) {
  globals.set("namespace", Value::callable(make_namespace));
  for (const char* name : {"true", "True"}) globals.set(name, Value::boolean(true));
  for (const char* name : {"false", "False"}) globals.set(name, Value::boolean(false));
  for (const char* name : {"none", "None"}) globals.set(name, Value::null());
  globals.set("raise_exception", Value::callable([](const CallArgs& args) -> Value {
                const auto all = args.flattened();
                throw RaiseSignal(all.empty() ? "undefined" : to_js_string(all[0]));
              }));
  globals.set("range", Value::callable(range));
  globals.set("strftime_now", Value::callable([](const CallArgs& args) {
                const auto all = args.flattened();
                if (all.empty() || !all[0].is(Kind::kString)) fail("strftime_now() needs a format string");
                return Value::string(strftime_now(all[0].text));
              }));
}

}  // namespace modelslim::core::jinja
