// `evaluation.evaluation.type: aisbench`, run as the reference runs it: per dataset, a model config for
// ais_bench's vllm_api models (this candidate's path, served name, host, port, max_out_len, request rate,
// generation_kwargs) written into ais_bench's configs, then
//   ais_bench --models <config> --datasets <config_name> --mode <mode> --work-dir <dir>/aisbench_output
//   <extra>
// and the accuracy read from <exp folder>/results/<abbr>/*.json, where the exp folder is the one its
// output names ("Current exp folder: ..."). A command that fails or reports no accuracy throws Error (the
// reference scores it 0; here a benchmark that cannot run is the machinery's failure, as for every
// evaluator).
#pragma once

#include <filesystem>
#include <string>

#include "service_config.hpp"

namespace modelslim::service {

// Throws Error(kUnsupported) when `ais_bench` is not on PATH, pointing to the native runner.
void require_aisbench(const AisbenchSettings& settings);

double run_aisbench_dataset(const ServiceConfig& config, const AisbenchDataset& dataset,
                            const std::filesystem::path& served_model, const std::filesystem::path& out_dir,
                            const std::string& trial);

}  // namespace modelslim::service
