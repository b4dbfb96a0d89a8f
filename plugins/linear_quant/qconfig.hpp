// The linear_quant `qconfig` section: parsed, validated against the supported (act, weight) pairs, and
// classified into the deployable scheme it produces.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "modelslim/config_node.hpp"
#include "modelslim/linear.hpp"

namespace modelslim::linear_quant {

struct QuantizerConfig {
  std::string dtype = "int8";
  std::string scope;
  std::string method = "minmax";
  bool symmetric = true;
  std::int64_t group_size = 0;         // per_group only (ext.group_size, default 128)
  std::string aggregation = "minmax";  // per_tensor act: ext.aggregation_type minmax | mean
  int ssz_steps = 50;                  // weight method ssz: ext.step

  int bits() const { return dtype == "int4" ? 4 : 8; }
};

// kW8A8Mix (act scope pd_mix): calibrated like kW8A8Static (its static params serve decode), quantized per
// token like kW8A8Dynamic while calibrating and in prefill.
enum class Scheme { kW8A8Static, kW8A8Dynamic, kW8A16, kW4A16, kW4A8Dynamic, kW8A8Mix };
const char* scheme_name(Scheme scheme);

struct LinearQuantConfig {
  std::optional<QuantizerConfig> act;  // empty: float activations (weight-only)
  QuantizerConfig weight;
  Scheme scheme = Scheme::kW8A8Static;

  ActivationQuantMode act_mode() const;
  bool is_data_free() const { return act_mode() != ActivationQuantMode::kStaticPerTensor; }
};

// `qconfig` node → validated config; errors name the field (e.g. spec.process.0.qconfig.act.scope).
LinearQuantConfig parse_qconfig(const ConfigNode& qconfig);

}  // namespace modelslim::linear_quant
