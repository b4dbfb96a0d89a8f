#include "modelslim/error.hpp"

namespace modelslim {

Error::~Error() = default;

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidModel:
      return "InvalidModelError";
    case ErrorCode::kInvalidDataset:
      return "InvalidDatasetError";
    case ErrorCode::kSchemaValidate:
      return "SchemaValidateError";
    case ErrorCode::kSecurity:
      return "SecurityError";
    case ErrorCode::kUnsupported:
      return "UnsupportedError";
    case ErrorCode::kSpec:
      return "SpecError";
    case ErrorCode::kIo:
      return "IoError";
    case ErrorCode::kPlugin:
      return "PluginError";
    case ErrorCode::kToDo:
      return "ToDoError";
    case ErrorCode::kUnexpected:
      return "UnexpectedError";
  }
  return "Error";
}

std::string describe(const Error& error) {
  std::string text = std::string(error_code_name(error.code())) + " (" +
                     std::to_string(static_cast<int>(error.code())) + "): " + error.what();
  if (!error.tip().empty()) text += "\nTIP: " + error.tip();
  return text;
}

}  // namespace modelslim
