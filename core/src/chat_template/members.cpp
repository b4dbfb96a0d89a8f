// obj.name and obj[key]: object entries, list and string items, and the builtin methods @huggingface/jinja
// gives strings (upper, strip, split, startswith, replace, ...) and objects (get, items, keys, values).
#include <cmath>

#include "errors.hpp"
#include "interpreter.hpp"
#include "js_text.hpp"

namespace modelslim::core::jinja {

// String and object methods shared with filters.cpp.
Value string_method(const std::string& self, const std::string& name);
Value object_method(const Value& self, const std::string& name);
std::string replace_all(const std::string& text, const std::string& from, const std::string& to,
                        double count);

namespace {

Value method(Function f) {
  return Value::callable(std::move(f));
}

bool affix_match(const std::string& self, const Value& pattern, bool prefix, const char* name) {
  const auto match = [&](const std::string& p) {
    return p.size() <= self.size() && self.compare(prefix ? 0 : self.size() - p.size(), p.size(), p) == 0;
  };
  if (pattern.is(Kind::kString)) return match(pattern.text);
  if (!pattern.is(Kind::kArray)) fail(std::string(name) + "() argument must be a string or tuple of strings");
  for (const Value& item : pattern.items()) {
    if (!item.is(Kind::kString)) fail(std::string(name) + "() tuple elements must be strings");
    if (match(item.text)) return true;
  }
  return false;
}

Value split(const std::string& self, const std::vector<Value>& args) {
  const Value sep = args.empty() ? Value::null() : args[0];
  const Value maxsplit = args.size() > 1 ? args[1] : Value::integer(-1);
  if (!sep.is(Kind::kString) && !sep.is(Kind::kNull)) fail("split() separator must be a string or none");
  if (!maxsplit.is(Kind::kInt)) fail("split() maxsplit must be a number");
  const double limit = maxsplit.number;
  std::vector<Value> parts;
  if (sep.is(Kind::kNull)) {
    const std::string text = trim_start(self);
    std::size_t pos = 0;
    while (pos < text.size()) {
      if (limit != -1 && static_cast<double>(parts.size()) >= limit) {
        parts.push_back(Value::string(text.substr(pos)));
        break;
      }
      std::size_t end = pos;
      while (end < text.size() && space_at(text, end) == 0) ++end;
      parts.push_back(Value::string(text.substr(pos, end - pos)));
      pos = end;
      for (std::size_t n = 0; (n = space_at(text, pos)) > 0;) pos += n;
    }
    return Value::list(std::move(parts));
  }
  if (sep.text.empty()) fail("split() separator is empty");
  std::size_t pos = 0;
  for (std::size_t hit; (hit = self.find(sep.text, pos)) != std::string::npos; pos = hit + sep.text.size()) {
    if (limit != -1 && static_cast<double>(parts.size()) >= limit) break;
    parts.push_back(Value::string(self.substr(pos, hit - pos)));
  }
  parts.push_back(Value::string(self.substr(pos)));
  check_list_size(parts.size());
  return Value::list(std::move(parts));
}

Value string_replace(const std::string& self, const std::vector<Value>& args) {
  if (args.size() < 2) fail("replace() requires at least two arguments");
  if (!args[0].is(Kind::kString) || !args[1].is(Kind::kString)) fail("replace() arguments must be strings");
  Value count = Value::null();
  if (args.size() > 2) {
    const Value* keyword =
        args[2].is(Kind::kObject) && args[2].flag ? args[2].object->find("count") : nullptr;
    count = args[2].is(Kind::kObject) && args[2].flag ? (keyword ? *keyword : Value::null()) : args[2];
  }
  if (!count.is(Kind::kInt) && !count.is(Kind::kNull)) fail("replace() count must be a number or none");
  return Value::string(
      replace_all(self, args[0].text, args[1].text, count.is(Kind::kNull) ? -1 : count.number));
}

}  // namespace

std::string replace_all(const std::string& text, const std::string& from, const std::string& to,
                        double count) {
  if (count == 0) return text;
  double remaining = count < 0 ? INFINITY : count;
  std::string out;
  if (from.empty()) {
    for (const std::string& piece : code_points(text)) {
      if (remaining-- > 0) out += to;
      out += piece;
    }
    if (remaining > 0) out += to;
  } else {
    std::size_t pos = 0;
    for (std::size_t hit; remaining > 0 && (hit = text.find(from, pos)) != std::string::npos; --remaining) {
      out.append(text, pos, hit - pos);
      out += to;
      pos = hit + from.size();
      check_text_size(out.size());
    }
    out.append(text, pos, std::string::npos);
  }
  check_text_size(out.size());
  return out;
}

Value string_method(const std::string& self, const std::string& name) {
  using Args = const CallArgs&;
  if (name == "length") return Value::integer(static_cast<double>(utf16_length(self)));
  if (name == "upper") return method([self](Args) { return Value::string(ascii_upper(self)); });
  if (name == "lower") return method([self](Args) { return Value::string(ascii_lower(self)); });
  if (name == "strip") return method([self](Args) { return Value::string(trim(self)); });
  if (name == "lstrip") return method([self](Args) { return Value::string(trim_start(self)); });
  if (name == "rstrip") return method([self](Args) { return Value::string(trim_end(self)); });
  if (name == "title") {
    return method([self](Args) {
      std::string out = self;
      for (std::size_t i = 0; i < out.size(); ++i) {
        if (is_word_char(out[i]) && (i == 0 || !is_word_char(out[i - 1])))
          out[i] = ascii_upper(out.substr(i, 1))[0];
      }
      return Value::string(out);
    });
  }
  if (name == "capitalize") {
    return method([self](Args) {
      return Value::string(ascii_upper(self.substr(0, 1)) + self.substr(self.empty() ? 0 : 1));
    });
  }
  if (name == "startswith" || name == "endswith") {
    const bool prefix = name == "startswith";
    return method([self, prefix](Args args) {
      const auto all = args.flattened();
      if (all.empty()) fail(prefix ? "startswith() requires an argument" : "endswith() requires an argument");
      return Value::boolean(affix_match(self, all[0], prefix, prefix ? "startswith" : "endswith"));
    });
  }
  if (name == "split") return method([self](Args args) { return split(self, args.flattened()); });
  if (name == "replace") return method([self](Args args) { return string_replace(self, args.flattened()); });
  return Value::undefined();
}

Value object_method(const Value& self, const std::string& name);

Value member_of(const Value& object, const Value& property) {
  if (object.is_mapping()) {
    if (!property.is(Kind::kString))
      fail(std::string("cannot access a property with a non-string key: got ") + type_name(property));
    if (const Value* found = object.object->find(property.text)) return *found;
    return object.is(Kind::kObject) ? object_method(object, property.text) : Value::undefined();
  }
  if (object.is(Kind::kArray) || object.is(Kind::kString)) {
    if (property.is(Kind::kInt)) {
      // JavaScript's .at(): negative indexes count from the end (strings by code point here; see docs).
      const std::vector<std::string> chars =
          object.is(Kind::kString) ? code_points(object.text) : std::vector<std::string>{};
      const double size =
          static_cast<double>(object.is(Kind::kString) ? chars.size() : object.items().size());
      const double index = property.number < 0 ? size + property.number : property.number;
      if (index < 0 || index >= size) return Value::undefined();
      const auto i = static_cast<std::size_t>(index);
      return object.is(Kind::kString) ? Value::string(chars[i]) : object.items()[i];
    }
    if (!property.is(Kind::kString)) fail(std::string("cannot index with ") + type_name(property));
    if (object.is(Kind::kString)) return string_method(object.text, property.text);
    if (property.text == "length") return Value::integer(static_cast<double>(object.items().size()));
    return Value::undefined();
  }
  if (!property.is(Kind::kString))
    fail(std::string("cannot access a property with a non-string key: got ") + type_name(property));
  return Value::undefined();
}

}  // namespace modelslim::core::jinja
