// Typed errors shared by the host and plugins. Each carries a code (matching the reference's families)
// and an optional "TIP:" line that tells the user what to do.
#pragma once

#include <stdexcept>
#include <string>

#include "modelslim/export.hpp"

namespace modelslim {

enum class ErrorCode : int {
  kInvalidModel = 201,
  kInvalidDataset = 202,
  kSchemaValidate = 203,
  kSecurity = 204,
  kUnsupported = 301,
  kSpec = 302,
  kIo = 303,
  kPlugin = 304,
  kToDo = 400,
  kUnexpected = 500,
};

MODELSLIM_SDK_API const char* error_code_name(ErrorCode code);

class MODELSLIM_SDK_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, std::string tip = {})
      : std::runtime_error(message), code_(code), tip_(std::move(tip)) {}
  Error(const Error&) = default;
  Error& operator=(const Error&) = default;
  ~Error() override;  // key function, defined in sdk/src (see export.hpp)

  ErrorCode code() const { return code_; }
  const std::string& tip() const { return tip_; }

 private:
  ErrorCode code_;
  std::string tip_;
};

// Formats "<Name> (<code>): message\nTIP: tip" for the terminal.
MODELSLIM_SDK_API std::string describe(const Error& error);

}  // namespace modelslim
