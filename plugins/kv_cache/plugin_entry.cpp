// Plugin entry of the KV-cache processors: `dynamic_cache` (int8 KV cache, the reference's C8) and
// `kv_smooth` (moves key outliers into the queries).
#include "dynamic_cache_processor.hpp"
#include "kv_smooth_processor.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_kv_cache(modelslim::Registrar& registrar) {
  registrar.add_processor("dynamic_cache",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
                            return modelslim::dynamic_cache::make_dynamic_cache(config);
                          });
  registrar.add_processor("kv_smooth",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
                            return modelslim::dynamic_cache::make_kv_smooth(config);
                          });
}
}  // namespace

MODELSLIM_PLUGIN("kv_cache", MODELSLIM_PLUGIN_VERSION, register_kv_cache)
