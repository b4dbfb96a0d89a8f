#include "modelslim/json_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "modelslim/atomic_file.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_parse.hpp"

namespace modelslim {

nlohmann::json read_json_file(const std::filesystem::path& file) {
  std::error_code ignored;
  if (!std::filesystem::exists(file, ignored)) {
    throw Error(ErrorCode::kInvalidModel, file.string() + ": file not found");
  }
  if (std::filesystem::is_directory(file, ignored)) {
    throw Error(ErrorCode::kInvalidModel, file.string() + ": expected a JSON file, found a directory");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kInvalidModel, file.string() + ": cannot be read: " + std::strerror(errno));
  }
  try {
    return parse_json(in);
  } catch (const nlohmann::json::parse_error& error) {
    throw Error(ErrorCode::kInvalidModel, file.string() + ": not valid JSON (" + error.what() + ")");
  }
}

void write_json_file_atomic(const std::filesystem::path& file, const nlohmann::json& value) {
  write_file_atomic(file, value.dump(2) + "\n");  // dump may throw (invalid UTF-8) before anything is created
}

}  // namespace modelslim
