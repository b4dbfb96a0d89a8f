#include "modelslim/json_file.hpp"

#include <fstream>
#include <sstream>

#include "modelslim/error.hpp"

namespace modelslim {

nlohmann::json read_json_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw Error(ErrorCode::kInvalidModel, file.string() + ": cannot be read (missing or not accessible)");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& error) {
    throw Error(ErrorCode::kInvalidModel, file.string() + ": not valid JSON (" + error.what() + ")");
  }
}

void write_json_file_atomic(const std::filesystem::path& file, const nlohmann::json& value) {
  const std::filesystem::path temp = file.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << value.dump(2) << "\n";
    if (!out) throw Error(ErrorCode::kIo, temp.string() + ": cannot write");
  }
  std::filesystem::rename(temp, file);
}

}  // namespace modelslim
