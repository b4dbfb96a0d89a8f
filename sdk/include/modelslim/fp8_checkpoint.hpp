// Reading FP8 block-quantized checkpoints (config.json quantization_config.quant_method "fp8", as
// DeepSeek-V3/R1 ship): a linear's F8_E4M3 weight is decoded and multiplied by its `weight_scale_inv` (one
// float32 factor per weight_block_size block) as that weight is read, one linear at a time: no conversion
// pass, no copy on disk.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "modelslim/export.hpp"

namespace modelslim {

class SafetensorsCheckpoint;

struct Fp8BlockSize {
  std::int64_t rows = 128;  // output channels per block
  std::int64_t cols = 128;  // input channels per block
};

// The block size of an FP8 checkpoint from config.json (`hf_config`, read from `config_file`): nullopt unless
// quantization_config.quant_method is "fp8"; weight_block_size defaults to [128, 128] as in transformers.
// Throws Error(kInvalidModel) naming the field for an fmt other than e4m3 or a malformed weight_block_size.
MODELSLIM_SDK_API std::optional<Fp8BlockSize> fp8_block_size(const nlohmann::json& hf_config,
                                                             const std::filesystem::path& config_file);

// The linear weight `weight_name` ("….weight") as float32 [out, in]. A weight stored as F8_E4M3 is decoded
// and multiplied block-wise by "….weight_scale_inv" (float32 [ceil(out / rows), ceil(in / cols)]); `fp8` must
// then be set (the checkpoint's fp8_block_size). Other dtypes are converted. Errors name the tensor: an FP8
// weight without its scale, a scale of the wrong shape, NaN codes, a non-finite product.
MODELSLIM_SDK_API at::Tensor load_float_weight(const SafetensorsCheckpoint& checkpoint,
                                               const std::string& weight_name,
                                               const std::optional<Fp8BlockSize>& fp8);

// The block multiplication on tensors: `weight` float32 [out, in] (decoded codes; scaled in place and
// returned), `scale_inv` float32 [ceil(out / rows), ceil(in / cols)]. `weight_name` is for messages.
MODELSLIM_SDK_API at::Tensor dequantize_fp8_blocks(at::Tensor weight, const at::Tensor& scale_inv,
                                                   const Fp8BlockSize& block, const std::string& weight_name);

// Writing FP8 checkpoints (tools, tests): SafetensorsWriter stores LibTorch dtypes only, so the codes are
// written as uint8 (U8) tensors and this rewrites the finished file's header to say F8_E4M3 for `names`
// (atomically: temp file + rename). Throws Error naming the file and tensor when one is missing or not U8.
MODELSLIM_SDK_API void retype_as_fp8_e4m3(const std::filesystem::path& file,
                                          const std::set<std::string>& names);

}  // namespace modelslim
