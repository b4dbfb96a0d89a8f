#include "yaml_values.hpp"

#include <cstdlib>

namespace modelslim::service {
namespace {

nlohmann::json scalar_json(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted: always a string
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (text == "null" || text == "Null" || text == "NULL" || text == "~" || text.empty()) return nullptr;
  char* end = nullptr;
  const long long integer = std::strtoll(text.c_str(), &end, 10);
  if (end != text.c_str() && *end == '\0') return integer;
  const double real = std::strtod(text.c_str(), &end);
  if (end != text.c_str() && *end == '\0') return real;
  return text;
}

std::string python_string(const std::string& text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\\' || c == '\'') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "'";
}

}  // namespace

nlohmann::json json_of(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return nullptr;
  if (node.IsScalar()) return scalar_json(node);
  if (node.IsSequence()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& item : node) list.push_back(json_of(item));
    return list;
  }
  nlohmann::json map = nlohmann::json::object();
  for (const auto& entry : node) map[entry.first.as<std::string>()] = json_of(entry.second);
  return map;
}

std::string python_literal(const nlohmann::json& value) {
  if (value.is_null()) return "None";
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_string()) return python_string(value.get<std::string>());
  if (value.is_number()) return value.dump();
  std::string out = value.is_array() ? "[" : "{";
  bool first = true;
  for (auto it = value.begin(); it != value.end(); ++it) {
    out += first ? "" : ", ";
    first = false;
    out += value.is_array() ? python_literal(*it) : python_string(it.key()) + ": " + python_literal(*it);
  }
  return out + (value.is_array() ? "]" : "}");
}

}  // namespace modelslim::service
