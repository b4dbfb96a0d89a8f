// Weight quantization throughput vs memory bandwidth, both measured in this run: quantize_weight_minmax
// (int8, per-channel, as W8A8 uses it) on a float32 [out, in] weight, in bytes of float weight read per
// second, against the bandwidth of copying the same bytes (std::memcpy and at::Tensor::copy_; the faster is
// the reference). Target: ratio >= 0.30 with the defaults (best CPU level, automatic threads). Also times
// every CPU level this machine has with 1 and 2 threads, and checks that all give the same integers and
// scales as the float64 ATen formula (the implementation before the row-wise kernels).
//
//   build/bin/weight_quant_bench [--out 4096] [--in 11008] [--reps 5]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "modelslim/cpu_isa.hpp"
#include "modelslim/quant_math.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t arg_int(int argc, char** argv, const std::string& flag, std::int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == flag) return std::stoll(argv[i + 1]);
  }
  return fallback;
}

// The float64 tensor formula of quant_math.hpp as ATen ops (the implementation before the row-wise kernels),
// 64 rows at a time: whole-matrix float64 temporaries (~1.8 GB) spend most of their time in page faults.
modelslim::QuantizedWeight reference_minmax(const at::Tensor& weight, int bits, bool symmetric) {
  std::vector<at::Tensor> q, scale, offset;
  for (std::int64_t row = 0; row < weight.size(0); row += 64) {
    const at::Tensor w =
        weight.narrow(0, row, std::min<std::int64_t>(64, weight.size(0) - row)).to(at::kDouble);
    const modelslim::ScaleOffset params = modelslim::minmax_scale_offset(
        std::get<0>(w.min(1, true)), std::get<0>(w.max(1, true)), bits, symmetric);
    q.push_back(modelslim::quantize_values(w, params.scale, params.offset, bits).to(at::kChar));
    scale.push_back(params.scale.to(at::kFloat).squeeze(1));
    offset.push_back(params.offset.to(at::kFloat).squeeze(1));
  }
  return {at::cat(q), at::cat(scale), at::cat(offset)};
}

bool same(const modelslim::QuantizedWeight& a, const modelslim::QuantizedWeight& b) {
  return a.qweight.equal(b.qweight) && a.scale.equal(b.scale) && a.offset.equal(b.offset);
}

// One timed thing: best of its runs (other load on the machine hits every kind alike: runs interleave).
struct Timed {
  std::string label;
  std::function<void()> run;
  double best = std::numeric_limits<double>::infinity();
};

void time_once(Timed& timed) {
  const auto start = Clock::now();
  timed.run();
  timed.best = std::min(timed.best, std::chrono::duration<double>(Clock::now() - start).count());
}

// A quantize_weight_minmax call at a forced CPU level and thread count; keeps its result for the identity
// check after the timing.
std::function<void()> forced(const at::Tensor& weight, modelslim::CpuIsa isa, int threads,
                             modelslim::QuantizedWeight& result) {
  return [&weight, isa, threads, &result] {
    ::setenv("MODELSLIM_CPU_ISA", modelslim::cpu_isa_name(isa), 1);
    modelslim::set_weight_quant_threads(threads);
    result = modelslim::quantize_weight_minmax(weight, 8, true, 0);
    ::unsetenv("MODELSLIM_CPU_ISA");
    modelslim::set_weight_quant_threads(0);
  };
}

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

  const modelslim::QuantizedWeight reference = reference_minmax(weight, 8, true);
  modelslim::QuantizedWeight quantized;
  std::vector<modelslim::QuantizedWeight> forced_results(6);  // at most 3 levels x 2 thread counts
  std::vector<Timed> timed = {
      {"std::memcpy",
       [&] { std::memcpy(target.data_ptr(), weight.data_ptr(), static_cast<std::size_t>(bytes)); }},
      {"at::Tensor::copy_", [&] { target.copy_(weight); }},
      {"quantize_weight_minmax sym",
       [&] { quantized = modelslim::quantize_weight_minmax(weight, 8, true, 0); }},
      {"quantize_weight_minmax asym", [&] { modelslim::quantize_weight_minmax(weight, 8, false, 0); }},
  };
  const int cpus = modelslim::weight_quant_threads();
  for (const modelslim::CpuIsa isa :
       {modelslim::CpuIsa::kScalar, modelslim::CpuIsa::kAvx2, modelslim::CpuIsa::kAvx512}) {
    if (isa > modelslim::supported_cpu_isa()) continue;
    for (const int threads : {1, 2}) {
      if (threads > 1 && cpus < 2) continue;
      timed.push_back({std::string("  sym, ") + modelslim::cpu_isa_name(isa) + ", " +
                           std::to_string(threads) + (threads == 1 ? " thread" : " threads"),
                       forced(weight, isa, threads, forced_results[timed.size() - 4])});
    }
  }
  for (int rep = 0; rep < reps; ++rep) {
    for (Timed& t : timed) time_once(t);
  }
  bool identical = same(quantized, reference);
  for (std::size_t i = 4; i < timed.size(); ++i)
    identical = identical && same(forced_results[i - 4], reference);

  const auto gbps = [&](const Timed& t) { return bytes / t.best / 1e9; };
  const double bandwidth = std::max(gbps(timed[0]), gbps(timed[1]));
  std::printf(
      "weight [%lld x %lld] float32 = %.1f MB, best of %d; CPU level %s, %d quantizer threads (automatic), "
      "%d LibTorch intra-op threads\n",
      static_cast<long long>(out), static_cast<long long>(in), bytes / 1e6, reps,
      modelslim::cpu_isa_name(modelslim::active_cpu_isa()), cpus, at::get_num_threads());
  const auto print = [&](const Timed& t) {
    std::printf("%-32s %8.2f ms  %6.2f GB/s  %.3f of copy\n", t.label.c_str(), t.best * 1e3, gbps(t),
                gbps(t) / bandwidth);
  };
  for (const Timed& t : timed) print(t);
  std::printf("identical to the float64 formula (every level and thread count): %s\n",
              identical ? "yes" : "NO");
  const double ratio = gbps(timed[2]) / bandwidth;
  std::printf("weight quant / memcpy bandwidth (the faster copy above) = %.3f (target >= 0.30): %s\n", ratio,
              ratio >= 0.30 ? "PASS" : "FAIL");
  return ratio >= 0.30 && identical ? 0 : 1;
}
