#include "modelslim/quant_math.hpp"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "modelslim/error.hpp"
#include "modelslim/finite.hpp"

namespace modelslim {
namespace {
constexpr float kEps = std::numeric_limits<float>::epsilon();

// Expands per-group params [out, groups] to the weight's [out, in] columns.
at::Tensor expand_groups(const at::Tensor& params, std::int64_t in_features) {
  if (params.dim() == 1) return params.unsqueeze(1);
  const std::int64_t group_size = in_features / params.size(1);
  return params.repeat_interleave(group_size, 1);
}

// min and max of each of `count` consecutive groups of `span` elements, as float64 (exact: they are
// elements); NaN for a group holding one, as at::min / at::max give.
template <typename T>
void group_ranges(const T* w, std::int64_t count, std::int64_t span, double* mins, double* maxs) {
  for (std::int64_t g = 0; g < count; ++g) {
    const T* src = w + g * span;
    T mn = src[0];
    T mx = src[0];
    bool nan = false;
    for (std::int64_t j = 0; j < span; ++j) {
      const T v = src[j];
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
      nan |= v != v;
    }
    mins[g] = nan ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(mn);
    maxs[g] = nan ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(mx);
  }
}

// quantize_values' round(x / scale + offset) clamped, in float64, for `count` groups of `span` elements
// with one scale/offset each. Clamping before rounding gives the same integers (the bounds are integers and
// rounding is monotonic).
template <typename T>
void quantize_groups(const T* w, const double* scale, const double* offset, std::int64_t count,
                     std::int64_t span, IntRange range, std::int8_t* q) {
  const double lo = static_cast<double>(range.min);
  const double hi = static_cast<double>(range.max);
  for (std::int64_t g = 0; g < count; ++g) {
    const T* src = w + g * span;
    std::int8_t* dst = q + g * span;
    for (std::int64_t j = 0; j < span; ++j) {
      const double v = std::min(std::max(static_cast<double>(src[j]) / scale[g] + offset[g], lo), hi);
      dst[j] = static_cast<std::int8_t>(std::nearbyint(v));
    }
  }
}
[[noreturn]] void throw_non_finite_weight(const at::Tensor& weight) {
  const auto bad = find_non_finite(weight);
  throw Error(ErrorCode::kInvalidModel,
              "the weight holds " +
                  (bad ? describe_non_finite(weight, *bad) : std::string("non-finite values")) +
                  ", which has no quantization scale",
              "the checkpoint or an earlier processor (smoothing, rotation) produced it; check both");
}
}  // namespace

IntRange int_range(int bits) {
  return {-(std::int64_t{1} << (bits - 1)), (std::int64_t{1} << (bits - 1)) - 1};
}

ScaleOffset minmax_scale_offset(const at::Tensor& min, const at::Tensor& max, int bits, bool symmetric) {
  // float32 unless the caller passes float64 (weights do, for exact integers).
  const at::ScalarType type = min.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor mn = at::clamp_max(min.to(type), 0.0);
  const at::Tensor mx = at::clamp_min(max.to(type), 0.0);
  const IntRange range = int_range(bits);
  if (symmetric) {
    const at::Tensor scale = at::clamp_min(at::maximum(-mn, mx) / static_cast<double>(range.max), kEps);
    return {scale, at::zeros_like(scale)};
  }
  const double levels = static_cast<double>((std::int64_t{1} << bits) - 1);
  const at::Tensor scale = at::clamp_min((mx - mn) / levels, kEps);
  const at::Tensor offset = at::round(-mn / scale) + static_cast<double>(range.min);
  return {scale, offset};
}

at::Tensor quantize_values(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& offset, int bits) {
  const IntRange range = int_range(bits);
  const at::Tensor values = x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);
  return at::clamp(at::round(values / scale + offset), static_cast<double>(range.min),
                   static_cast<double>(range.max));
}

at::Tensor dequantize_values(const at::Tensor& q, const at::Tensor& scale, const at::Tensor& offset) {
  return (q.to(at::kFloat) - offset) * scale;
}

at::Tensor fake_quantize(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& offset, int bits) {
  return dequantize_values(quantize_values(x, scale, offset, bits), scale, offset);
}

