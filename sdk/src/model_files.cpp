#include "modelslim/model_files.hpp"

#include "modelslim/atomic_file.hpp"
#include "modelslim/json_file.hpp"

namespace modelslim {
namespace {
bool travels_with_model(const std::filesystem::path& file) {
  const std::string name = file.filename().string();
  const std::string extension = file.extension().string();
  if (name.size() >= 10 && name.compare(name.size() - 10, 10, "index.json") == 0) return false;
  return extension == ".json" || extension == ".py" || extension == ".txt" || extension == ".jinja" ||
         name == "tokenizer.model";
}
}  // namespace

void write_text_atomic(const std::filesystem::path& file, const std::string& text) {
  write_file_atomic(file, text);
}

void copy_model_files(const std::filesystem::path& model_dir, const std::filesystem::path& output_dir,
                      const nlohmann::json& config) {
  for (const auto& entry : std::filesystem::directory_iterator(model_dir)) {
    if (!entry.is_regular_file() || !travels_with_model(entry.path())) continue;
    const std::filesystem::path target = output_dir / entry.path().filename();
    if (entry.path().filename() == "config.json") continue;  // written from `config` below
    copy_file_atomic(entry.path(), target);
  }
  write_text_atomic(output_dir / "config.json", config.dump(2) + "\n");
}

}  // namespace modelslim
