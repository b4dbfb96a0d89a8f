// An optional capability of savers: rules about the rest of the run that the saver's engine imposes
// (a processor whose result the engine would drop or misread, a scheme its kernels cannot load). A saver
// class that also derives from PracticeCheck is asked by the host once every processor and saver of a
// quant run is created, before any calibration data, weight or output is touched. Savers that do not
// derive from it are never asked; hosts that do not know it never ask (the Saver interface is unchanged).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/config_node.hpp"
#include "modelslim/export.hpp"

namespace modelslim {

struct PracticeView {
  // Every processor config the run executes, in order: spec.prior stages first, then spec.process.
  // Containers (`group`) are given as written; their children are under their own keys.
  std::vector<ConfigNode> processors;
  nlohmann::json hf_config;  // the model's config.json
};

class MODELSLIM_SDK_API PracticeCheck {
 public:
  virtual ~PracticeCheck();
  // Throws Error (kUnsupported) naming the saver, the processor's config path and the alternative when the
  // combination cannot be deployed; returns warnings for what deploys but only slowly.
  virtual std::vector<std::string> check_practice(const PracticeView& practice) const = 0;
};

}  // namespace modelslim
