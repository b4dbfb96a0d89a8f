// The exact command line that starts an inference engine on one model (printed, logged, and exec'd as is).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "service_config.hpp"

namespace modelslim::service {

struct ServedModel {
  std::filesystem::path model_dir;                 // the float checkpoint
  std::optional<std::filesystem::path> quant_dir;  // the candidate's saved model; empty: serve the float one
};

// vllm / vllm-ascend: python -m <entrypoint> --model <saved> --host H --port P [--served-model-name N] <args>
// sglang:            python -m <entrypoint> --model-path <saved> --host H --port P --served-model-name N
// <args> modelslim:         <modelslim> serve --model_path <float> [--quant_path <saved>] --host H --port P
//                                      --served_model_name N <args>
// command:           the argv template with {model} {model_path} {quant_path} {host} {port}
// {served_model_name}
std::vector<std::string> engine_argv(const EngineConfig& engine, const ServedModel& model);

// The argv as a shell would need it typed (each word quoted when needed).
std::string shell_line(const std::vector<std::string>& argv);

}  // namespace modelslim::service
