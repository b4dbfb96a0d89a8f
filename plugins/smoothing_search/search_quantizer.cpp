#include "search_quantizer.hpp"

#include <ATen/ATen.h>

#include "modelslim/error.hpp"
#include "modelslim/quant_math.hpp"

namespace modelslim::smoothing_search {
namespace {

struct Common {
  QuantizerSpec spec;
  std::string dtype;
};

Common parse_common(const ConfigNode& node, const std::vector<std::string>& scopes) {
  node.require_map();
  node.check_keys({"dtype", "scope", "symmetric", "method", "ext"});
  Common common;
  common.dtype = node.get_choice("dtype", {"int8", "int4", "float"}, "int8");
  common.spec.bits = common.dtype == "int4" ? 4 : 8;
  if (!node.has("scope")) node.fail("missing required field 'scope'");
  common.spec.scope = node.get_choice("scope", scopes, "");
  common.spec.symmetric = node.get_bool("symmetric", true);
  common.spec.method = node.get_string("method", "minmax");
  const ConfigNode ext = node["ext"];
  if (ext.defined()) {
    ext.check_keys({"group_size", "step"});
    const std::int64_t steps = ext.get_int("step", 50);
    if (steps < 1 || steps > 10000) ext["step"].fail("expected an iteration count in 1..10000");
    common.spec.ssz_steps = static_cast<int>(steps);
    common.spec.group_size = ext.get_int("group_size", 0);
    if (ext.has("group_size") && common.spec.group_size <= 0)
      ext["group_size"].fail("expected a positive integer");
  }
  return common;
}

}  // namespace

QuantizerSpec parse_weight_quantizer(const ConfigNode& node) {
  Common common = parse_common(node, {"per_channel", "per_group"});
  QuantizerSpec& spec = common.spec;
  if (common.dtype == "float") node["dtype"].fail("weights are quantized here: expected int8 or int4");
  if (spec.method != "minmax" && spec.method != "ssz")
    node["method"].fail("expected minmax or ssz (got '" + spec.method + "')");
  if (spec.method == "ssz" && spec.scope != "per_channel")
    node["method"].fail("ssz weights are per_channel only (got " + spec.scope + ")");
  if (spec.scope == "per_group" && spec.group_size == 0) spec.group_size = 128;
  return spec;
}

std::optional<QuantizerSpec> parse_act_quantizer(const ConfigNode& node) {
  const Common common = parse_common(node, {"per_token", "per_tensor"});
  if (common.dtype == "float" || common.spec.method == "none") return std::nullopt;
  if (common.dtype != "int8") node["dtype"].fail("activations: expected int8 (or float)");
  if (common.spec.method != "minmax")
    node["method"].fail("the search evaluates min/max activations only (got '" + common.spec.method + "')");
  return common.spec;
}

at::Tensor fake_quantize_weight(const at::Tensor& weight, const QuantizerSpec& spec) {
  const QuantizedWeight q = spec.method == "ssz"
                                ? quantize_weight_ssz(weight, spec.bits, spec.symmetric, spec.ssz_steps)
                                : quantize_weight_minmax(weight, spec.bits, spec.symmetric,
                                                         spec.scope == "per_group" ? spec.group_size : 0);
  return dequantize_weight(q.qweight, q.scale, q.offset);
}

at::Tensor fake_quantize_activation(const at::Tensor& x, const QuantizerSpec& spec) {
  if (spec.scope == "per_token") return fake_quantize_per_token(x, spec.bits, spec.symmetric);
  const ScaleOffset so =
      minmax_scale_offset(x.min().reshape({1}), x.max().reshape({1}), spec.bits, spec.symmetric);
  return fake_quantize(x, so.scale, so.offset, spec.bits);
}

}  // namespace modelslim::smoothing_search
