// The tuning strategies shipped with modelslim: standing_high, binary_fallback and
// standing_high_with_experience.
#include <memory>

#include "binary_fallback.hpp"
#include "experience.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"
#include "standing_high.hpp"

namespace {

void register_tuning_strategies(modelslim::Registrar& registrar) {
  using namespace modelslim;
  registrar.add_strategy("standing_high", [](const ConfigNode& config, const HostServices& host) {
    return std::make_unique<tuning::StandingHigh>(tuning::parse_standing_high(config, host));
  });
  registrar.add_strategy("standing_high_with_experience", [](const ConfigNode& config,
                                                             const HostServices& host) {
    return std::make_unique<tuning::StandingHigh>(tuning::parse_standing_high_with_experience(config, host));
  });
  registrar.add_strategy("binary_fallback", [](const ConfigNode& config, const HostServices& host) {
    return std::make_unique<tuning::BinaryFallback>(tuning::parse_binary_fallback(config, host));
  });
}

}  // namespace

MODELSLIM_PLUGIN("tuning_strategies", MODELSLIM_PLUGIN_VERSION, register_tuning_strategies)
