#include "qconfig.hpp"

#include <vector>

namespace modelslim::linear_quant {
namespace {

const std::vector<std::string> kDtypes = {"float", "int8", "int4", "fp8_e4m3", "mxfp8", "mxfp4"};
const std::vector<std::string> kScopes = {"per_tensor", "per_channel", "per_group", "per_block",
                                          "per_token",  "pd_mix",      "per_head",  "dual_scale"};

QuantizerConfig parse_quantizer(const ConfigNode& node) {
  node.check_keys({"dtype", "scope", "symmetric", "method", "ext"});
  QuantizerConfig config;
  config.dtype = node.get_choice("dtype", kDtypes, "int8");
  if (!node.has("scope")) node.fail("missing required field 'scope' (one of per_tensor, per_channel, ...)");
  config.scope = node.get_choice("scope", kScopes, "");
  config.symmetric = node.get_bool("symmetric", true);
  config.method = node.get_string("method", "minmax");
  const ConfigNode ext = node["ext"];
  if (ext.defined()) {
    ext.check_keys({"group_size", "aggregation_type", "step"});
    const std::int64_t steps = ext.get_int("step", 50);  // range-checked before it narrows to int
    if (ext.has("step") && (steps < 1 || steps > 10000))
      ext["step"].fail("expected an iteration count in 1..10000");
    config.ssz_steps = static_cast<int>(steps);
    config.group_size = ext.get_int("group_size", 0);
    config.aggregation = ext.get_choice("aggregation_type", {"minmax", "mean"}, "minmax");
    if (ext.has("group_size") && config.group_size <= 0)
      ext["group_size"].fail("expected a positive integer");
  }
  if (config.scope == "per_group" && config.group_size == 0) config.group_size = 128;
  return config;
}

[[noreturn]] void unsupported(const ConfigNode& node, const std::string& what) {
  throw Error(
      ErrorCode::kUnsupported, node.location() + ": " + node.path() + ": " + what,
      "supported: act int8 per_tensor (static, sym/asym), per_token (dynamic, symmetric) or pd_mix (asym) "
      "with weight "
      "int8 per_channel symmetric minmax (W8A8, W8A8_DYNAMIC, W8A8_MIX); no act with weight int8 or int4 "
      "per_channel or per_group minmax, symmetric or not (W8A16, W4A16)");
}

}  // namespace

const char* scheme_name(Scheme scheme) {
  switch (scheme) {
    case Scheme::kW8A8Static:
      return "W8A8";
    case Scheme::kW8A8Dynamic:
      return "W8A8_DYNAMIC";
    case Scheme::kW8A16:
      return "W8A16";
    case Scheme::kW4A16:
      return "W4A16";
    case Scheme::kW4A8Dynamic:
      return "W4A8_DYNAMIC";
    case Scheme::kW8A8Mix:
      return "W8A8_MIX";
  }
  return "?";
}

ActivationQuantMode LinearQuantConfig::act_mode() const {
  if (!act) return ActivationQuantMode::kNone;
  return act->scope == "per_token" ? ActivationQuantMode::kDynamicPerToken
                                   : ActivationQuantMode::kStaticPerTensor;
}

LinearQuantConfig parse_qconfig(const ConfigNode& qconfig) {
  qconfig.check_keys({"act", "weight"});
  if (!qconfig.has("weight")) qconfig.fail("missing required field 'weight'");
  LinearQuantConfig config;
  const ConfigNode weight_node = qconfig["weight"];
  weight_node.require_map();
  config.weight = parse_quantizer(weight_node);
  const ConfigNode act_node = qconfig["act"];
  if (act_node.defined()) {
    act_node.require_map();
    QuantizerConfig act = parse_quantizer(act_node);
    if (act.dtype != "float" && act.method != "none") config.act = act;
  }

  const QuantizerConfig& w = config.weight;
  if (w.dtype != "int8" && w.dtype != "int4")
    unsupported(weight_node["dtype"], "weight dtype '" + w.dtype + "' is not supported yet (int8, int4)");
  if (w.method != "minmax" && w.method != "ssz")
    unsupported(weight_node["method"], "weight method '" + w.method + "' is not supported (minmax, ssz)");
  if (w.method == "ssz" && w.scope != "per_channel")
    unsupported(weight_node["method"], "ssz weights are per_channel only (got " + w.scope + ")");
  if (w.scope != "per_channel" && w.scope != "per_group") {
    unsupported(weight_node["scope"],
                "weight scope '" + w.scope + "' is not supported (per_channel, per_group)");
  }
  if (!config.act) {
    config.scheme = w.dtype == "int4" ? Scheme::kW4A16 : Scheme::kW8A16;
    return config;
  }
  if (w.dtype == "int4" && config.act->scope != "per_token") {
    unsupported(weight_node["dtype"],
                "int4 weights with quantized activations deploy only with per_token (dynamic) activations "
                "(W4A8_DYNAMIC); omit act for W4A16");
  }
  const QuantizerConfig& a = *config.act;
  if (a.dtype != "int8")
    unsupported(act_node["dtype"], "activation dtype '" + a.dtype + "' is not supported yet");
  if (a.method != "minmax" && a.method != "histogram" && a.method != "hybrid") {
    unsupported(act_node["method"],
                "activation method '" + a.method + "' is not supported (minmax, histogram, hybrid)");
  }
  if (a.method != "minmax" && a.scope != "per_tensor" && a.scope != "pd_mix") {
    unsupported(act_node["method"],
                a.method + " calibration applies to per_tensor (static) activations only");
  }
  if (w.scope != "per_channel" || !w.symmetric) {
    unsupported(weight_node, "quantized activations need weights per_channel symmetric (got " + w.scope +
                                 (w.symmetric ? " symmetric" : " asymmetric") + ")");
  }
  if (a.scope == "per_tensor") {
    config.scheme = Scheme::kW8A8Static;
  } else if (a.scope == "per_token") {
    if (!a.symmetric)
      unsupported(act_node["symmetric"],
                  "per_token (dynamic) activations must be symmetric to deploy as W8A8_DYNAMIC");
    config.scheme = w.dtype == "int4" ? Scheme::kW4A8Dynamic : Scheme::kW8A8Dynamic;
  } else if (a.scope == "pd_mix") {
    // The reference's W8A8_MIX (ActPDMixMinmax, int8_pd_mix_asym): static per-tensor asymmetric params for
    // decode, per-token dynamic quantization for prefill (vllm-ascend w8a8_pdmix.py).
    if (a.symmetric)
      unsupported(act_node["symmetric"],
                  "pd_mix activations are asymmetric (the reference's int8_pd_mix_asym)");
    config.scheme = Scheme::kW8A8Mix;
  } else {
    unsupported(act_node["scope"],
                "activation scope '" + a.scope + "' is not supported (per_tensor, per_token, pd_mix)");
  }
  return config;
}

}  // namespace modelslim::linear_quant
