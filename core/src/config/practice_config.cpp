#include "modelslim/core/practice_config.hpp"

#include "modelslim/core/practice_v0.hpp"
#include "modelslim/error.hpp"

namespace modelslim::core {

PracticeMetadata parse_metadata(const ConfigNode& node) {
  PracticeMetadata metadata;
  if (!node.defined()) return metadata;
  node.check_keys({"config_id", "score", "label", "verified_model_types", "verified_tags"});
  metadata.config_id = node.get_string("config_id", "Unknown");
  if (metadata.config_id.size() > 200) node["config_id"].fail("must be at most 200 characters");
  metadata.score = node.get_double("score", 100.0);
  if (metadata.score < 0) node["score"].fail("must be >= 0");
  const ConfigNode label = node["label"];
  if (label.defined()) {
    label.check_keys({"w_bit", "a_bit", "is_sparse", "kv_cache", "fa_bit", "fa_quant"});
    metadata.has_label = true;
    // Range-checked before narrowing to int: 2^32 + 8 must not read as 8.
    const auto bits = [&label](const char* key) {
      const std::int64_t value = label.get_int(key, 0);
      if (value < 0 || value > 64) label[key].fail("expected a bit width in 0..64");
      return static_cast<int>(value);
    };
    metadata.label.w_bit = bits("w_bit");
    metadata.label.a_bit = bits("a_bit");
    metadata.label.is_sparse = label.get_bool("is_sparse", false);
    metadata.label.kv_cache = label.get_bool("kv_cache", false);
    metadata.label.fa_bit = static_cast<int>(label.get_int("fa_bit", 0));
  }
  metadata.verified_model_types = node.get_string_list("verified_model_types", {});
  const ConfigNode tags = node["verified_tags"];
  if (tags.defined()) tags.require_map();
  return metadata;
}

PracticeConfig parse_practice_config(const ConfigNode& root) {
  root.require_map();
  if (!root.has("apiversion")) root.fail("missing required field 'apiversion' (expected modelslim_v1)");
  const std::string apiversion = root["apiversion"].as_string();
  if (apiversion == "modelslim_v0") {
    // Errors after the translation name the v1 text, which --print_v1 shows with the same lines.
    return parse_practice_config(parse_yaml_string(emit_v1_yaml(translate_v0_practice(root)),
                                                   root.file() + " (modelslim_v0 as v1, see --print_v1)"));
  }
  if (apiversion != "modelslim_v1") {
    root["apiversion"].fail("unsupported apiversion '" + apiversion +
                            "' (expected modelslim_v1, or modelslim_v0 which is translated)");
  }
  PracticeConfig config{root, parse_metadata(root["metadata"]), {}};

  const ConfigNode spec = root["spec"];
  if (!spec.defined()) return config;
  spec.require_map();
  spec.check_keys({"runner", "prior", "process", "save", "dataset", "max_calib_tokens"});
  config.spec.runner =
      spec.get_choice("runner", {"auto", "model_wise", "layer_wise", "dp_layer_wise"}, "auto");
  const auto list_of_maps = [](const ConfigNode& list) {
    std::vector<ConfigNode> items;
    if (!list.defined()) return items;
    for (const ConfigNode& item : list.items()) {
      item.require_map();
      items.push_back(item);
    }
    return items;
  };
  config.spec.process = list_of_maps(spec["process"]);
  config.spec.save = list_of_maps(spec["save"]);
  // Every saver writes config.json (and its weights) into --save_path: with two, the last one's config.json
  // would describe the other's files too. One output format per run.
  if (config.spec.save.size() > 1) {
    spec["save"].at(1).fail(
        "only one saver per run: every saver writes config.json into --save_path, so the "
        "last one would overwrite the others'; run quant once per output format, each "
        "with its own --save_path");
  }
  for (const ConfigNode& stage : list_of_maps(spec["prior"])) {
    stage.check_keys({"process", "dataset"});
    config.spec.prior.push_back(stage);
  }
  config.spec.dataset = spec.get_string("dataset", "");
  if (spec.has("max_calib_tokens")) {
    const std::int64_t tokens = spec["max_calib_tokens"].as_int();
    if (tokens <= 0) spec["max_calib_tokens"].fail("must be a positive number of tokens");
    config.spec.max_calib_tokens = static_cast<std::size_t>(tokens);
  }
  return config;
}

}  // namespace modelslim::core
