// Typed reads of a Hugging Face config.json for model adapters (since SDK 4.6). A field that is absent or
// null is missing: it takes the fallback, or is an error when the field is required. A value of the wrong
// type or range is Error(kInvalidModel) naming the file, the field and the value found, so every adapter
// refuses a bad config.json in the same words.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "modelslim/export.hpp"

namespace modelslim {

class MODELSLIM_SDK_API HfConfigFields {
 public:
  // `config` is kept by reference and must outlive this reader; `file` only names it in messages. A config
  // that is not a JSON object is refused here.
  HfConfigFields(const nlohmann::json& config, std::filesystem::path file);

  // Error(kInvalidModel): "<file>: field '<field>' <what>".
  [[noreturn]] void fail(const std::string& field, const std::string& what) const;
  const std::filesystem::path& file() const { return file_; }
  bool present(const char* field) const;

  std::int64_t positive_int(const char* field) const;  // required, >= 1
  std::int64_t positive_int(const char* field, std::int64_t fallback) const;
  std::int64_t non_negative_int(const char* field, std::int64_t fallback) const;
  double number(const char* field, double fallback) const;
  bool boolean(const char* field, bool fallback) const;
  std::string text(const char* field, const std::string& fallback) const;
  // A list of layer indices (each >= 0); empty when missing.
  std::vector<std::int64_t> layer_indices(const char* field) const;
  // rope_scaling's "rope_type" (or the older "type"; "default" when neither is given), "" when rope_scaling
  // is missing; rope_scaling must be an object and the type a string.
  std::string rope_scaling_type() const;

 private:
  std::int64_t checked_int(const char* field, std::int64_t minimum) const;

  const nlohmann::json& config_;
  std::filesystem::path file_;
};

}  // namespace modelslim
