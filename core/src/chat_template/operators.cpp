// Binary and unary operators and slicing, as @huggingface/jinja evaluates them (JavaScript arithmetic: '%'
// keeps the dividend's sign; '+' concatenates when either side is a string).
#include <algorithm>
#include <cmath>

#include "errors.hpp"
#include "interpreter.hpp"
#include "js_text.hpp"

namespace modelslim::core::jinja {
namespace {

bool numeric_like(const Value& v) {
  return v.is_number() || v.is(Kind::kBool);
}
double numeric(const Value& v) {
  return v.is(Kind::kBool) ? (v.flag ? 1 : 0) : v.number;
}

Value number_result(double n, bool is_float) {
  return is_float ? Value::floating(n) : Value::integer(n);
}

Value power(const Value& left, const Value& right) {
  const double a = numeric(left);
  const double b = numeric(right);
  if (a == 0 && b < 0) fail("0.0 cannot be raised to a negative power");
  const double result = std::pow(a, b);
  if (!std::isfinite(result)) fail("exponentiation result is not a finite real number");
  return number_result(result, left.is(Kind::kFloat) || right.is(Kind::kFloat) || b < 0);
}

Value arithmetic(const std::string& op, const Value& left, const Value& right) {
  const double a = left.number;
  const double b = right.number;
  const bool is_float = left.is(Kind::kFloat) || right.is(Kind::kFloat);
  if (op == "+") return number_result(a + b, is_float);
  if (op == "-") return number_result(a - b, is_float);
  if (op == "*") return number_result(a * b, is_float);
  if (op == "/") return Value::floating(a / b);
  if (op == "//") return number_result(std::floor(a / b), is_float);
  if (op == "%") return number_result(std::fmod(a, b), is_float);
  if (op == "<") return Value::boolean(a < b);
  if (op == ">") return Value::boolean(a > b);
  if (op == "<=") return Value::boolean(a <= b);
  if (op == ">=") return Value::boolean(a >= b);
  return Value::undefined();
}

bool contains(const std::vector<Value>& items, const Value& needle) {
  return std::any_of(items.begin(), items.end(), [&](const Value& x) { return strict_equals(x, needle); });
}

// Python-style slice bounds as @huggingface/jinja's utils.slice computes them.
std::vector<std::size_t> slice_indices(std::size_t size, const Value& start_v, const Value& stop_v,
                                       double step) {
  const double n = static_cast<double>(size);
  double start = 0;
  double stop = 0;
  if (step >= 0) {
    start = start_v.is(Kind::kUndefined) ? 0 : start_v.number;
    start = start < 0 ? std::max(n + start, 0.0) : std::min(start, n);
    stop = stop_v.is(Kind::kUndefined) ? n : stop_v.number;
    stop = stop < 0 ? std::max(n + stop, 0.0) : std::min(stop, n);
  } else {
    start = start_v.is(Kind::kUndefined) ? n - 1 : start_v.number;
    start = start < 0 ? std::max(n + start, -1.0) : std::min(start, n - 1);
    stop = stop_v.is(Kind::kUndefined) ? -1 : stop_v.number;
    stop = stop < -1 ? std::max(n + stop, -1.0) : std::min(stop, n - 1);
  }
  const double direction = step > 0 ? 1 : step < 0 ? -1 : 0;
  std::vector<std::size_t> indices;
  for (double i = start; direction * i < direction * stop; i += step)
    indices.push_back(static_cast<std::size_t>(i));
  return indices;
}

}  // namespace

Value binary_operator(const std::string& op, const Value& left, const Value& right) {
  const std::string pair = std::string(type_name(left)) + " and " + type_name(right);
  if (left.is(Kind::kUndefined) || right.is(Kind::kUndefined)) {
    if (right.is(Kind::kUndefined) && (op == "in" || op == "not in")) return Value::boolean(op == "not in");
    fail("cannot apply '" + op + "' to an undefined value (" + pair + ")");
  }
  if (left.is(Kind::kNull) || right.is(Kind::kNull)) fail("cannot apply '" + op + "' to none (" + pair + ")");
  if (op == "~") {
    std::string text = to_js_string(left) + to_js_string(right);
    check_text_size(text.size());
    return Value::string(std::move(text));
  }
  if (op == "**" && numeric_like(left) && numeric_like(right)) return power(left, right);
  if (left.is_number() && right.is_number()) {
    Value result = arithmetic(op, left, right);
    if (!result.is(Kind::kUndefined)) return result;
  } else if (left.is(Kind::kArray) && right.is(Kind::kArray)) {
    if (op == "+") {
      check_list_size(left.items().size() + right.items().size());
      std::vector<Value> items = left.items();
      items.insert(items.end(), right.items().begin(), right.items().end());
      return Value::list(std::move(items));
    }
  } else if (right.is(Kind::kArray) && (op == "in" || op == "not in")) {
    return Value::boolean(contains(right.items(), left) == (op == "in"));
  }
  if ((left.is(Kind::kString) || right.is(Kind::kString)) && op == "+") {
    std::string text = to_js_string(left);
    text += to_js_string(right);
    check_text_size(text.size());
    return Value::string(std::move(text));
  }
  if (left.is(Kind::kString) && right.is(Kind::kString) && (op == "in" || op == "not in")) {
    return Value::boolean((right.text.find(left.text) != std::string::npos) == (op == "in"));
  }
  if (left.is(Kind::kString) && right.is(Kind::kObject) && (op == "in" || op == "not in")) {
    return Value::boolean((right.object->find(left.text) != nullptr) == (op == "in"));
  }
  fail("unsupported operator '" + op + "' between " + pair);
}

Value unary_operator(const std::string& op, const Value& operand) {
  if (!numeric_like(operand)) fail("unsupported operator '" + op + "' for " + type_name(operand));
  const double value = (op == "-" ? -1 : 1) * numeric(operand);
  return operand.is(Kind::kFloat) ? Value::floating(value) : Value::integer(value);
}

Value slice_value(const Value& object, const Value& start, const Value& stop, const Value& step) {
  if (!object.is(Kind::kArray) && !object.is(Kind::kString)) fail("only lists and strings can be sliced");
  for (const Value* part : {&start, &stop, &step}) {
    if (!part->is(Kind::kInt) && !part->is(Kind::kUndefined)) fail("slice bounds must be integers");
  }
  const double step_n = step.is(Kind::kUndefined) ? 1 : step.number;
  if (object.is(Kind::kArray)) {
    std::vector<Value> items;
    for (std::size_t i : slice_indices(object.items().size(), start, stop, step_n))
      items.push_back(object.items()[i]);
    return Value::list(std::move(items));
  }
  const std::vector<std::string> chars = code_points(object.text);
  std::string text;
  for (std::size_t i : slice_indices(chars.size(), start, stop, step_n)) text += chars[i];
  return Value::string(std::move(text));
}

}  // namespace modelslim::core::jinja
