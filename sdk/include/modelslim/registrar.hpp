// What a plugin's register function receives: it adds factories by (kind, type name). Factories validate
// their YAML configuration when called (at config-parse time, before any model is loaded) and throw
// Error(kSchemaValidate) naming the field.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "modelslim/config_node.hpp"
#include "modelslim/evaluator.hpp"
#include "modelslim/export.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/processor.hpp"
#include "modelslim/saver.hpp"
#include "modelslim/strategy.hpp"

namespace modelslim {

enum class PluginKind { kProcessor, kSaver, kModelAdapter, kStrategy, kEvaluator };
MODELSLIM_SDK_API const char* plugin_kind_name(PluginKind kind);

// Services the host offers to plugin factories (e.g. a container processor building its children).
class MODELSLIM_SDK_API HostServices {
 public:
  virtual ~HostServices();  // key function, defined in sdk/src (see export.hpp)
  virtual std::unique_ptr<Processor> create_processor(const ConfigNode& config) const = 0;
  virtual std::unique_ptr<Saver> create_saver(const ConfigNode& config) const = 0;
  // Since ABI 1.1: opens a checkpoint with the adapter chosen for `model_type` (empty: from its config.json).
  virtual std::unique_ptr<ModelAdapter> load_model(const std::filesystem::path& model_dir,
                                                   const std::string& model_type) const = 0;
  // Since ABI 3.0: the same, telling the adapter which weights the caller replaces (ModelLoadRequest).
  virtual std::unique_ptr<ModelAdapter> load_model_replacing(
      const std::filesystem::path& model_dir, const std::string& model_type,
      const std::set<std::string>& replaced_weights) const = 0;
  // Since ABI 4.0: a dataset given by path or by name, looked up where `quant` looks (MODELSLIM_DATASET_PATH,
  // the installed and source datasets). Throws Error(kInvalidDataset) listing the places searched.
  virtual std::filesystem::path find_dataset(const std::string& name_or_path) const = 0;
};

using ProcessorFactory =
    std::function<std::unique_ptr<Processor>(const ConfigNode& config, const HostServices& host)>;
using SaverFactory =
    std::function<std::unique_ptr<Saver>(const ConfigNode& config, const HostServices& host)>;
using ModelAdapterFactory = std::function<std::unique_ptr<ModelAdapter>(const ModelLoadRequest& request)>;
using StrategyFactory =
    std::function<std::unique_ptr<Strategy>(const ConfigNode& config, const HostServices& host)>;
using EvaluatorFactory =
    std::function<std::unique_ptr<Evaluator>(const ConfigNode& config, const HostServices& host)>;

class MODELSLIM_SDK_API Registrar {
 public:
  virtual ~Registrar();  // key function, defined in sdk/src (see export.hpp)
  virtual void add_processor(const std::string& type, ProcessorFactory factory) = 0;
  virtual void add_saver(const std::string& type, SaverFactory factory) = 0;
  // `model_types`: HF model_type values and architecture class names, matched exactly (case-insensitive).
  virtual void add_model_adapter(const std::string& type, std::vector<std::string> model_types,
                                 ModelAdapterFactory factory) = 0;
  virtual void add_strategy(const std::string& type, StrategyFactory factory) = 0;
  virtual void add_evaluator(const std::string& type, EvaluatorFactory factory) = 0;
};

}  // namespace modelslim
