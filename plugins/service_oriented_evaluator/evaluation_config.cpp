// Parsing of `evaluation.evaluation`: the server the benchmark talks to, the prechecks, and either the
// reference's aisbench settings or the native runner's datasets.
#include "evaluation_config.hpp"

#include <algorithm>

#include "yaml_values.hpp"

namespace modelslim::service {
namespace {

const std::vector<std::string> kGarbledItems = {"empty_text", "repeated_char", "normal_char_ratio",
                                                "control_char", "repeated_pattern"};

std::vector<std::string> answers_of(const ConfigNode& node) {
  if (!node.defined()) return {};
  if (node.is_sequence()) return node.as_string_list();
  const std::string one = node.as_string();
  return one.empty() ? std::vector<std::string>{} : std::vector<std::string>{one};
}

PrecheckCase expected_case(const ConfigNode& item) {
  item.require_map();
  if (item.has("message")) {
    item.check_keys({"message", "expected_answer"});
    return {item["message"].as_string(), answers_of(item["expected_answer"]), {}};
  }
  if (item.size() != 1)
    item.fail("a test case is one pair {\"question\": answer} or {message: ..., expected_answer: ...}");
  const std::string message = item.keys().front();
  return {message, answers_of(item[message]), {}};
}

PrecheckCase garbled_case(const ConfigNode& item) {
  item.require_map();
  item.check_keys({"message", "items"});
  if (!item.has("message")) item.fail("missing required field 'message'");
  PrecheckCase c{item["message"].as_string(), {}, kGarbledItems};
  if (item.has("items")) {
    const ConfigNode items = item["items"];
    c.items = items.is_sequence() ? items.as_string_list() : std::vector<std::string>{items.as_string()};
    for (const std::string& name : c.items) {
      if (std::find(kGarbledItems.begin(), kGarbledItems.end(), name) == kGarbledItems.end())
        items.fail(
            "unknown check item '" + name +
            "' (available: empty_text, repeated_char, normal_char_ratio, control_char, repeated_pattern)");
    }
  }
  return c;
}

PrecheckRule parse_rule(const ConfigNode& node) {
  node.require_map();
  node.check_keys({"type", "test_cases", "max_tokens", "timeout", "api"});
  PrecheckRule rule;
  if (!node.has("type")) node.fail("missing required field 'type' (expected_answer or garbled_text)");
  rule.type = node.get_choice("type", {"expected_answer", "garbled_text"}, "");
  rule.max_tokens = static_cast<int>(node.get_int("max_tokens", rule.max_tokens));
  if (rule.max_tokens <= 0) node["max_tokens"].fail("must be > 0");
  rule.timeout = node.get_double("timeout", rule.timeout);
  if (rule.timeout <= 0) node["timeout"].fail("must be a positive number of seconds");
  rule.api = node.get_choice("api", {"chat", "completions"}, rule.api);
  const bool expected = rule.type == "expected_answer";
  const ConfigNode cases = node["test_cases"];
  if (!cases.defined()) {
    rule.cases.push_back(expected ? PrecheckCase{"What is 2+2?", {"4"}, {}}
                                  : PrecheckCase{"How are you?", {}, kGarbledItems});
    return rule;
  }
  const std::vector<ConfigNode> list = cases.is_sequence() ? cases.items() : std::vector<ConfigNode>{cases};
  for (const ConfigNode& item : list)
    rule.cases.push_back(expected ? expected_case(item) : garbled_case(item));
  if (rule.cases.empty()) cases.fail("must contain at least one test case");
  return rule;
}

}  // namespace

std::vector<PrecheckRule> parse_precheck(const ConfigNode& node) {
  std::vector<PrecheckRule> rules;
  if (!node.defined()) return rules;
  if (node.is_map()) return {parse_rule(node)};  // one rule given without a list, as the reference allows
  node.require_sequence();
  for (const ConfigNode& item : node.items()) rules.push_back(parse_rule(item));
  return rules;
}

Server parse_server(const ConfigNode& node) {
  Server server;
  server.host = node.get_string("host", server.host);
  server.port = static_cast<int>(node.get_int("port", server.port));
  if (server.port < 1 || server.port > 65535) node["port"].fail("must be a port number from 1 to 65535");
  server.served_model_name = node.get_string("served_model_name", server.served_model_name);
  if (server.served_model_name.empty()) node["served_model_name"].fail("must not be empty");
  return server;
}

}  // namespace modelslim::service
