// What a practice asks of the savers, read from the processors' configs (already validated by their own
// factories): which linears linear_quant quantizes and how, and which smoothing is asymmetric. Used by the
// savers' config-time checks (PracticeCheck), before any work.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "modelslim/config_node.hpp"
#include "modelslim/linear.hpp"

namespace modelslim::saver_rules {

// Processor configs in run order with containers (`group` → its `configs`) expanded.
std::vector<ConfigNode> flatten_processors(const std::vector<ConfigNode>& processors);

// One linear_quant config as the savers see it.
struct LinearQuantUse {
  ConfigNode config;   // the processor's node (for its path in messages)
  std::string scheme;  // "W8A8", "W8A8_DYNAMIC", "W8A16", "W4A16" or "W4A8_DYNAMIC"
  int weight_bits = 8;
  bool weight_symmetric = true;
  std::int64_t group_size = 0;  // 0: per channel
  ActivationQuantMode act_mode = ActivationQuantMode::kNone;
  bool act_symmetric = true;
  std::vector<std::string> include;
  std::vector<std::string> exclude;

  // Included and not excluded, and no part of its fused module (q/k/v, gate/up) excluded: linear_quant
  // extends an exclusion to the fused siblings.
  bool selects(const std::string& linear_name) const;
  // "W8A16 per_group 64 asymmetric" — for messages.
  std::string describe() const;
};

std::vector<LinearQuantUse> linear_quant_uses(const std::vector<ConfigNode>& flat_processors);
// The linear_quant that decides `linear_name` (the last one that selects it), or nullptr: kept in float.
const LinearQuantUse* deciding_use(const std::vector<LinearQuantUse>& uses, const std::string& linear_name);
// iter_smooth / smooth_quant configs with `symmetric: false` (they add norm and linear biases).
std::vector<ConfigNode> asymmetric_smoothing(const std::vector<ConfigNode>& flat_processors);

// "spec.process.0 (iter_smooth)" for messages.
std::string processor_label(const ConfigNode& config);

}  // namespace modelslim::saver_rules