QuantizedWeight quantize_weight_minmax(const at::Tensor& weight, int bits, bool symmetric,
                                       std::int64_t group_size) {
  const std::int64_t out = weight.size(0);
  const std::int64_t in = weight.size(1);
  if (group_size > 0 && in % group_size != 0) {
    throw Error(ErrorCode::kUnsupported, "per_group weight quantization: in_features " + std::to_string(in) +
                                             " is not divisible by group_size " + std::to_string(group_size));
  }
  // The float64 formula (exact integers at .5 edges), computed a chunk of rows at a time instead of on
  // whole-matrix float64 temporaries (5x the weight's size): the range pass leaves the chunk in cache for
  // the quantize pass. float16/bfloat16 widen to float32 exactly; float32/float64 are read as they are.
  const at::Tensor w = (weight.scalar_type() == at::kDouble ? weight : weight.to(at::kFloat)).contiguous();
  const std::int64_t span = group_size > 0 ? group_size : in;
  const std::int64_t groups = in / span;
  const IntRange range = int_range(bits);
  at::Tensor q = at::empty({out, in}, at::kChar);
  at::Tensor scale = at::empty({out, groups}, at::kDouble);
  at::Tensor offset = at::empty({out, groups}, at::kDouble);
  const std::int64_t chunk_rows =
      std::max<std::int64_t>(1, (std::int64_t{1} << 20) / std::max<std::int64_t>(1, in * w.element_size()));
  const std::int64_t chunks = (out + chunk_rows - 1) / chunk_rows;
  std::atomic<bool> non_finite{false};
  AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "quantize_weight_minmax", [&] {
    const scalar_t* data = w.data_ptr<scalar_t>();
    at::parallel_for(0, chunks, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t chunk = begin; chunk < end; ++chunk) {
        const std::int64_t row = chunk * chunk_rows;
        const std::int64_t rows = std::min(chunk_rows, out - row);
        const at::Tensor mn = at::empty({rows, groups}, at::kDouble);
        const at::Tensor mx = at::empty({rows, groups}, at::kDouble);
        group_ranges(data + row * in, rows * groups, span, mn.data_ptr<double>(), mx.data_ptr<double>());
        // NaN reaches the range as NaN and ±Inf as an infinite bound: the casts below would be undefined.
        if (find_non_finite(mn) || find_non_finite(mx)) {
          non_finite.store(true);
          continue;
        }
        const ScaleOffset params = minmax_scale_offset(mn, mx, bits, symmetric);
        scale.narrow(0, row, rows).copy_(params.scale);
        offset.narrow(0, row, rows).copy_(params.offset);
        quantize_groups(data + row * in, scale[row].data_ptr<double>(), offset[row].data_ptr<double>(),
                        rows * groups, span, range, q.data_ptr<std::int8_t>() + row * in);
      }
    });
  });
  if (non_finite.load()) throw_non_finite_weight(w);
  if (group_size > 0) return {q, scale.to(at::kFloat), offset.to(at::kFloat)};
  return {q, scale.to(at::kFloat).squeeze(1), offset.to(at::kFloat).squeeze(1)};
}

QuantizedWeight quantize_weight_ssz(const at::Tensor& weight, int bits, bool symmetric, int steps) {
  if (find_non_finite(weight)) throw_non_finite_weight(weight);
  const at::Tensor w = weight.to(at::kDouble);
  const double n = static_cast<double>(w.size(1));
  const ScaleOffset initial =
      minmax_scale_offset(std::get<0>(w.min(1)), std::get<0>(w.max(1)), bits, symmetric);
  at::Tensor scale = initial.scale.to(at::kDouble);
  at::Tensor offset = initial.offset.to(at::kDouble);
  const auto quantize_rows = [&](const at::Tensor& s, const at::Tensor& z) {
    return quantize_values(w, s.unsqueeze(1), z.unsqueeze(1), bits).to(at::kDouble);
  };
  const auto row_mse = [&](const at::Tensor& q, const at::Tensor& s, const at::Tensor& z) {
    return ((q - z.unsqueeze(1)) * s.unsqueeze(1) - w).pow(2).mean(1);
  };
  at::Tensor q = quantize_rows(scale, offset);
  at::Tensor error = row_mse(q, scale, offset);
  const double eps = std::numeric_limits<float>::epsilon();
  for (int step = 0; step < steps; ++step) {
    const at::Tensor centred = q - offset.unsqueeze(1);
    const at::Tensor new_scale =
        at::clamp_min((w * centred).sum(1) / at::clamp_min((centred * centred).sum(1), 1e-30), eps);
    const at::Tensor new_offset =
        symmetric ? offset : at::round((q * new_scale.unsqueeze(1) - w).sum(1) / (n * new_scale));
    const at::Tensor new_q = quantize_rows(new_scale, new_offset);
    const at::Tensor new_error = row_mse(new_q, new_scale, new_offset);
    const at::Tensor better = new_error < error;
    const bool progress = (error - new_error > 1e-10).any().item<bool>();
    scale = at::where(better, new_scale, scale);
    offset = at::where(better, new_offset, offset);
    q = at::where(better.unsqueeze(1), new_q, q);
    error = at::where(better, new_error, error);
    if (!progress) break;
  }
  return {q.to(at::kChar), scale.to(at::kFloat), offset.to(at::kFloat)};
}

at::Tensor dequantize_weight(const at::Tensor& qweight, const at::Tensor& scale, const at::Tensor& offset) {
  const std::int64_t in = qweight.size(1);
  return dequantize_values(qweight, expand_groups(scale, in), expand_groups(offset, in));
}

at::Tensor fake_quantize_per_token(const at::Tensor& x, int bits, bool symmetric) {
  const at::Tensor xf = x.to(at::kFloat);
  const ScaleOffset params =
      minmax_scale_offset(std::get<0>(xf.min(-1, true)), std::get<0>(xf.max(-1, true)), bits, symmetric);
  return fake_quantize(xf, params.scale, params.offset, bits);
}

}  // namespace modelslim
