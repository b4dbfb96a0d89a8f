#include "modelslim/stored_dtype_weights.hpp"

#include <cstdlib>
#include <string>

#include "modelslim/env_names.hpp"
#include "modelslim/error.hpp"

namespace modelslim {

StoredDtypeWeightReader::~StoredDtypeWeightReader() = default;
StoredDtypeBlocks::~StoredDtypeBlocks() = default;

StoredDtypeWeightsSetting stored_dtype_weights_setting() {
  const char* value = std::getenv(env::kStoredDtypeWeights);
  if (value == nullptr || std::string(value).empty()) return StoredDtypeWeightsSetting::kAuto;
  const std::string text(value);
  if (text == "0") return StoredDtypeWeightsSetting::kOff;
  if (text == "1") return StoredDtypeWeightsSetting::kForce;
  throw Error(ErrorCode::kSchemaValidate,
              std::string(env::kStoredDtypeWeights) + "='" + text + "': expected 0 or 1",
              "unset it to keep checkpoint-dtype weights only in runs without a calibration forward");
}

}  // namespace modelslim
