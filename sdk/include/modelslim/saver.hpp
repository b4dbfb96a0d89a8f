// Savers write the processed model. The runner calls save_block after every block's processors have run,
// and finish once at the end with the parameters outside the blocks. They write into a temporary
// directory that the host renames to save_path only when every saver finished.
#pragma once

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/block.hpp"
#include "modelslim/export.hpp"
#include "modelslim/processor.hpp"

namespace modelslim {

class ModelAdapter;

struct SaveContext {
  std::filesystem::path output_dir;  // temporary directory, renamed on success
  std::filesystem::path model_dir;   // the source checkpoint (for copying non-weight files)
  ModelAdapter& model;
  const RunArtifacts* artifacts = nullptr;  // filled by processors' pre_run/post_run, complete at finish()
};

class MODELSLIM_SDK_API Saver {
 public:
  virtual ~Saver();  // key function, defined in sdk/src (see export.hpp)
  virtual void begin(const SaveContext& context) = 0;
  virtual void save_block(Block& block) = 0;
  virtual void finish(const std::vector<NamedTensor>& non_block_parameters) = 0;
};

}  // namespace modelslim
