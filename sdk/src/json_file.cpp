#include "modelslim/json_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

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
  // A per-process temp name: two writers of the same file never interleave bytes, the last rename wins.
  const std::filesystem::path temp = file.string() + ".tmp." + std::to_string(::getpid());
  const std::string text = value.dump(2) + "\n";  // may throw (invalid UTF-8) before anything is created
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw Error(ErrorCode::kIo,
                  file.string() + ": cannot create " + temp.string() + ": " + std::strerror(errno));
    }
    out << text;
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temp, ignored);
      throw Error(ErrorCode::kIo, file.string() + ": writing " + temp.string() + " failed");
    }
  }
  std::error_code error;
  std::filesystem::rename(temp, file, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw Error(ErrorCode::kIo,
                file.string() + ": cannot move " + temp.string() + " into place: " + error.message());
  }
}

}  // namespace modelslim
