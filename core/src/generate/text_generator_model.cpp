#include "text_generator_model.hpp"

#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/tokenizer.hpp"

namespace modelslim::core {
namespace {

// Hugging Face writes a special token as a string or as an AddedToken object {"content": ...}.
std::string token_text(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return {};
  const nlohmann::json& value = config[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  return {};
}

// A single template, or the "default" one of a list of named templates.
std::string template_text(const nlohmann::json& config) {
  if (!config.contains("chat_template")) return {};
  const nlohmann::json& value = config["chat_template"];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    for (const nlohmann::json& entry : value) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string())
        return entry["template"].get<std::string>();
    }
  }
  return {};
}

void add_ids(const nlohmann::json& value, std::set<std::int64_t>& ids) {
  if (value.is_number_integer()) ids.insert(value.get<std::int64_t>());
  if (value.is_array()) {
    for (const nlohmann::json& id : value) add_ids(id, ids);
  }
}

}  // namespace

ModelTextInfo read_model_text_info(const std::filesystem::path& model_dir, const nlohmann::json& hf_config,
                                   const Tokenizer& tokenizer) {
  ModelTextInfo info;
  const std::filesystem::path tokenizer_config = model_dir / "tokenizer_config.json";
  if (std::filesystem::exists(tokenizer_config)) {
    const nlohmann::json config = read_json_file(tokenizer_config);
    info.chat_template = template_text(config);
    info.bos_token = token_text(config, "bos_token");
    info.eos_token = token_text(config, "eos_token");
  }
  if (hf_config.contains("eos_token_id")) add_ids(hf_config["eos_token_id"], info.eos_ids);
  const std::filesystem::path generation_config = model_dir / "generation_config.json";
  if (std::filesystem::exists(generation_config)) {
    const nlohmann::json config = read_json_file(generation_config);
    if (config.contains("eos_token_id")) add_ids(config["eos_token_id"], info.eos_ids);
  }
  if (!info.eos_token.empty()) {
    if (const auto id = tokenizer.token_to_id(info.eos_token)) info.eos_ids.insert(*id);
  }
  // The llama adapter's default when config.json omits it (Hugging Face LlamaConfig's is 2048; the adapter
  // already sized its rotary tables by this value).
  const nlohmann::json positions = hf_config.value("max_position_embeddings", nlohmann::json(4096));
  if (!positions.is_number_integer() || positions.get<std::int64_t>() <= 0) {
    throw Error(ErrorCode::kInvalidModel, (model_dir / "config.json").string() +
                                              ": max_position_embeddings must be a positive integer, got " +
                                              positions.dump());
  }
  info.context_length = positions.get<std::int64_t>();
  return info;
}

}  // namespace modelslim::core
