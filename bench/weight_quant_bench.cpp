// Weight quantization throughput vs memory bandwidth, both measured in this run: quantize_weight_minmax
// (int8, per-channel symmetric, as W8A8 uses it) on a float32 [out, in] weight, in bytes of float weight read
// per second, against the bandwidth of copying the same bytes (std::memcpy and at::Tensor::copy_; the faster
// is the reference). Target: ratio >= 0.30. Also times the all-ATen float64 formula (the implementation
// before the row-wise kernel) and checks that both give identical integers and scales.
//
//   build/bin/weight_quant_bench [--out 4096] [--in 11008] [--reps 5]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "modelslim/quant_math.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::int64_t arg_int(int argc, char** argv, const std::string& flag, std::int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == flag) return std::stoll(argv[i + 1]);
  }
  return fallback;
}

// The float64 tensor formula of quant_math.hpp, as whole-matrix ATen ops (the previous implementation).
modelslim::QuantizedWeight reference_minmax(const at::Tensor& weight, int bits, bool symmetric) {
  const at::Tensor w = weight.to(at::kDouble);
  const modelslim::ScaleOffset params = modelslim::minmax_scale_offset(
      std::get<0>(w.min(1, true)), std::get<0>(w.max(1, true)), bits, symmetric);
  const at::Tensor q = modelslim::quantize_values(w, params.scale, params.offset, bits);
  return {q.to(at::kChar), params.scale.to(at::kFloat).squeeze(1), params.offset.to(at::kFloat).squeeze(1)};
}

struct Best {
  double seconds = std::numeric_limits<double>::infinity();
  void add(double s) { seconds = std::min(seconds, s); }
};

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t out = arg_int(argc, argv, "--out", 4096);
  const std::int64_t in = arg_int(argc, argv, "--in", 11008);
  const int reps = static_cast<int>(arg_int(argc, argv, "--reps", 5));
  at::manual_seed(0);
  const at::Tensor weight = at::randn({out, in}) * 0.02;
  const double bytes = static_cast<double>(weight.numel()) * sizeof(float);
  at::Tensor target = at::empty_like(weight);
  target.zero_();  // touch every page before timing

  Best memcpy_time, copy_time, quant_time, asym_time, reference_time;
  modelslim::QuantizedWeight quantized, reference;
  // Interleaved and best-of: other load on the machine hits every kind alike.
  for (int rep = 0; rep < reps; ++rep) {
    auto start = Clock::now();
    std::memcpy(target.data_ptr<float>(), weight.data_ptr<float>(), static_cast<std::size_t>(bytes));
    memcpy_time.add(seconds_since(start));
    start = Clock::now();
    target.copy_(weight);
    copy_time.add(seconds_since(start));
    start = Clock::now();
    quantized = modelslim::quantize_weight_minmax(weight, 8, true, 0);
    quant_time.add(seconds_since(start));
    start = Clock::now();
    modelslim::quantize_weight_minmax(weight, 8, false, 0);
    asym_time.add(seconds_since(start));
    if (rep < 2) {  // slow; two runs are enough
      start = Clock::now();
      reference = reference_minmax(weight, 8, true);
      reference_time.add(seconds_since(start));
    }
  }
  const bool identical = quantized.qweight.equal(reference.qweight) &&
                         quantized.scale.equal(reference.scale) && quantized.offset.equal(reference.offset);

  const auto gbps = [&](const Best& best) { return bytes / best.seconds / 1e9; };
  const double bandwidth = std::max(gbps(memcpy_time), gbps(copy_time));
  std::printf("weight [%lld x %lld] float32 = %.1f MB, %d threads, best of %d\n", static_cast<long long>(out),
              static_cast<long long>(in), bytes / 1e6, at::get_num_threads(), reps);
  std::printf("std::memcpy                    %8.2f ms  %6.2f GB/s\n", memcpy_time.seconds * 1e3,
              gbps(memcpy_time));
  std::printf("at::Tensor::copy_              %8.2f ms  %6.2f GB/s\n", copy_time.seconds * 1e3,
              gbps(copy_time));
  std::printf("quantize_weight_minmax sym     %8.2f ms  %6.2f GB/s\n", quant_time.seconds * 1e3,
              gbps(quant_time));
  std::printf("quantize_weight_minmax asym    %8.2f ms  %6.2f GB/s\n", asym_time.seconds * 1e3,
              gbps(asym_time));
  std::printf("float64 ATen formula (before)  %8.2f ms  %6.2f GB/s\n", reference_time.seconds * 1e3,
              gbps(reference_time));
  std::printf("identical to the float64 formula: %s\n", identical ? "yes" : "NO");
  const double ratio = gbps(quant_time) / bandwidth;
  std::printf("weight quant / copy bandwidth = %.3f (target >= 0.30): %s\n", ratio,
              ratio >= 0.30 ? "PASS" : "FAIL");
  return ratio >= 0.30 && identical ? 0 : 1;
}
