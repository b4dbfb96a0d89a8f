// The `service_oriented` evaluator's configuration: the reference's plan schema (inference_engine,
// evaluation {type: aisbench, aisbench, datasets, host, port, served_model_name, precheck}) plus our native
// benchmark runner (evaluation.type: native). Parsed once, at plan-parse time, so every field error names
// the file, line and field before any model is quantized.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "modelslim/config_node.hpp"

namespace modelslim::service {

struct EngineConfig {
  std::string type = "vllm-ascend";  // vllm-ascend | vllm | sglang | modelslim | command
  std::string entrypoint;            // python module (vllm*, sglang) or the modelslim binary
  std::string python = "python";     // the interpreter of the python engines
  std::vector<std::pair<std::string, std::string>> env_vars;
  std::string served_model_name = "served_model_name";
  std::string host = "localhost";
  int port = 1234;
  std::string health_check_endpoint = "/v1/models";
  double startup_timeout = 600;
  double stop_timeout = 10;          // SIGTERM, then SIGKILL for the whole process group
  std::vector<std::string> args;     // `args` mapped to command-line flags
  bool args_name_model = false;      // args set the served model name themselves
  std::vector<std::string> command;  // type command: the argv template
};

struct PrecheckCase {
  std::string message;
  std::vector<std::string> expected;  // expected_answer: any of them, case-insensitive
  std::vector<std::string> items;     // garbled_text: the checks to apply
};

struct PrecheckRule {
  std::string type;  // expected_answer | garbled_text
  int max_tokens = 512;
  double timeout = 60;
  std::string api = "chat";  // chat (as the reference) | completions (models without a chat template)
  std::vector<PrecheckCase> cases;
};

struct Server {
  std::string host = "localhost";
  int port = 1234;
  std::string served_model_name = "served_model_name";
};

struct AisbenchModelMeta {
  std::string directory, subdir = "vllm_api", base_name = "vllm_api_general_chat", name_suffix = "auto",
                         abbr = "vllm-api-general-chat", attr = "service";
};

struct AisbenchSettings {
  std::string binary = "ais_bench";
  std::string mode = "all";
  double timeout = 7200;
  bool cleanup_model_config = true;
  AisbenchModelMeta model_meta;
  double request_rate = 1.0;
  std::string pred_postprocessor = "extract_non_reasoning_content";
  int retry = 2;
  int batch_size = 1;
  int max_out_len = 512;
  bool trust_remote_code = false;
  YAML::Node generation_kwargs;
  std::vector<std::string> extra_args;
  std::string log_dir;
  std::vector<std::string> metric_keys = {"accuracy"};  // default_metric_keys
};

struct AisbenchDataset {
  std::string name, config_name, mode;
  double request_rate = 0;
  std::optional<int> max_out_len;
  std::optional<bool> returns_tool_calls;
  std::string api_chat_type = "VLLMCustomAPIChat";
  YAML::Node chat_template_kwargs;
  std::vector<std::string> extra_args;
};

// One dataset of the native runner.
struct NativeDataset {
  std::string name;
  std::string path;                 // resolved
  std::string task;                 // gsm8k | boolq | multiple_choice | custom | perplexity
  std::string method = "generate";  // multiple_choice: generate (the letter) | logprobs
  std::string api = "completions";  // completions | chat
  std::string match = "contains";   // custom: contains | prefix | exact
  int max_tokens = 256;
  std::size_t limit = 0;  // 0: every sample
  std::vector<std::string> stop;
};

struct NativeSettings {
  int concurrency = 4;
  double request_timeout = 300;
  int retry = 2;
  std::vector<NativeDataset> datasets;
};

struct DemandItem {
  std::string dataset;
  std::optional<double>
      threshold;  // absolute target - tolerance: below it the remaining datasets are skipped
};

struct ServiceConfig {
  EngineConfig engine;
  std::string runner = "aisbench";  // evaluation.evaluation.type: aisbench | native
  Server server;
  std::vector<PrecheckRule> precheck;
  AisbenchSettings aisbench;
  std::vector<AisbenchDataset> aisbench_datasets;
  NativeSettings native;
  std::vector<DemandItem> demand;  // empty: every configured dataset, in order
  std::vector<std::string> dataset_names() const;
};

class DatasetFinder {
 public:
  virtual ~DatasetFinder() = default;
  virtual std::string find(const std::string& name_or_path) const = 0;
};

ServiceConfig parse_service_config(const ConfigNode& config, const DatasetFinder& finder);

// `args: {k: v}` as the reference maps them: true → --k, false/null → nothing, a map → --k '<compact JSON>',
// a list → --k v1 v2, anything else → --k v.
std::vector<std::string> map_engine_args(const ConfigNode& args);

}  // namespace modelslim::service
