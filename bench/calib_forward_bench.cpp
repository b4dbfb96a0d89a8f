// Calibration forward speed vs a LibTorch matmul roofline, both measured in this run. Loads block 0 of a
// random Llama model (hidden 2048) through the plugin registry, times block->forward over a few samples —
// plain, and with linear_quant's static range observers attached (the real calibration forward) — and
// times at::matmul on exactly the block's matmul shapes (seven linears, attention scores and values).
// GFLOP/s = those matmuls' FLOPs (2·m·k·n each) / time. Target: calibration forward >= 0.50 of the roofline.
//
//   build/bin/calib_forward_bench [--hidden 2048] [--intermediate 5632] [--heads 16] [--samples 4]
//                                 [--seq 256] [--reps 5] [--work DIR]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "bench_child.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/processor.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The block's matmuls as (m, k, n, batch) with the FLOPs they cost.
struct Matmul {
  std::int64_t batch, m, k, n;
  double flops() const { return 2.0 * static_cast<double>(batch * m * k * n); }
};

std::vector<Matmul> block_matmuls(modelslim::Block& block, std::int64_t seq, std::int64_t heads) {
  std::vector<Matmul> shapes;
  for (const modelslim::Linear* linear : block.linears()) {
    shapes.push_back({1, seq, linear->in_features(), linear->out_features()});
  }
  const std::int64_t head_dim = block.linears()[0]->out_features() / heads;
  shapes.push_back({heads, seq, head_dim, seq});  // q·kᵀ
  shapes.push_back({heads, seq, seq, head_dim});  // softmax·v
  return shapes;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const std::string hidden = bench::arg_value(argc, argv, "--hidden", "2048");
  const std::string intermediate = bench::arg_value(argc, argv, "--intermediate", "5632");
  const std::int64_t heads = std::stoll(bench::arg_value(argc, argv, "--heads", "16"));
  const int samples = std::stoi(bench::arg_value(argc, argv, "--samples", "4"));
  const std::int64_t seq = std::stoll(bench::arg_value(argc, argv, "--seq", "256"));
  const int reps = std::stoi(bench::arg_value(argc, argv, "--reps", "5"));
  const fs::path work = bench::claim_work_dir(
      bench::arg_value(argc, argv, "--work", (fs::temp_directory_path() / "modelslim-bench").string()));
  const fs::path model_dir = work / ("calib-model-" + hidden + "-" + intermediate);
  if (!fs::exists(model_dir / "config.json")) {
    bench::make_random_model(
        model_dir, "bfloat16",
        {"num_hidden_layers=1", "hidden_size=" + hidden, "intermediate_size=" + intermediate,
         "num_attention_heads=" + std::to_string(heads), "num_key_value_heads=" + std::to_string(heads),
         "head_dim=" + std::to_string(std::stoll(hidden) / heads)});
  }

  modelslim::core::PluginRegistry registry;
  registry.load_directory(bench::plugin_dir());
  const std::unique_ptr<modelslim::ModelAdapter> model = registry.load_model(model_dir, "");
  const std::unique_ptr<modelslim::Block> block = model->load_block(0);
  at::manual_seed(0);
  std::vector<modelslim::BlockInput> inputs;
  for (int s = 0; s < samples; ++s) inputs.push_back(model->embed(at::randint(0, 256, {1, seq}, at::kLong)));

  // linear_quant's own observers (W8A8 static per-tensor), attached as the quant pipeline does.
  const std::unique_ptr<modelslim::Processor> quant = registry.create_processor(modelslim::parse_yaml_string(
      "{type: linear_quant, qconfig: {act: {scope: per_tensor, dtype: int8, symmetric: false}, "
      "weight: {scope: per_channel, dtype: int8, symmetric: true}}}",
      "calib_forward_bench"));
  modelslim::BlockRequest request{block->name(), *block, inputs, {}, 0};

  // Roofline operands: random tensors of every matmul shape, the same count per sample as the forward.
  const std::vector<Matmul> shapes = block_matmuls(*block, seq, heads);
  std::vector<std::pair<at::Tensor, at::Tensor>> operands;
  double flops_per_sample = 0;
  for (const Matmul& mm : shapes) {
    operands.emplace_back(at::randn({mm.batch, mm.m, mm.k}), at::randn({mm.batch, mm.k, mm.n}));
    flops_per_sample += mm.flops();
  }
  const double flops = flops_per_sample * samples;

  double plain = std::numeric_limits<double>::infinity();
  double observed = plain;
  double roofline = plain;
  modelslim::run_block_forward(request);  // warm-up: first-touch allocations, BLAS init
  // Interleaved and best-of: other load on the machine hits every kind alike.
  for (int rep = 0; rep < reps; ++rep) {
    auto start = Clock::now();
    modelslim::run_block_forward(request);
    plain = std::min(plain, seconds_since(start));

    quant->preprocess(request);  // attaches the range observers
    start = Clock::now();
    modelslim::run_block_forward(request);
    observed = std::min(observed, seconds_since(start));
    for (modelslim::Linear* linear : block->linears()) linear->clear_observers();

    start = Clock::now();
    for (int s = 0; s < samples; ++s) {
      for (const auto& [a, b] : operands) at::matmul(a, b);
    }
    roofline = std::min(roofline, seconds_since(start));
  }

  const auto gflops = [&](double seconds) { return flops / seconds / 1e9; };
  std::printf(
      "block 0 of hidden=%s intermediate=%s heads=%lld: %d samples x %lld tokens, %.1f GFLOP, %d threads, "
      "best of %d\n",
      hidden.c_str(), intermediate.c_str(), static_cast<long long>(heads), samples,
      static_cast<long long>(seq), flops / 1e9, at::get_num_threads(), reps);
  std::printf("at::matmul roofline (same shapes)   %8.1f ms  %7.1f GFLOP/s\n", roofline * 1e3,
              gflops(roofline));
  std::printf("block forward                       %8.1f ms  %7.1f GFLOP/s  (%.3f of roofline)\n",
              plain * 1e3, gflops(plain), roofline / plain);
  std::printf("calibration forward (observers)     %8.1f ms  %7.1f GFLOP/s  (%.3f of roofline)\n",
              observed * 1e3, gflops(observed), roofline / observed);
  const double ratio = roofline / observed;
  std::printf("calibration forward / matmul roofline = %.3f (target >= 0.50): %s\n", ratio,
              ratio >= 0.50 ? "PASS" : "FAIL");
  return ratio >= 0.50 ? 0 : 1;
}
