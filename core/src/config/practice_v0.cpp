#include "modelslim/core/practice_v0.hpp"

#include <algorithm>
#include <regex>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "modelslim/error.hpp"

namespace modelslim::core {
namespace {

// The reference's ModelslimV0QuantConfig default when a v0 spec names no calib_dataset.
constexpr const char* kV0DefaultCalibDataset = "teacher_qualification.jsonl";

[[noreturn]] void refuse(const ConfigNode& node, const std::string& what, const std::string& tip) {
  throw Error(ErrorCode::kUnsupported, node.location() + ": " + node.path() + ": " + what, tip);
}

YAML::Node sequence(const std::vector<std::string>& items) {
  YAML::Node list(YAML::NodeType::Sequence);
  for (const std::string& item : items) list.push_back(item);
  return list;
}

YAML::Node quantizer(const std::string& dtype, const std::string& scope, bool symmetric,
                     const std::string& method) {
  YAML::Node node;
  node["dtype"] = dtype;
  node["scope"] = scope;
  node["symmetric"] = symmetric;
  node["method"] = method;
  return node;
}

// ---- anti_cfg (AntiOutlierConfig) → one outlier-suppression processor ----

// The subgraphs v0's AntiOutlier visits for a dense Llama/Qwen layout: norm → linears always; with m4 and m6
// also v_proj → o_proj and up_proj → down_proj (DefaultModelAdapter adds the DAG's linear-linear pairs for
// those two; Qwen3Adapter lists them itself).
YAML::Node subgraph_types(const std::string& method) {
  if (method == "m4" || method == "m6") return sequence({"norm-linear", "ov", "up-down"});
  return sequence({"norm-linear"});
}

// v0 disable_anti_names holds linear names: a subgraph is skipped when one of its linears is listed (m3, m4,
// m6 only). v1 exclude names a subgraph by its source (the norm, or the first linear of a pair), so each
// name becomes the source of the subgraph that holds it.
struct AntiNameRule {
  std::regex linear;
  std::string source;  // regex_replace format
  bool pair;           // a v → o or up → down subgraph, which m3 does not smooth
};

const std::vector<AntiNameRule>& anti_name_rules() {
  static const std::vector<AntiNameRule> rules = {
      {std::regex(R"(^(.+)\.self_attn\.[qkv]_proj$)"), "$1.input_layernorm", false},
      {std::regex(R"(^(.+)\.mlp\.(gate|up)_proj$)"), "$1.post_attention_layernorm", false},
      {std::regex(R"(^(.+)\.self_attn\.o_proj$)"), "$1.self_attn.v_proj", true},
      {std::regex(R"(^(.+)\.mlp\.down_proj$)"), "$1.mlp.up_proj", true},
  };
  return rules;
}

// The subgraph source to exclude for one listed linear ("" when that subgraph is not smoothed anyway).
std::string anti_source(const ConfigNode& entry, bool pairs) {
  const std::string name = entry.as_string();
  for (const AntiNameRule& rule : anti_name_rules()) {
    if (!std::regex_match(name, rule.linear)) continue;
    return rule.pair && !pairs ? "" : std::regex_replace(name, rule.linear, rule.source);
  }
  refuse(entry, "'" + name + "' is not a q/k/v/o or gate/up/down linear of a decoder layer",
         "write a v1 practice whose smoothing processor's exclude names the subgraph source (the norm, or "
         "the first linear of a pair)");
}

std::vector<std::string> anti_excludes(const ConfigNode& anti, const std::string& method) {
  const ConfigNode names = anti["disable_anti_names"];
  std::vector<std::string> sources;
  if (!names.defined()) return sources;
  if (method == "m1" || method == "m5") {
    spdlog::info("{}: {} has no effect with anti_method {} (as in the reference)", anti.file(), names.path(),
                 method);
    return sources;
  }
  names.require_sequence();
  for (const ConfigNode& entry : names.items()) {
    const std::string source = anti_source(entry, method != "m3");
    if (!source.empty() && std::find(sources.begin(), sources.end(), source) == sources.end())
      sources.push_back(source);
  }
  return sources;
}

YAML::Node anti_processor(const ConfigNode& anti) {
  anti.require_map();
  anti.check_keys(
      {"anti_method", "w_bit", "a_bit", "w_sym", "dev_type", "dev_id", "disable_anti_names", "flex_config"});
  const std::string method = anti.get_choice("anti_method", {"m1", "m2", "m3", "m4", "m5", "m6"}, "m2");
  const ConfigNode where = anti.has("anti_method") ? anti["anti_method"] : anti;
  YAML::Node node;
  if (method == "m1") {
    node["type"] = "smooth_quant";
    node["alpha"] = 0.5;  // AntiOutlierConfig.alpha
  } else if (method == "m2") {
    refuse(where,
           "anti_method m2 (the reference's outlier suppression, os_ln_fcs, shipped only compiled) has no "
           "modelslim processor",
           "use m4 (iter_smooth) or m1 (smooth_quant); m4 is what the reference's dense practices use");
  } else if (method == "m3") {
    node["type"] = "awq";
    const std::int64_t bits = anti.get_int("w_bit", 8);
    if (bits != 4 && bits != 8) anti["w_bit"].fail("expected 4 or 8");
    node["weight_qconfig"] =
        quantizer(bits == 4 ? "int4" : "int8", "per_channel", anti.get_bool("w_sym", true), "minmax");
    node["enable_subgraph_type"] = subgraph_types(method);
  } else if (method == "m4") {
    node["type"] = "iter_smooth";
    node["alpha"] = 0.5;         // AntiOutlierConfig.alpha, which v0 hands to iter_smooth
    node["scale_min"] = "1e-5";  // SCALE_MIN_LLM (as text: the YAML keeps a short number)
    node["enable_subgraph_type"] = subgraph_types(method);
  } else if (method == "m5") {
    // CBQ's outlier-channel scales (cbq.py with its defaults); the reference has no v1 processor for it.
    node["type"] = "cbq";
  } else {
    node["type"] = "flex_smooth_quant";
    const ConfigNode flex = anti["flex_config"];
    if (flex.defined()) {
      flex.check_keys({"alpha", "beta"});
      // null alpha/beta: the processor searches them (the reference's default).
      for (const char* key : {"alpha", "beta"}) {
        if (!flex.has(key)) continue;
        flex.get_double(key, 0.0);          // a number, or the error naming it
        node[key] = flex[key].as_string();  // its text, as written (0.1, not 0.10000000000000001)
      }
    }
    node["enable_subgraph_type"] = subgraph_types(method);
  }
  const std::vector<std::string> excluded = anti_excludes(anti, method);
  if (!excluded.empty()) node["exclude"] = sequence(excluded);
  return node;
}

// ---- calib_cfg (QuantConfig) → the qconfig of linear_quant ----

struct CalibSettings {
  std::int64_t w_bit = 8;
  std::int64_t a_bit = 8;
  std::string act_method = "minmax";
  bool w_sym = true;
  bool dynamic = false;
  bool pdmix = false;
  bool kv_cache = false;  // use_kvcache_quant: an int8 KV cache (dynamic_cache)
  std::vector<std::string> disable_names;
  bool fa_quant = false;  // use_fa_quant: fa3_quant (int8 per-head Q/K/V) before the linears
};

// use_fa_quant → fa3_quant with its defaults; fa_amp (roll back the N attention layers that suffer most)
// has no v1 form in the reference either.
bool fa_quant_requested(const ConfigNode& calib) {
  if (!calib.get_bool("use_fa_quant", false)) return false;
  if (calib.get_int("fa_amp", 0) != 0) {
    refuse(calib["fa_amp"], "fa_amp (automatic fallback of N attention layers) is not built",
           "set fa_amp: 0, or write a v1 practice listing the attention layers to keep in float in "
           "fa3_quant's exclude");
  }
  return true;
}

// Boolean QuantConfig switches that ask for what modelslim does not build, and why.
struct SwitchRefusal {
  const char* key;
  bool allowed;  // the only value accepted
  const char* what;
  const char* tip;
};

const std::vector<SwitchRefusal> kSwitchRefusals = {
    {"co_sparse", false, "sparse quantization (co_sparse) is not built in modelslim",
     "use a dense W8A8 or W8A16 practice"},
    {"is_lowbit", false, "low-bit sparse quantization (is_lowbit) is not built in modelslim",
     "use a dense W8A8 or W8A16 practice"},
    {"do_smooth", false, "do_smooth belongs to low-bit sparse quantization, which is not built",
     "remove do_smooth; use anti_cfg for outlier suppression"},
    {"disable_last_linear", true,
     "disable_last_linear: False would quantize lm_head, which modelslim keeps in float",
     "remove disable_last_linear"},
};

// Accepted without effect: dev_type/dev_id (--device decides), and fraction, nonuniform, use_sigma,
// sigma_factor, open_outlier, group_size, percdamp, which tune the sparse, low-bit and GPTQ modes refused
// above; fa_amp 0 (fa_quant_requested refuses others).
void check_switches(const ConfigNode& calib) {
  for (const SwitchRefusal& refusal : kSwitchRefusals) {
    if (calib.has(refusal.key) && calib[refusal.key].as_bool() != refusal.allowed)
      refuse(calib[refusal.key], refusal.what, refusal.tip);
  }
}

std::string act_method_name(const ConfigNode& calib) {
  const std::int64_t method = calib.get_int("act_method", 1);
  if (method == 1) return "minmax";
  if (method == 2) return "histogram";
  if (method == 3) return "hybrid";
  calib["act_method"].fail("expected 1 (min-max), 2 (histogram) or 3 (hybrid)");
}

void check_bits(const ConfigNode& calib, const CalibSettings& s) {
  if (s.w_bit != 4 && s.w_bit != 8) calib["w_bit"].fail("expected 4 or 8");
  if (s.a_bit != 8 && s.a_bit != 16) calib["a_bit"].fail("expected 8 or 16");
  if (s.w_bit == 4 && s.a_bit == 8) {
    refuse(
        calib.has("w_bit") ? calib["w_bit"] : calib,
        "w_bit 4 with a_bit 8 is the reference's sparse / low-bit W4A8 mode, which modelslim does not build",
        "use w_bit 8 (W8A8) or a_bit 16 (W4A16)");
  }
  if (s.a_bit == 8 && !s.w_sym)
    calib["w_sym"].fail("w_sym must be True when a_bit is 8 (as in the reference)");
  if (s.dynamic && s.a_bit != 8) calib["is_dynamic"].fail("dynamic quantization needs a_bit 8");
  if (s.pdmix && (s.a_bit != 8 || s.dynamic)) {
    calib["pdmix"].fail("pdmix needs static W8A8 (a_bit 8, w_bit 8, is_dynamic False), as in the reference");
  }
}

CalibSettings parse_calib(const ConfigNode& calib) {
  calib.require_map();
  calib.check_keys({"w_bit",
                    "a_bit",
                    "act_method",
                    "w_method",
                    "disable_names",
                    "pr",
                    "mm_tensor",
                    "dev_type",
                    "dev_id",
                    "fraction",
                    "nonuniform",
                    "co_sparse",
                    "w_sym",
                    "is_lowbit",
                    "do_smooth",
                    "use_sigma",
                    "sigma_factor",
                    "disable_last_linear",
                    "use_kvcache_quant",
                    "open_outlier",
                    "is_dynamic",
                    "group_size",
                    "percdamp",
                    "pdmix",
                    "use_fa_quant",
                    "fa_amp"});
  check_switches(calib);
  if (calib.get_string("w_method", "MinMax") != "MinMax") {
    refuse(calib["w_method"], "w_method '" + calib["w_method"].as_string() + "' is not built (MinMax only)",
           "remove w_method");
  }
  if (calib.get_double("pr", 1.0) != 1.0) {
    refuse(calib["pr"], "pr below 1 (random quantization drop while calibrating) is not built",
           "set pr: 1.0");
  }
  // QuantConfig's default mm_tensor=True quantizes weights per tensor.
  if (calib.get_bool("mm_tensor", true)) {
    refuse(calib.has("mm_tensor") ? calib["mm_tensor"] : calib,
           "mm_tensor True (the reference's default: per-tensor weights) is not built",
           "set mm_tensor: False (per-channel weights), as the reference's practices do");
  }
  CalibSettings s;
  s.w_bit = calib.get_int("w_bit", 8);
  s.a_bit = calib.get_int("a_bit", 8);
  s.w_sym = calib.get_bool("w_sym", true);
  s.dynamic = calib.get_bool("is_dynamic", false);
  s.pdmix = calib.get_bool("pdmix", false);
  s.kv_cache = calib.get_bool("use_kvcache_quant", false);
  check_bits(calib, s);
  if (s.a_bit == 8 && !s.dynamic) s.act_method = act_method_name(calib);
  s.disable_names = calib.get_string_list("disable_names", {});
  s.fa_quant = fa_quant_requested(calib);
  return s;
}

// The v0 mix_cfg types and what each becomes, derived from calib_cfg as the reference's cfg_store does.
enum class MixType { kDefault, kW8A8, kW8A8Dynamic, kW8A16, kFloat };

YAML::Node qconfig_of(const CalibSettings& s, MixType type) {
  YAML::Node qconfig;
  const YAML::Node weight8 = quantizer("int8", "per_channel", true, "minmax");
  switch (type) {
    case MixType::kW8A8:
      qconfig["act"] = quantizer("int8", "per_tensor", false, s.act_method);
      qconfig["weight"] = weight8;
      return qconfig;
    case MixType::kW8A8Dynamic:
      qconfig["act"] = quantizer("int8", "per_token", true, "minmax");
      qconfig["weight"] = weight8;
      return qconfig;
    case MixType::kW8A16:
      qconfig["weight"] = quantizer("int8", "per_channel", s.w_sym, "minmax");
      return qconfig;
    default:
      break;
  }
  if (s.a_bit == 16) {
    qconfig["weight"] = quantizer(s.w_bit == 4 ? "int4" : "int8", "per_channel", s.w_sym, "minmax");
  } else if (s.dynamic) {
    return qconfig_of(s, MixType::kW8A8Dynamic);
  } else if (s.pdmix) {
    qconfig["act"] = quantizer("int8", "pd_mix", false, s.act_method);
    qconfig["weight"] = weight8;
  } else {
    return qconfig_of(s, MixType::kW8A8);
  }
  return qconfig;
}

// ---- calib_params (Calibrator) ----

struct MixRule {
  std::string pattern;
  MixType type;
};

bool is_glob(const std::string& pattern) {
  return pattern.find_first_of("*?[{") != std::string::npos;
}

// The reference looks a layer up by exact name first, then tries the patterns in file order (fnmatch).
std::vector<MixRule> parse_mix_cfg(const ConfigNode& mix, const CalibSettings& s) {
  mix.require_map();
  std::vector<MixRule> exact;
  std::vector<MixRule> globs;
  for (const std::string& pattern : mix.keys()) {
    const ConfigNode value = mix[pattern];
    const std::string type = value.as_string();
    MixRule rule{pattern, MixType::kFloat};
    if (type == "w8a8") {
      rule.type = MixType::kW8A8;
    } else if (type == "w8a8_dynamic") {
      rule.type = MixType::kW8A8Dynamic;
    } else if (type == "w8a16") {
      rule.type = MixType::kW8A16;
    } else if (type == "w4a8_dynamic") {
      refuse(value, "mix_cfg type w4a8_dynamic (per-group low-bit W4A8) is not built",
             "use w8a8, w8a8_dynamic, w8a16 or float");
    } else if (type != "float") {
      value.fail("unknown mix_cfg type '" + type + "' (expected w8a8, w8a16, w8a8_dynamic, float)");
    }
    if (rule.type != MixType::kFloat && s.w_bit != 8) {
      refuse(value,
             "mix_cfg type " + type + " needs calib_cfg w_bit 8 (the reference derives it from calib_cfg)",
             "set w_bit: 8");
    }
    (is_glob(pattern) ? globs : exact).push_back(rule);
  }
  exact.insert(exact.end(), globs.begin(), globs.end());
  return exact;
}

std::string parse_disable_level(const ConfigNode& params) {
  if (!params.has("disable_level")) return "L0";
  const std::string level = params["disable_level"].as_string();
  if (!std::regex_match(level, std::regex("^L([1-9][0-9]*|0)$")))
    params["disable_level"].fail("expected L0, L1, L2, ... (Lx: keep the x most sensitive linears in float)");
  return level;
}

YAML::Node linear_quant(const YAML::Node& qconfig, const std::vector<std::string>& include,
                        const std::vector<std::string>& exclude) {
  YAML::Node node;
  node["type"] = "linear_quant";
  node["qconfig"] = qconfig;
  node["include"] = sequence(include);
  if (!exclude.empty()) node["exclude"] = sequence(exclude);
  return node;
}

// disable_names hold module names; lm_head is never quantized by modelslim (it is outside the blocks).
std::vector<std::string> block_disable_names(const CalibSettings& s) {
  std::vector<std::string> names;
  for (const std::string& name : s.disable_names) {
    if (name != "lm_head") names.push_back(name);
  }
  return names;
}

// One linear_quant per mix_cfg rule (each excluding what earlier rules took), then the calib_cfg default
// for the rest, in one `group` so they share the block's calibration forward.
YAML::Node quant_processors(const CalibSettings& s, const std::vector<MixRule>& rules,
                            const std::string& disable_level) {
  std::vector<std::string> taken = block_disable_names(s);
  std::vector<YAML::Node> children;
  for (const MixRule& rule : rules) {
    if (rule.type != MixType::kFloat)
      children.push_back(linear_quant(qconfig_of(s, rule.type), {rule.pattern}, taken));
    taken.push_back(rule.pattern);
  }
  const bool covered =
      std::any_of(rules.begin(), rules.end(), [](const MixRule& r) { return r.pattern == "*"; });
  if (!covered) {
    YAML::Node fallback = linear_quant(qconfig_of(s, MixType::kDefault), {"*"}, taken);
    if (disable_level != "L0") fallback["disable_level"] = disable_level;
    children.push_back(fallback);
  }
  if (children.empty()) {
    throw Error(ErrorCode::kSchemaValidate,
                "calib_params.mix_cfg: every linear is float, nothing to quantize",
                "give at least one mix_cfg rule a quantized type");
  }
  if (children.size() == 1) return children.front();
  YAML::Node group;
  group["type"] = "group";
  group["configs"] = YAML::Node(YAML::NodeType::Sequence);
  for (const YAML::Node& child : children) group["configs"].push_back(child);
  return group;
}

// use_kvcache_quant: True → dynamic_cache as the v0 KV quantizer computes it (running per-channel min/max of
// the cached keys and values, symmetric int8: kv_sym's default), after the linears like the v1 practices.
YAML::Node kv_cache_processor() {
  YAML::Node node;
  node["type"] = "dynamic_cache";
  node["qconfig"] = quantizer("int8", "per_channel", true, "minmax");
  node["include"] = sequence({"*"});
  return node;
}

YAML::Node translate_spec(const ConfigNode& spec) {
  spec.require_map();
  spec.check_keys({"anti_cfg", "anti_params", "calib_cfg", "calib_params", "calib_save_params", "batch_size",
                   "anti_dataset", "calib_dataset"});
  const ConfigNode anti_params = spec["anti_params"];
  if (anti_params.defined()) anti_params.check_keys({"norm_class_name"});  // adapters know their norms
  // QuantConfig's defaults alone (mm_tensor True: per-tensor weights) are not built.
  if (!spec.has("calib_cfg"))
    spec.fail("missing required field 'calib_cfg' (w_bit, a_bit, mm_tensor: False, ...)");
  const CalibSettings calib = parse_calib(spec["calib_cfg"]);
  const ConfigNode params = spec["calib_params"];
  std::vector<MixRule> rules;
  std::string disable_level = "L0";
  if (params.defined()) {
    params.require_map();
    params.check_keys({"disable_level", "mix_cfg"});
    disable_level = parse_disable_level(params);
    if (params.has("mix_cfg")) rules = parse_mix_cfg(params["mix_cfg"], calib);
  }
  if (disable_level != "L0" && !rules.empty()) {
    refuse(params["disable_level"], "disable_level together with mix_cfg is not built",
           "use disable_level without mix_cfg, or list the layers to keep in float in mix_cfg");
  }
  YAML::Node out;
  const std::string dataset = spec.get_string("calib_dataset", kV0DefaultCalibDataset);
  out["dataset"] = dataset;
  const ConfigNode anti = spec["anti_cfg"];
  YAML::Node process(YAML::NodeType::Sequence);
  if (anti.defined()) {
    const YAML::Node processor = anti_processor(anti);
    // The reference smooths the whole model (on anti_dataset when given) before calibrating; a separate
    // stage keeps that order where it matters: another dataset, or the disable_level ranking, which must
    // see the smoothed model.
    if (spec.has("anti_dataset") || disable_level != "L0") {
      YAML::Node stage;
      stage["process"] = YAML::Node(YAML::NodeType::Sequence);
      stage["process"].push_back(processor);
      stage["dataset"] = spec.get_string("anti_dataset", dataset);
      out["prior"] = YAML::Node(YAML::NodeType::Sequence);
      out["prior"].push_back(stage);
    } else {
      process.push_back(processor);
    }
  }
  if (calib.fa_quant) {
    YAML::Node fa3;
    fa3["type"] = "fa3_quant";
    process.push_back(fa3);
  }
  process.push_back(quant_processors(calib, rules, disable_level));
  if (calib.kv_cache) process.push_back(kv_cache_processor());
  out["process"] = process;
  YAML::Node saver;
  saver["type"] = "ascendv1_saver";
  const ConfigNode save = spec["calib_save_params"];
  if (save.defined()) {
    save.check_keys({"part_file_size"});
    if (save.has("part_file_size")) saver["part_file_size"] = save["part_file_size"].as_int();
  }
  out["save"] = YAML::Node(YAML::NodeType::Sequence);
  out["save"].push_back(saver);
  return out;
}

}  // namespace

YAML::Node translate_v0_practice(const ConfigNode& root) {
  root.require_map();
  root.check_keys({"apiversion", "metadata", "spec"});
  if (!root.has("spec")) root.fail("missing required field 'spec' (a modelslim_v0 practice needs calib_cfg)");
  YAML::Node out;
  out["apiversion"] = "modelslim_v1";
  if (root.has("metadata")) out["metadata"] = YAML::Clone(root["metadata"].yaml());
  out["spec"] = translate_spec(root["spec"]);
  if (root["spec"].has("batch_size")) {
    spdlog::info("{}: spec.batch_size has no effect here (every calibration sample is its own batch)",
                 root.file());
  }
  return out;
}

std::string practice_v1_text(const ConfigNode& root) {
  const bool v0 = root.has("apiversion") && root["apiversion"].as_string() == "modelslim_v0";
  return emit_v1_yaml(v0 ? translate_v0_practice(root) : root.yaml());
}

std::string emit_v1_yaml(const YAML::Node& practice) {
  YAML::Emitter emitter;
  emitter << practice;
  return std::string(emitter.c_str()) + "\n";
}

}  // namespace modelslim::core
