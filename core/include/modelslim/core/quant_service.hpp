// `modelslim quant`: config → plugins → model → calibration → runner → savers → atomic output directory.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace modelslim::core {

class PluginRegistry;
class BlockCache;

struct QuantOptions {
  std::filesystem::path model_path;
  std::filesystem::path save_path;
  std::optional<std::filesystem::path> config_path;
  std::optional<std::string> quant_type;
  std::string model_type;  // empty: from config.json
  std::string device = "cpu";
  bool trust_remote_code = false;
  std::filesystem::path practice_repo;  // empty: MSMODELSLIM_CUSTOM_PRACTICE_REPO or the shipped lab only
  // --max_calib_tokens: overrides the practice's spec.max_calib_tokens (both below max_position_embeddings).
  std::optional<std::size_t> max_calib_tokens;
  // Tuning: blocks processed by earlier runs of the same session, reused where everything upstream
  // matches (layer_wise runs whose processors are all block_local; others ignore it).
  BlockCache* block_cache = nullptr;
};

struct QuantSummary {
  std::string model_type;
  std::string config_id;
  std::size_t blocks = 0;
  std::size_t samples = 0;
  std::size_t block_forwards = 0;
  std::size_t blocks_reused = 0;  // taken from the block cache
  double seconds = 0.0;
  std::vector<std::string> warnings;
};

QuantSummary run_quant(const QuantOptions& options, PluginRegistry& registry);

// The model type `quant` uses: `requested` (--model_type), else config.json's model_type, else the adapter's
// type. Throws Error(kInvalidModel) naming --model_path when there is no config.json.
std::string resolve_model_type(const std::filesystem::path& model_path, const std::string& requested,
                               const PluginRegistry& registry);

// How many devices a --device value names ("cpu" → 1, "cpu:0,1" → 2); throws Unsupported for non-CPU.
std::size_t requested_devices(const std::string& device);

}  // namespace modelslim::core
