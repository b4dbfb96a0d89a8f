// Peak resident memory of layer_wise `modelslim quant` vs model depth: random Llama models of the same width
// with 8 and 32 layers, quantized W8A8 static on the default calibration set. Prints wall time, peak RSS and
// the 32/8 RSS ratio (target < 1.25: memory must not grow with depth).
//
//   build/bin/quant_memory_bench [--hidden 1024] [--intermediate 2816] [--work DIR]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_child.hpp"

namespace fs = std::filesystem;
using bench::arg_value;
using bench::bin_dir;
using bench::claim_work_dir;
using bench::Measurement;
using bench::run_child;

int main(int argc, char** argv) {
  const std::string hidden = arg_value(argc, argv, "--hidden", "1024");
  const std::string intermediate = arg_value(argc, argv, "--intermediate", "2816");
  const fs::path work = claim_work_dir(
      arg_value(argc, argv, "--work", (fs::temp_directory_path() / "modelslim-bench").string()));
  const fs::path source = fs::path(MODELSLIM_BENCH_SOURCE_DIR);
  fs::create_directories(work);
  // W8A8 static on the first 8 samples of the default calibration set (memory, not accuracy, is measured).
  const fs::path calib = work / "calib8.jsonl";
  {
    std::ifstream in(source / "data" / "datasets" / "kjv_calib.jsonl");
    std::ofstream out(calib);
    std::string line;
    for (int i = 0; i < 8 && std::getline(in, line); ++i) out << line << "\n";
  }
  const fs::path config = work / "w8a8.yaml";
  std::ofstream(config)
      << "apiversion: modelslim_v1\nspec:\n  process:\n    - type: linear_quant\n      qconfig:\n"
         "        act: {scope: per_tensor, dtype: int8, symmetric: false}\n"
         "        weight: {scope: per_channel, dtype: int8, symmetric: true}\n"
         "  save: [{type: ascendv1_saver, part_file_size: 1}]\n  dataset: "
      << calib.string() << "\n";

  std::vector<std::pair<int, Measurement>> results;
  for (const int layers : {8, 32}) {
    const fs::path model = work / ("model-" + std::to_string(layers));
    if (!fs::exists(model / "config.json")) {
      bench::make_random_model(
          model, "bfloat16",
          {"num_hidden_layers=" + std::to_string(layers), "hidden_size=" + hidden,
           "intermediate_size=" + intermediate, "head_dim=" + std::to_string(std::stoi(hidden) / 8)});
    }
    const fs::path out = work / ("out-" + std::to_string(layers));
    const Measurement m =
        run_child({(bin_dir() / "modelslim").string(), "quant", "--model_path", model.string(), "--save_path",
                   out.string(), "--config_path", config.string(), "--log-level", "warn"});
    std::printf("layers=%2d hidden=%s intermediate=%s  wall=%.1fs  peak_rss=%.1f MiB\n", layers,
                hidden.c_str(), intermediate.c_str(), m.seconds, m.peak_rss_mib);
    results.emplace_back(layers, m);
  }
  const double ratio = results[1].second.peak_rss_mib / results[0].second.peak_rss_mib;
  std::printf("peak RSS ratio 32/8 layers = %.3f (target < 1.25): %s\n", ratio,
              ratio < 1.25 ? "PASS" : "FAIL");
  return ratio < 1.25 ? 0 : 1;
}
