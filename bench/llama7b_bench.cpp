// Llama-2-7B-shaped layer_wise W8A8 quantization on this machine: generates a random bf16 checkpoint of the
// 7B shape (hidden 4096, 32 layers, intermediate 11008, 32 heads, vocab 32000; ~13.5 GB), quantizes it with
// `modelslim quant` (static per-tensor activations, per-channel weights, min/max) on a reduced calibration
// set, prints wall time and peak RSS of the quant run against the 2 GiB target, and deletes the model and
// the output. Long (minutes) and needs ~21 GB of free disk, so scripts/bench.sh runs it only with --7b.
//
//   build/bin/llama7b_bench [--samples 8] [--chars 128] [--layers 32] [--work DIR] [--keep]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_child.hpp"

namespace fs = std::filesystem;

namespace {

constexpr double kTargetMiB = 2048.0;

// The first `samples` texts of the default calibration set, cut to `chars` characters, one plain-text line
// each (the dataset reader takes non-JSON lines verbatim; the byte tokenizer makes one token per byte).
void write_calibration(const fs::path& file, int samples, std::size_t chars) {
  std::ifstream in(fs::path(MODELSLIM_BENCH_SOURCE_DIR) / "data" / "datasets" / "kjv_calib.jsonl");
  std::ofstream out(file);
  const std::string key = "\"inputs_pretokenized\": \"";
  std::string line;
  for (int i = 0; i < samples && std::getline(in, line);) {
    const auto begin = line.find(key);
    if (begin == std::string::npos) continue;
    std::string text = line.substr(begin + key.size(), chars);
    text.erase(text.find_last_not_of("\\\"") + 1);  // never end on half an escape
    out << text << "\n";
    ++i;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int samples = std::stoi(bench::arg_value(argc, argv, "--samples", "8"));
  const std::size_t chars = std::stoul(bench::arg_value(argc, argv, "--chars", "128"));
  const std::string layers = bench::arg_value(argc, argv, "--layers", "32");
  const fs::path work =
      bench::arg_value(argc, argv, "--work", (fs::temp_directory_path() / "modelslim-bench-7b").string());
  bool keep = false;
  for (int i = 1; i < argc; ++i) keep = keep || std::string(argv[i]) == "--keep";

  fs::create_directories(work);
  const double free_gb = static_cast<double>(fs::space(work).available) / 1e9;
  const double needed_gb = 13.5 * std::stod(layers) / 32.0 + 7.5;  // checkpoint + int8 output + slack
  std::printf("free disk at %s: %.1f GB (need ~%.1f)\n", work.c_str(), free_gb, needed_gb);
  if (free_gb < needed_gb) {
    std::fprintf(stderr, "not enough free disk; pass --work DIR on a larger filesystem\n");
    return 2;
  }

  const fs::path model = work / "llama7b-random";
  const fs::path output = work / "llama7b-w8a8";
  const bench::Measurement generate = [&] {
    const auto start = std::chrono::steady_clock::now();
    if (!fs::exists(model / "config.json")) {
      bench::make_random_model(model, "bfloat16",
                               {"num_hidden_layers=" + layers, "hidden_size=4096", "intermediate_size=11008",
                                "num_attention_heads=32", "num_key_value_heads=32", "head_dim=128",
                                "vocab_size=32000", "max_position_embeddings=4096"});
    }
    return bench::Measurement{std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                              0};
  }();
  std::uintmax_t model_bytes = 0;
  for (const auto& entry : fs::directory_iterator(model)) {
    if (entry.is_regular_file()) model_bytes += entry.file_size();
  }
  std::printf("generated %s: %.2f GB in %.1f s\n", model.c_str(), static_cast<double>(model_bytes) / 1e9,
              generate.seconds);

  const fs::path calib = work / "calib.jsonl";
  write_calibration(calib, samples, chars);
  const fs::path config = work / "w8a8.yaml";
  std::ofstream(config)
      << "apiversion: modelslim_v1\nspec:\n  runner: layer_wise\n  process:\n    - type: linear_quant\n"
         "      qconfig:\n"
         "        act: {scope: per_tensor, dtype: int8, symmetric: false, method: minmax}\n"
         "        weight: {scope: per_channel, dtype: int8, symmetric: true, method: minmax}\n"
         "  save: [{type: ascendv1_saver, part_file_size: 1}]\n  dataset: "
      << calib.string() << "\n";

  const bench::Measurement quant =
      bench::run_child({(bench::bin_dir() / "modelslim").string(), "quant", "--model_path", model.string(),
                        "--save_path", output.string(), "--config_path", config.string()});
  std::printf("llama-2-7b shape (%s layers), bf16, W8A8 layer_wise, %d samples x <=%zu tokens\n",
              layers.c_str(), samples, chars);
  std::printf("quant wall=%.1fs (%.1f s/block)  peak_rss=%.1f MiB\n", quant.seconds,
              quant.seconds / std::stod(layers), quant.peak_rss_mib);
  const bool pass = quant.peak_rss_mib < kTargetMiB;
  std::printf("peak RSS %.1f MiB vs target < %.0f MiB: %s\n", quant.peak_rss_mib, kTargetMiB,
              pass ? "PASS" : "FAIL");

  if (!keep) {
    fs::remove_all(model);
    fs::remove_all(output);
    std::printf("removed %s and %s\n", model.c_str(), output.c_str());
  }
  return pass ? 0 : 1;
}
