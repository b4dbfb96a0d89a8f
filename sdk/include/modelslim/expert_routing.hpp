// An optional capability of blocks (since SDK ABI 4.2): a mixture-of-experts block tells processors which
// linears form each routed expert, how many tokens the router sent to each, and can run every token through
// every expert during calibration so that rarely chosen experts still get activation statistics. A Block
// class that also derives from ExpertRouting is found by dynamic_cast (`expert_routing(block)`); the Block
// interface is unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

class Block;
class Linear;

struct RoutedExpert {
  std::string name;              // module name, e.g. "model.layers.3.mlp.experts.17"
  std::vector<Linear*> linears;  // the expert's linears (gate, up, down), owned by the block
};

class MODELSLIM_SDK_API ExpertRouting {
 public:
  virtual ~ExpertRouting();
  virtual std::vector<RoutedExpert> routed_experts() = 0;
  // On: every forward also runs every token through every routed expert, so the experts' linears observe
  // all tokens; the block's output still combines only the experts the router chose (the real routing).
  virtual void set_calibrate_all_experts(bool on) = 0;
  // Tokens the router sent to each expert (routed_experts() order), summed over the forwards since the
  // block was loaded.
  virtual std::vector<std::int64_t> routed_token_counts() const = 0;
};

// The block's ExpertRouting, or nullptr when it has no routed experts.
MODELSLIM_SDK_API ExpertRouting* expert_routing(Block& block);

}  // namespace modelslim
