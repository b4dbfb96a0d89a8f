// Peak resident memory of layer_wise `modelslim quant` vs model depth: random Llama models of the same width
// with 8 and 32 layers, quantized W8A8 static on the default calibration set. Prints wall time, peak RSS and
// the 32/8 RSS ratio (target < 1.25: memory must not grow with depth).
//
//   build/bin/quant_memory_bench [--hidden 1024] [--intermediate 2816] [--work DIR]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Measurement {
  double seconds = 0;
  double peak_rss_mib = 0;
};

fs::path bin_dir() {
  return fs::read_symlink("/proc/self/exe").parent_path();
}

// Runs argv as a child and reports its wall time and peak RSS (ru_maxrss of that child only).
Measurement run_child(const std::vector<std::string>& argv) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::perror("execv");
    std::_Exit(127);
  }
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cerr << "command failed: " << argv[0] << "\n";
    std::exit(1);
  }
  Measurement m;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  return m;
}

std::string arg_value(int argc, char** argv, const std::string& flag, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == flag) return argv[i + 1];
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string hidden = arg_value(argc, argv, "--hidden", "1024");
  const std::string intermediate = arg_value(argc, argv, "--intermediate", "2816");
  const fs::path work =
      arg_value(argc, argv, "--work", (fs::temp_directory_path() / "modelslim-bench").string());
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
      run_child({(bin_dir() / "make_random_model").string(), "--config",
                 (source / "data/demo/config.json").string(), "--output", model.string(), "--byte-tokenizer",
                 "--dtype", "bfloat16", "--set", "num_hidden_layers=" + std::to_string(layers), "--set",
                 "hidden_size=" + hidden, "--set", "intermediate_size=" + intermediate, "--set",
                 "head_dim=" + std::to_string(std::stoi(hidden) / 8)});
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
