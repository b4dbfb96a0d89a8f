// Free space checked before a run, against a lower bound of what it will write: refusing after an hour of
// calibration because the disk filled up helps nobody.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

namespace modelslim::core {

// The smallest weight width a practice asks for (any `weight: {dtype: int4|int8}` in it); 4 when it names
// none, so the estimate stays a lower bound.
int smallest_weight_bits(const YAML::Node& practice);

// Lower bound of a quant run's output: every parameter of the checkpoint (its *.safetensors bytes over the
// element size of config.json's torch_dtype, 4 bytes when unknown) at `weight_bits`, plus `float_copies`
// float checkpoints (spec.prior stages).
std::uint64_t estimate_output_bytes(const std::filesystem::path& model_path, const nlohmann::json& hf_config,
                                    int weight_bits, std::size_t float_copies);

// Bytes available to this user on the file system of `path` (or its nearest existing ancestor).
std::uint64_t free_bytes(const std::filesystem::path& path);

// Throws Error(kIo) with both numbers when `available` < `needed`; `what` names the flag and path.
void require_free_space(const std::string& what, std::uint64_t needed, std::uint64_t available);

}  // namespace modelslim::core
