// Detecting NaN and ±Inf before they turn into NaN scales and undefined integer casts. One pass over the
// values, reading the exponent bits (float32, float64, float16, bfloat16); integer tensors are always
// finite.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "modelslim/export.hpp"

namespace modelslim {

// Flat (row-major) index of the first NaN or ±Inf element of a contiguous or strided tensor, or nullopt.
MODELSLIM_SDK_API std::optional<std::int64_t> find_non_finite(const at::Tensor& tensor);

// The same over raw memory: `count` elements of `dtype` at `data` (must be a floating or integer type).
MODELSLIM_SDK_API std::optional<std::int64_t> find_non_finite(const void* data, std::int64_t count,
                                                              at::ScalarType dtype);

// "nan at [3, 17]" / "inf at [5]": the element at `flat_index` of `tensor`, for error messages.
MODELSLIM_SDK_API std::string describe_non_finite(const at::Tensor& tensor, std::int64_t flat_index);

}  // namespace modelslim
