#include "modelslim/core/plugin_registry.hpp"

#include "modelslim/core/paths.hpp"
#include "modelslim/core/plugin_handshake.hpp"
#include "modelslim/dataset.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <variant>

#include <spdlog/spdlog.h>
#include <boost/dll/shared_library.hpp>

#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/plugin.hpp"

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
  for (const auto& file : files) load(file, Foreign::kSkip);
}

void PluginRegistry::load_library(const std::filesystem::path& file) {
  load(file, Foreign::kRefuse);
}

void PluginRegistry::load(const std::filesystem::path& file, Foreign foreign) {
  const std::filesystem::path absolute = std::filesystem::absolute(file);
  const auto same_file = [&](const std::filesystem::path& other) {
    return std::filesystem::equivalent(other, absolute);
  };
  if (std::any_of(entries_.begin(), entries_.end(),
                  [&](const PluginEntry& e) { return same_file(e.file); }) ||
      std::any_of(skipped_.begin(), skipped_.end(), same_file)) {
    return;  // already seen (same file twice on the path)
  }
  auto library = std::make_shared<boost::dll::shared_library>();
  try {
    // Eager binding: a symbol that nothing provides fails here, naming the library and the symbol, instead
    // of killing the process when the plugin first calls it, possibly hours into a run.
    library->load(absolute.string(), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& error) {
    plugin_error(absolute, std::string("cannot be loaded: ") + error.what(),
                 "check that it was built for this machine and against this modelslim and LibTorch, and that "
                 "its dependencies are installed");
  }
  if (!library->has(MODELSLIM_PLUGIN_ENTRY_SYMBOL)) {
    if (foreign == Foreign::kSkip) {
      spdlog::warn("skipping {}: not a modelslim plugin (it does not export '{}')", absolute.string(),
                   MODELSLIM_PLUGIN_ENTRY_SYMBOL);
      skipped_.push_back(absolute);
      return;
    }
    plugin_error(
        absolute, "does not export the entry symbol '" MODELSLIM_PLUGIN_ENTRY_SYMBOL "'",
        "declare the plugin with MODELSLIM_PLUGIN(name, version, register_fn) from modelslim/plugin.hpp");
  }
  const auto entry_point = library->get<const ModelSlimPluginInfo*()>(MODELSLIM_PLUGIN_ENTRY_SYMBOL);
  const ModelSlimPluginInfo* info = entry_point();
  if (info == nullptr) plugin_error(absolute, "returned no plugin info", "");
  check_handshake(absolute, *info);
  const std::string name = info->plugin_name;
  // Declared after `library`, so the collected factories (code of the library) go before it is unloaded.
  PluginRegistration registration(PluginEntry{PluginKind::kProcessor,
                                              "",
                                              name,
                                              info->plugin_version == nullptr ? "" : info->plugin_version,
                                              absolute,
                                              {},
                                              plugin_abi(*info)});
  const std::string nothing = "; nothing from it was registered";
  const std::string tip = "fix the plugin, or remove it from the plugin path";
  // The exception is turned into our own here: its type and text may live in the library we unload.
  try {
    info->register_plugin(registration);
  } catch (const std::exception& error) {
    plugin_error(absolute, "the register function of plugin '" + name + "' threw: " + error.what() + nothing,
                 tip);
  } catch (...) {
    plugin_error(absolute,
                 "the register function of plugin '" + name + "' threw a non-standard exception" + nothing,
                 tip);
  }
  commit(registration);
  libraries_.push_back(std::move(library));
  spdlog::debug("loaded plugin {} {} from {}", name, registration.plugin().version, absolute.string());
}

void PluginRegistry::commit(PluginRegistration& registration) {
  std::vector<PendingFactory>& pending = registration.pending();
  // Everything is checked before anything is added, so a refused plugin leaves the registry as it was.
  for (auto item = pending.begin(); item != pending.end(); ++item) {
    const PluginEntry& entry = item->entry;
    const std::string what = std::string(plugin_kind_name(entry.kind)) + " type '" + entry.type + "'";
    if (std::visit([](const auto& factory) { return !factory; }, item->factory)) {
      plugin_error(entry.file, "plugin '" + entry.plugin + "' registered an empty factory for " + what,
                   "register a callable that returns the object");
    }
    const auto same = [&](const PluginEntry& other) {
      return other.kind == entry.kind && other.type == entry.type;
    };
    auto existing = std::find_if(entries_.begin(), entries_.end(), same);
    const PluginEntry* first = existing != entries_.end() ? &*existing : nullptr;
    for (auto earlier = pending.begin(); first == nullptr && earlier != item; ++earlier) {
      if (same(earlier->entry)) first = &earlier->entry;
    }
    if (first != nullptr) {
      throw Error(ErrorCode::kPlugin,
                  "duplicate " + what + ": registered by " + first->file.string() + " (plugin " +
                      first->plugin + ") and by " + entry.file.string() + " (plugin " + entry.plugin + ")",
                  "remove one of the two plugins from the plugin path");
    }
  }
  for (PendingFactory& item : pending) {
    const std::string& type = item.entry.type;
    switch (item.entry.kind) {
      case PluginKind::kProcessor:
        processors_[type] = std::get<ProcessorFactory>(std::move(item.factory));
        break;
      case PluginKind::kSaver:
        savers_[type] = std::get<SaverFactory>(std::move(item.factory));
        break;
      case PluginKind::kModelAdapter:
        model_adapters_[type] = std::get<ModelAdapterFactory>(std::move(item.factory));
        break;
      case PluginKind::kStrategy:
        strategies_[type] = std::get<StrategyFactory>(std::move(item.factory));
        break;
      case PluginKind::kEvaluator:
        evaluators_[type] = std::get<EvaluatorFactory>(std::move(item.factory));
        break;
    }
    entries_.push_back(std::move(item.entry));
  }
  pending.clear();
}

const PluginEntry& PluginRegistry::entry_of(PluginKind kind, const std::string& type) const {
  const auto found = std::find_if(entries_.begin(), entries_.end(), [&](const PluginEntry& entry) {
    return entry.kind == kind && entry.type == type;
  });
  return *found;  // every factory has its entry (commit adds both)
}

template <typename T>
std::unique_ptr<T> PluginRegistry::require_made(std::unique_ptr<T> made, PluginKind kind,
                                                const std::string& type) const {
  if (made) return made;
  const PluginEntry& entry = entry_of(kind, type);
  throw Error(ErrorCode::kPlugin,
              "plugin '" + entry.plugin + "' (" + entry.file.string() + "): its " + plugin_kind_name(kind) +
                  " factory for type '" + type + "' returned no object",
              "a factory returns an object, or throws modelslim::Error saying why it cannot");
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
  const std::string type = type_of(config, PluginKind::kProcessor);
  return require_made(processors_.at(type)(config, *this), PluginKind::kProcessor, type);
}

std::unique_ptr<Saver> PluginRegistry::create_saver(const ConfigNode& config) const {
  const std::string type = type_of(config, PluginKind::kSaver);
  return require_made(savers_.at(type)(config, *this), PluginKind::kSaver, type);
}

std::filesystem::path PluginRegistry::find_dataset(const std::string& name_or_path) const {
  return resolve_dataset(name_or_path, dataset_dirs());
}

std::unique_ptr<Strategy> PluginRegistry::create_strategy(const ConfigNode& config) const {
  const std::string type = type_of(config, PluginKind::kStrategy);
  return require_made(strategies_.at(type)(config, *this), PluginKind::kStrategy, type);
}

std::unique_ptr<Evaluator> PluginRegistry::create_evaluator(const ConfigNode& config) const {
  const std::string type = type_of(config, PluginKind::kEvaluator);
  return require_made(evaluators_.at(type)(config, *this), PluginKind::kEvaluator, type);
}

namespace {

// The adapter registering `name` as its type, a model type or an architecture (case-insensitive).
std::optional<std::string> exact_model_adapter(const std::vector<PluginEntry>& entries,
                                               const std::string& name) {
  const std::string wanted = lower(name);
  for (const auto& entry : entries) {
    if (entry.kind != PluginKind::kModelAdapter) continue;
    if (lower(entry.type) == wanted) return entry.type;
    for (const auto& candidate : entry.model_types) {
      if (lower(candidate) == wanted) return entry.type;
    }
  }
  return std::nullopt;
}

}  // namespace

// Exact (case-insensitive) names only: a prefix would send `qwen3_moe` to the dense `qwen3` adapter, which
// then fails on a missing tensor. --model_type is often a model NAME the reference uses to find practices
// (`Qwen3-8B`); when it names no adapter, config.json decides.
std::string PluginRegistry::select_model_adapter(const std::string& requested,
                                                 const nlohmann::json& hf_config) const {
  if (!requested.empty()) {
    if (auto adapter = exact_model_adapter(entries_, requested)) return *adapter;
  }
  std::vector<std::string> names;
  if (hf_config.contains("model_type") && hf_config["model_type"].is_string()) {
    names.push_back(hf_config["model_type"].get<std::string>());
  }
  if (hf_config.contains("architectures") && hf_config["architectures"].is_array()) {
    for (const auto& arch : hf_config["architectures"]) {
      if (arch.is_string()) names.push_back(arch.get<std::string>());
    }
  }
  for (const auto& name : names) {
    if (auto adapter = exact_model_adapter(entries_, name)) {
      if (!requested.empty()) {
        spdlog::info("--model_type '{}' names no model adapter; config.json's '{}' selects adapter '{}'",
                     requested, name, *adapter);
      }
      return *adapter;
    }
  }
  std::vector<std::string> supported;
  for (const auto& entry : entries_) {
    if (entry.kind != PluginKind::kModelAdapter) continue;
    supported.push_back(entry.type + " (" + join(entry.model_types) + "; plugin " + entry.plugin + ")");
  }
  const std::string asked = (requested.empty() ? std::string() : "--model_type '" + requested + "' or ") +
                            "config.json model_type/architectures [" + join(names) + "]";
  throw Error(ErrorCode::kUnsupported,
              "no model adapter supports " + asked + " (names are matched exactly); supported: " +
                  (supported.empty() ? std::string("none loaded") : join(supported)),
              "pass --model_type with a supported type, or write a model adapter plugin (docs/plugin-sdk.md, "
              "\"Model adapters\") and load it with --plugin-dir");
}

std::string resolved_model_type(const std::string& requested, const nlohmann::json& hf_config,
                                const std::string& adapter_type) {
  if (!requested.empty()) return requested;
  return hf_config.contains("model_type") ? hf_config["model_type"].get<std::string>() : adapter_type;
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
  const std::string resolved = resolved_model_type(model_type, hf_config, adapter);
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
  return require_made(found->second(request), PluginKind::kModelAdapter, adapter_type);
}

}  // namespace modelslim::core
