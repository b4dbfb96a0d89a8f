// Parsing of the reference's `evaluation.evaluation.aisbench` and `datasets` (type aisbench).
#include "evaluation_config.hpp"

namespace modelslim::service {
namespace {

int positive_int(const ConfigNode& node, const std::string& key, int fallback) {
  const auto value = node.get_int(key, fallback);
  if (value <= 0) node[key].fail("must be > 0");
  return static_cast<int>(value);
}

AisbenchModelMeta parse_meta(const ConfigNode& node) {
  AisbenchModelMeta meta;
  if (!node.defined()) return meta;
  node.require_map();
  node.check_keys({"directory", "subdir", "base_name", "name_suffix", "abbr", "attr"});
  meta.directory = node.get_string("directory", meta.directory);
  meta.subdir = node.get_string("subdir", meta.subdir);
  meta.base_name = node.get_string("base_name", meta.base_name);
  meta.name_suffix = node.get_string("name_suffix", meta.name_suffix);
  meta.abbr = node.get_string("abbr", meta.abbr);
  meta.attr = node.get_string("attr", meta.attr);
  return meta;
}

}  // namespace

AisbenchSettings parse_aisbench(const ConfigNode& node) {
  AisbenchSettings s;
  if (!node.defined()) return s;
  node.require_map();
  node.check_keys({"binary", "mode", "timeout", "cleanup_model_config", "model_meta", "request_rate",
                   "pred_postprocessor", "retry", "batch_size", "max_out_len", "trust_remote_code",
                   "generation_kwargs", "extra_args", "log_dir", "default_metric_keys"});
  s.binary = node.get_choice("binary", {"ais_bench"}, s.binary);
  s.mode = node.get_string("mode", s.mode);
  s.timeout = positive_int(node, "timeout", static_cast<int>(s.timeout));
  s.cleanup_model_config = node.get_bool("cleanup_model_config", s.cleanup_model_config);
  s.model_meta = parse_meta(node["model_meta"]);
  s.request_rate = node.get_double("request_rate", s.request_rate);
  if (s.request_rate <= 0) node["request_rate"].fail("must be > 0");
  s.pred_postprocessor = node.get_string("pred_postprocessor", s.pred_postprocessor);
  s.retry = static_cast<int>(node.get_int("retry", s.retry));
  if (s.retry < 0) node["retry"].fail("must be >= 0");
  s.batch_size = positive_int(node, "batch_size", s.batch_size);
  s.max_out_len = positive_int(node, "max_out_len", s.max_out_len);
  s.trust_remote_code = node.get_bool("trust_remote_code", s.trust_remote_code);
  if (node.has("generation_kwargs")) {
    node["generation_kwargs"].require_map();
    s.generation_kwargs = node["generation_kwargs"].yaml();
  }
  s.extra_args = node.get_string_list("extra_args", {});
  s.log_dir = node.get_string("log_dir", "");
  s.metric_keys = node.get_string_list("default_metric_keys", s.metric_keys);
  return s;
}

std::vector<AisbenchDataset> parse_aisbench_datasets(const ConfigNode& node) {
  std::vector<AisbenchDataset> datasets;
  if (!node.defined()) node.fail("missing required field 'datasets' ({name: {config_name: ...}})");
  node.require_map();
  for (const std::string& name : node.keys()) {
    const ConfigNode d = node[name];
    d.require_map();
    d.check_keys({"config_name", "mode", "request_rate", "max_out_len", "returns_tool_calls", "api_chat_type",
                  "chat_template_kwargs", "extra_args"});
    AisbenchDataset out;
    out.name = name;
    if (!d.has("config_name"))
      d.fail("missing required field 'config_name' (the dataset's ais_bench config)");
    out.config_name = d["config_name"].as_string();
    if (out.config_name.empty()) d["config_name"].fail("must not be empty");
    out.mode = d.get_string("mode", "");
    out.request_rate = d.get_double("request_rate", 0.0);
    if (out.request_rate < 0) d["request_rate"].fail("must be >= 0 (0: the aisbench default)");
    if (d.has("max_out_len")) out.max_out_len = positive_int(d, "max_out_len", 1);
    if (d.has("returns_tool_calls")) out.returns_tool_calls = d["returns_tool_calls"].as_bool();
    out.api_chat_type = d.get_string("api_chat_type", out.api_chat_type);
    if (d.has("chat_template_kwargs")) out.chat_template_kwargs = d["chat_template_kwargs"].yaml();
    out.extra_args = d.get_string_list("extra_args", {});
    datasets.push_back(std::move(out));
  }
  return datasets;
}

}  // namespace modelslim::service
