#include "modelslim/quant_math.hpp"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "huge_page_tensor.hpp"
#include "modelslim/cpu_isa.hpp"
#include "modelslim/env_names.hpp"
#include "modelslim/error.hpp"
#include "modelslim/finite.hpp"
#include "weight_quant_kernels.hpp"

namespace modelslim {
namespace {
constexpr float kEps = std::numeric_limits<float>::epsilon();

// Expands per-group params [out, groups] to the weight's [out, in] columns.
at::Tensor expand_groups(const at::Tensor& params, std::int64_t in_features) {
  if (params.dim() == 1) return params.unsqueeze(1);
  const std::int64_t group_size = in_features / params.size(1);
  return params.repeat_interleave(group_size, 1);
}

// minmax_scale_offset for one group in float64, as scalars (the same IEEE operations in the same order).
// The sign of a zero bound never matters: a zero range takes the epsilon scale and offset range.min.
struct GroupParams {
  double scale;
  double offset;
};
GroupParams group_params(double mn, double mx, int bits, bool symmetric) {
  const IntRange range = int_range(bits);
  mn = std::min(mn, 0.0);
  mx = std::max(mx, 0.0);
  const double eps = kEps;
  if (symmetric) return {std::max(std::max(-mn, mx) / static_cast<double>(range.max), eps), 0.0};
  const double levels = static_cast<double>((std::int64_t{1} << bits) - 1);
  const double scale = std::max((mx - mn) / levels, eps);
  return {scale, std::nearbyint(-mn / scale) + static_cast<double>(range.min)};
}

std::atomic<int> weight_quant_thread_setting{0};

int available_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}

// fn(0) .. fn(chunks - 1) on up to weight_quant_threads() OpenMP threads (LibTorch's runtime), chunks handed
// out one at a time so a thread slowed by other load takes fewer. Serial inside another parallel region.
template <typename Fn>
void for_each_chunk(std::int64_t chunks, const Fn& fn) {
  const int threads = static_cast<int>(std::min<std::int64_t>(weight_quant_threads(), chunks));
  if (threads <= 1 || omp_in_parallel()) {
    for (std::int64_t chunk = 0; chunk < chunks; ++chunk) fn(chunk);
    return;
  }
  std::exception_ptr error;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
    try {
      fn(chunk);
    } catch (...) {
#pragma omp critical(modelslim_weight_quant_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// What quantize_weight_minmax writes: int8 [out, in] and float32 [out, groups] scale/offset.
struct MinmaxJob {
  std::int64_t out;
  std::int64_t in;
  std::int64_t span;
  std::int64_t groups;
  int bits;
  bool symmetric;
  float* scale;
  float* offset;
  std::int8_t* q;
};

template <typename T>
using RangeFn = bool (*)(const T*, std::int64_t, std::int64_t, double*, double*);
template <typename T>
using QuantizeFn = void (*)(const T*, const double*, const double*, std::int64_t, std::int64_t, double,
                            double, std::int8_t*);

// Rows [row, row + rows), whose first element `w` points at: the range pass, float64 parameters per group,
// then the quantize pass while the rows are still in cache. False on a non-finite weight (nothing written
// for these rows then).
template <typename T>
bool quantize_rows(const T* w, std::int64_t row, std::int64_t rows, const MinmaxJob& job, RangeFn<T> range,
                   QuantizeFn<T> quantize) {
  const std::int64_t count = rows * job.groups;
  std::vector<double> buffer(static_cast<std::size_t>(4 * count));
  double* mins = buffer.data();
  double* maxs = mins + count;
  double* scale = maxs + count;
  double* offset = scale + count;
  if (!range(w, count, job.span, mins, maxs)) return false;
  const std::int64_t first = row * job.groups;
  for (std::int64_t g = 0; g < count; ++g) {
    const GroupParams p = group_params(mins[g], maxs[g], job.bits, job.symmetric);
    scale[g] = p.scale;
    offset[g] = p.offset;
    job.scale[first + g] = static_cast<float>(p.scale);
    job.offset[first + g] = static_cast<float>(p.offset);
  }
  const IntRange range_q = int_range(job.bits);
  quantize(w, scale, offset, count, job.span, static_cast<double>(range_q.min),
           static_cast<double>(range_q.max), job.q + row * job.in);
  return true;
}

// Rows per chunk (~kChunkBytes of `element_bytes` elements), so both passes run on cached rows.
std::int64_t chunk_rows(const MinmaxJob& job, std::int64_t element_bytes) {
  constexpr std::int64_t kChunkBytes = std::int64_t{256} << 10;
  const std::int64_t row_bytes = std::max<std::int64_t>(1, job.in * element_bytes);
  return std::max<std::int64_t>(1, kChunkBytes / row_bytes);
}

// The weight a chunk of rows at a time; `chunk_fn(row, rows)` quantizes one chunk and returns false when it
// holds a non-finite value (then the other chunks stop early and the result is false).
template <typename ChunkFn>
bool quantize_in_chunks(const MinmaxJob& job, std::int64_t rows_per_chunk, const ChunkFn& chunk_fn) {
  const std::int64_t chunks = (job.out + rows_per_chunk - 1) / rows_per_chunk;
  std::atomic<bool> finite{true};
  for_each_chunk(chunks, [&](std::int64_t chunk) {
    if (!finite.load(std::memory_order_relaxed)) return;
    const std::int64_t row = chunk * rows_per_chunk;
    if (!chunk_fn(row, std::min(rows_per_chunk, job.out - row))) finite.store(false);
  });
  return finite.load();
}

template <typename T>
bool quantize_chunks(const T* w, const MinmaxJob& job, RangeFn<T> range, QuantizeFn<T> quantize) {
  return quantize_in_chunks(job, chunk_rows(job, sizeof(T)), [&](std::int64_t row, std::int64_t rows) {
    return quantize_rows(w + row * job.in, row, rows, job, range, quantize);
  });
}

// bfloat16/float16 weights as stored: each chunk of rows widened to float32 in a per-thread buffer (exact,
// so the result is bit-identical to quantizing weight.to(float32)), never a float32 copy of the weight.
template <typename Half>
bool quantize_chunks_widened(const Half* w, const MinmaxJob& job, const kernels::WeightKernelsF32& k) {
  const std::int64_t rows_per_chunk = chunk_rows(job, sizeof(float));
  return quantize_in_chunks(job, rows_per_chunk, [&](std::int64_t row, std::int64_t rows) {
    thread_local std::vector<float> widened;
    const std::int64_t count = rows * job.in;
    widened.resize(static_cast<std::size_t>(count));
    const Half* source = w + row * job.in;
    for (std::int64_t i = 0; i < count; ++i)
      widened[static_cast<std::size_t>(i)] = static_cast<float>(source[i]);
    return quantize_rows<float>(widened.data(), row, rows, job, k.range, k.quantize);
  });
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

void set_weight_quant_threads(int threads) {
  if (threads < 0) {
    throw Error(
        ErrorCode::kSchemaValidate,
        "set_weight_quant_threads: " + std::to_string(threads) + " threads; expected 0 (automatic) or more",
        "pass 0 to use every available CPU");
  }
  weight_quant_thread_setting.store(threads);
}

int weight_quant_threads() {
  const int chosen = weight_quant_thread_setting.load();
  if (chosen > 0) return chosen;
  if (std::getenv(env::kOmpNumThreads) != nullptr) return at::get_num_threads();
  return available_cpus();
}

QuantizedWeight quantize_weight_minmax(const at::Tensor& weight, int bits, bool symmetric,
                                       std::int64_t group_size) {
  const std::int64_t out = weight.size(0);
  const std::int64_t in = weight.size(1);
  if (group_size > 0 && in % group_size != 0) {
    throw Error(ErrorCode::kUnsupported, "per_group weight quantization: in_features " + std::to_string(in) +
                                             " is not divisible by group_size " + std::to_string(group_size));
  }
  // float32/float64 are read as they are, bfloat16/float16 widened chunk by chunk (exactly); other
  // dtypes (integers) as float32.
  const at::ScalarType stored = weight.scalar_type();
  const bool as_stored =
      stored == at::kDouble || stored == at::kFloat || stored == at::kBFloat16 || stored == at::kHalf;
  const at::Tensor w = (as_stored ? weight : weight.to(at::kFloat)).contiguous();
  const std::int64_t span = group_size > 0 ? group_size : in;
  const std::int64_t groups = in / span;
  at::Tensor q = empty_huge_paged({out, in}, at::kChar);  // first touch dominated here otherwise
  at::Tensor scale = at::empty({out, groups}, at::kFloat);
  at::Tensor offset = at::empty({out, groups}, at::kFloat);
  const MinmaxJob job{out,
                      in,
                      span,
                      groups,
                      bits,
                      symmetric,
                      scale.data_ptr<float>(),
                      offset.data_ptr<float>(),
                      q.data_ptr<std::int8_t>()};
  bool finite = false;
  const kernels::WeightKernelsF32 k = kernels::weight_kernels_f32(active_cpu_isa());
  switch (w.scalar_type()) {
    case at::kDouble:
      finite = quantize_chunks<double>(w.data_ptr<double>(), job, kernels::range_f64, kernels::quantize_f64);
      break;
    case at::kBFloat16:
      finite = quantize_chunks_widened(w.data_ptr<at::BFloat16>(), job, k);
      break;
    case at::kHalf:
      finite = quantize_chunks_widened(w.data_ptr<at::Half>(), job, k);
      break;
    default:
      finite = quantize_chunks<float>(w.data_ptr<float>(), job, k.range, k.quantize);
  }
  if (!finite) throw_non_finite_weight(w);
  if (group_size > 0) return {q, scale, offset};
  return {q, scale.squeeze(1), offset.squeeze(1)};
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
