// Parsing of `inference_engine`.
#include "service_config.hpp"
#include "yaml_values.hpp"

namespace modelslim::service {
namespace {

const std::vector<std::string> kEngineTypes = {"vllm-ascend", "vllm", "sglang", "modelslim", "command"};

std::string default_entrypoint(const std::string& type) {
  if (type == "sglang") return "sglang.launch_server";
  if (type == "modelslim" || type == "command") return "";
  return "vllm.entrypoints.openai.api_server";
}

void check_port(const ConfigNode& node, std::int64_t port) {
  if (port < 1 || port > 65535) node.fail("must be a port number from 1 to 65535");
}

std::string scalar_text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

std::vector<std::string> map_engine_args(const ConfigNode& args) {
  std::vector<std::string> flags;
  if (!args.defined()) return flags;
  args.require_map();
  for (const std::string& key : args.keys()) {
    const nlohmann::json value = json_of(args[key].yaml());
    const std::string flag = "--" + key;
    if (value.is_null() || (value.is_boolean() && !value.get<bool>())) continue;
    flags.push_back(flag);
    if (value.is_boolean()) continue;
    if (value.is_object()) {
      flags.push_back(value.dump());
    } else if (value.is_array()) {
      for (const auto& item : value) flags.push_back(scalar_text(item));
    } else {
      flags.push_back(scalar_text(value));
    }
  }
  return flags;
}

EngineConfig parse_engine(const ConfigNode& node) {
  if (!node.defined())
    node.fail("missing required section 'inference_engine' (the engine that serves each candidate)");
  node.require_map();
  node.check_keys({"type", "entrypoint", "python", "env_vars", "served_model_name", "host", "port",
                   "health_check_endpoint", "startup_timeout", "stop_timeout", "args", "command"});
  EngineConfig engine;
  engine.type = node.get_choice("type", kEngineTypes, engine.type);
  engine.entrypoint = node.get_string("entrypoint", default_entrypoint(engine.type));
  engine.python = node.get_string("python", engine.python);
  if (node.has("env_vars")) {
    const ConfigNode env = node["env_vars"];
    env.require_map();
    for (const std::string& key : env.keys()) {
      const nlohmann::json value = json_of(env[key].yaml());
      if (value.is_object() || value.is_array()) env[key].fail("must be a scalar (the variable's value)");
      engine.env_vars.emplace_back(key, value.is_null() ? "" : scalar_text(value));
    }
  }
  engine.served_model_name = node.get_string("served_model_name", engine.served_model_name);
  if (engine.served_model_name.empty()) node["served_model_name"].fail("must not be empty");
  engine.host = node.get_string("host", engine.host);
  engine.port = static_cast<int>(node.get_int("port", engine.port));
  check_port(node["port"], engine.port);
  engine.health_check_endpoint = node.get_string("health_check_endpoint", engine.health_check_endpoint);
  if (engine.health_check_endpoint.empty() || engine.health_check_endpoint[0] != '/')
    node["health_check_endpoint"].fail("must be an HTTP path starting with '/' (e.g. /v1/models)");
  engine.startup_timeout = node.get_double("startup_timeout", engine.startup_timeout);
  if (engine.startup_timeout <= 0) node["startup_timeout"].fail("must be a positive number of seconds");
  engine.stop_timeout = node.get_double("stop_timeout", engine.stop_timeout);
  if (engine.stop_timeout <= 0) node["stop_timeout"].fail("must be a positive number of seconds");
  engine.args = map_engine_args(node["args"]);
  if (node.has("args")) {
    for (const std::string& key : node["args"].keys())
      engine.args_name_model =
          engine.args_name_model || key == "served-model-name" || key == "served_model_name";
  }
  if (engine.type == "command") {
    if (!node.has("command"))
      node.fail(
          "type 'command' needs 'command': the engine's argv, e.g. [my_server, --model, '{model}', --port, "
          "'{port}']");
    engine.command = node["command"].as_string_list();
    if (engine.command.empty()) node["command"].fail("must name at least the program to run");
  } else if (node.has("command")) {
    node["command"].fail("applies to type 'command' only (this engine is '" + engine.type + "')");
  }
  return engine;
}

}  // namespace modelslim::service
