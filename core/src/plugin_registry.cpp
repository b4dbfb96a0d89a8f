#include "modelslim/core/plugin_registry.hpp"

#include "modelslim/core/paths.hpp"
#include "modelslim/dataset.hpp"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>
#include <boost/dll/shared_library.hpp>

#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/version.hpp"

namespace modelslim::core {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

[[noreturn]] void plugin_error(const std::filesystem::path& file, const std::string& what,
                               const std::string& tip) {
  throw Error(ErrorCode::kPlugin, "plugin " + file.string() + ": " + what, tip);
}

template <typename Map>
std::vector<std::string> keys_of(const Map& map) {
  std::vector<std::string> keys;
  for (const auto& entry : map) keys.push_back(entry.first);
  return keys;
}

}  // namespace

PluginRegistry::PluginRegistry() = default;

PluginRegistry::~PluginRegistry() {
  // Factories hold code from the libraries: drop them before the libraries go.
  processors_.clear();
  savers_.clear();
  model_adapters_.clear();
  strategies_.clear();
  evaluators_.clear();
}

void PluginRegistry::load_directory(const std::filesystem::path& dir) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) return;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind("lib", 0) == 0 && entry.path().extension() == ".so") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) load_library(file);
}

void PluginRegistry::load_library(const std::filesystem::path& file) {
  const std::filesystem::path absolute = std::filesystem::absolute(file);
  for (const auto& entry : entries_) {
    if (std::filesystem::equivalent(entry.file, absolute))
      return;  // already loaded (same file twice on the path)
  }
  auto library = std::make_shared<boost::dll::shared_library>();
  try {
    library->load(absolute.string(), boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& error) {
    plugin_error(absolute, std::string("cannot be loaded: ") + error.what(),
                 "check that it was built for this machine and that its dependencies are installed");
  }
  if (!library->has(MODELSLIM_PLUGIN_ENTRY_SYMBOL)) {
    plugin_error(
        absolute, "does not export the entry symbol '" MODELSLIM_PLUGIN_ENTRY_SYMBOL "'",
        "declare the plugin with MODELSLIM_PLUGIN(name, version, register_fn) from modelslim/plugin.hpp");
  }
  const auto entry_point = library->get<const ModelSlimPluginInfo*()>(MODELSLIM_PLUGIN_ENTRY_SYMBOL);
  const ModelSlimPluginInfo* info = entry_point();
  if (info == nullptr) plugin_error(absolute, "returned no plugin info", "");
  const std::string plugin_abi = std::to_string(info->abi_major) + "." + std::to_string(info->abi_minor);
  const std::string host_abi = std::to_string(kSdkAbiMajor) + "." + std::to_string(kSdkAbiMinor);
  if (info->abi_major != kSdkAbiMajor || info->abi_minor > kSdkAbiMinor) {
    plugin_error(
        absolute,
        "was built against modelslim SDK ABI " + plugin_abi + " but this host provides SDK ABI " + host_abi,
        "rebuild the plugin against the installed modelslim SDK");
  }
  const std::string torch_version = info->torch_version == nullptr ? "(unknown)" : info->torch_version;
  if (torch_version != host_torch_version()) {
    plugin_error(absolute,
                 "was built against LibTorch " + torch_version + " but this host uses LibTorch " +
                     host_torch_version(),
                 "rebuild the plugin with the same LibTorch as the host");
  }
  if (info->register_plugin == nullptr || info->plugin_name == nullptr) {
    plugin_error(absolute, "has no name or register function", "");
  }
  registering_ = PluginEntry{PluginKind::kProcessor,
                             "",
                             info->plugin_name,
                             info->plugin_version == nullptr ? "" : info->plugin_version,
                             absolute,
                             {}};
  try {
    info->register_plugin(*this);
  } catch (...) {
    registering_.reset();
    throw;
  }
  registering_.reset();
  libraries_.push_back(std::move(library));
  spdlog::debug("loaded plugin {} {} from {}", info->plugin_name, info->plugin_version, absolute.string());
}

void PluginRegistry::add_entry(PluginKind kind, const std::string& type,
                               std::vector<std::string> model_types) {
  if (!registering_) {
    throw Error(ErrorCode::kPlugin, "factory '" + type + "' registered outside a plugin's register function");
  }
  for (const auto& existing : entries_) {
    if (existing.kind == kind && existing.type == type) {
      throw Error(ErrorCode::kPlugin,
                  std::string("duplicate ") + plugin_kind_name(kind) + " type '" + type +
                      "': registered by " + existing.file.string() + " (plugin " + existing.plugin +
                      ") and by " + registering_->file.string() + " (plugin " + registering_->plugin + ")",
                  "remove one of the two plugins from the plugin path");
    }
  }
  PluginEntry entry = *registering_;
  entry.kind = kind;
  entry.type = type;
  entry.model_types = std::move(model_types);
  entries_.push_back(std::move(entry));
}

void PluginRegistry::add_processor(const std::string& type, ProcessorFactory factory) {
  add_entry(PluginKind::kProcessor, type, {});
  processors_[type] = std::move(factory);
}

void PluginRegistry::add_saver(const std::string& type, SaverFactory factory) {
  add_entry(PluginKind::kSaver, type, {});
  savers_[type] = std::move(factory);
}

void PluginRegistry::add_model_adapter(const std::string& type, std::vector<std::string> model_types,
                                       ModelAdapterFactory factory) {
  add_entry(PluginKind::kModelAdapter, type, std::move(model_types));
  model_adapters_[type] = std::move(factory);
}

void PluginRegistry::add_strategy(const std::string& type, StrategyFactory factory) {
  add_entry(PluginKind::kStrategy, type, {});
  strategies_[type] = std::move(factory);
}

void PluginRegistry::add_evaluator(const std::string& type, EvaluatorFactory factory) {
  add_entry(PluginKind::kEvaluator, type, {});
  evaluators_[type] = std::move(factory);
}

std::vector<PluginEntry> PluginRegistry::entries() const {
  return entries_;
}

std::vector<std::string> PluginRegistry::types(PluginKind kind) const {
  std::vector<std::string> result;
  for (const auto& entry : entries_) {
    if (entry.kind == kind) result.push_back(entry.type);
  }
  std::sort(result.begin(), result.end());
  return result;
}

std::string PluginRegistry::type_of(const ConfigNode& config, PluginKind kind) const {
  config.require_map();
  if (!config.has("type")) {
    config.fail(std::string("missing field 'type' (known ") + plugin_kind_name(kind) +
                " types: " + join(types(kind)) + ")");
  }
  const std::string type = config["type"].as_string();
  const auto known = types(kind);
  if (std::find(known.begin(), known.end(), type) == known.end()) {
    config["type"].fail(std::string("unknown ") + plugin_kind_name(kind) + " type '" + type +
                        "' (known: " + join(known) + ")");
  }
  return type;
}

std::unique_ptr<Processor> PluginRegistry::create_processor(const ConfigNode& config) const {
  return processors_.at(type_of(config, PluginKind::kProcessor))(config, *this);
}

std::unique_ptr<Saver> PluginRegistry::create_saver(const ConfigNode& config) const {
  return savers_.at(type_of(config, PluginKind::kSaver))(config, *this);
}

std::filesystem::path PluginRegistry::find_dataset(const std::string& name_or_path) const {
  return resolve_dataset(name_or_path, dataset_dirs());
}

std::unique_ptr<Strategy> PluginRegistry::create_strategy(const ConfigNode& config) const {
  return strategies_.at(type_of(config, PluginKind::kStrategy))(config, *this);
}

std::unique_ptr<Evaluator> PluginRegistry::create_evaluator(const ConfigNode& config) const {
  return evaluators_.at(type_of(config, PluginKind::kEvaluator))(config, *this);
}

std::string PluginRegistry::select_model_adapter(const std::string& requested,
                                                 const nlohmann::json& hf_config) const {
  std::vector<std::string> names;
  if (!requested.empty()) {
    names.push_back(requested);
  } else {
    if (hf_config.contains("model_type") && hf_config["model_type"].is_string()) {
      names.push_back(hf_config["model_type"].get<std::string>());
    }
    if (hf_config.contains("architectures") && hf_config["architectures"].is_array()) {
      for (const auto& arch : hf_config["architectures"]) {
        if (arch.is_string()) names.push_back(arch.get<std::string>());
      }
    }
  }
  for (const auto& name : names) {
    const std::string wanted = lower(name);
    std::string best_adapter;
    std::size_t best_length = 0;
    for (const auto& entry : entries_) {
      if (entry.kind != PluginKind::kModelAdapter) continue;
      std::vector<std::string> candidates = entry.model_types;
      candidates.push_back(entry.type);
      for (const auto& candidate : candidates) {
        const std::string key = lower(candidate);
        if (wanted.rfind(key, 0) == 0 && key.size() > best_length) {
          best_adapter = entry.type;
          best_length = key.size();
        }
      }
    }
    if (!best_adapter.empty()) return best_adapter;
  }
  std::vector<std::string> supported;
  for (const auto& entry : entries_) {
    if (entry.kind != PluginKind::kModelAdapter) continue;
    supported.push_back(entry.type + " (" + join(entry.model_types) + "; plugin " + entry.plugin + ")");
  }
  const std::string asked = requested.empty() ? "config.json model_type/architectures [" + join(names) + "]"
                                              : "--model_type '" + requested + "'";
  throw Error(ErrorCode::kUnsupported,
              "no model adapter supports " + asked +
                  "; supported: " + (supported.empty() ? std::string("none loaded") : join(supported)),
              "pass --model_type with a supported type, or add an adapter plugin with --plugin-dir");
}

std::unique_ptr<ModelAdapter> PluginRegistry::load_model(const std::filesystem::path& model_dir,
                                                         const std::string& model_type) const {
  return load_model_replacing(model_dir, model_type, {});
}

std::unique_ptr<ModelAdapter> PluginRegistry::load_model_replacing(
    const std::filesystem::path& model_dir, const std::string& model_type,
    const std::set<std::string>& replaced_weights) const {
  const nlohmann::json hf_config = read_json_file(model_dir / "config.json");
  const std::string adapter = select_model_adapter(model_type, hf_config);
  const std::string resolved = !model_type.empty() ? model_type : hf_config.value("model_type", adapter);
  return create_model_adapter(
      adapter, ModelLoadRequest{model_dir, hf_config, resolved, at::kCPU, false, replaced_weights});
}

std::unique_ptr<ModelAdapter> PluginRegistry::create_model_adapter(const std::string& adapter_type,
                                                                   const ModelLoadRequest& request) const {
  const auto found = model_adapters_.find(adapter_type);
  if (found == model_adapters_.end()) {
    throw Error(ErrorCode::kUnsupported, "unknown model adapter '" + adapter_type +
                                             "' (known: " + join(keys_of(model_adapters_)) + ")");
  }
  return found->second(request);
}

}  // namespace modelslim::core
