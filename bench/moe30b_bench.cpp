// Benchmark (g), issue 13 §6: Qwen3-30B-A3B-shaped layer_wise W8A8 quantization of a mixture-of-experts
// model. A random bf16 checkpoint of that width — hidden 2048, 32 heads / 4 kv heads of 128, 128 routed
// experts (top 8, renormalised), moe_intermediate 768, vocab 151936 — with --layers sparse layers (default
// 2; the real model has 48): ~1.2 GB of bf16 per layer plus the embedding and lm_head (0.6 GB each). Routed
// experts W8A8 dynamic (per token), attention W8A8 static, routers float (the reference's Qwen3-MoE
// practice), ascendv1_saver. Prints wall time, user and system CPU time, peak RSS (target < 2 GiB), the
// time of every block from the run's own progress log, how the experts were grouped, and the load average
// (the machine may be shared: CPU time and peak RSS do not depend on the load, wall time does).
// --baseline first runs the same quant with whole blocks (MODELSLIM_EXPERT_STREAMING=0), prints its peak
// RSS and checks that the two outputs are byte-identical.
//
//   build/bin/moe30b_bench [--layers 2] [--samples 8] [--chars 128] [--work DIR] [--keep] [--baseline]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "bench_child.hpp"

namespace fs = std::filesystem;

namespace {

constexpr double kTargetMiB = 2048.0;

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// Seconds each block took, from the run's "[quant] block k/N name  elapsed Xs" lines, and its grouping lines.
struct RunLog {
  std::vector<double> block_seconds;
  std::vector<std::string> grouping;
};

RunLog read_log(const fs::path& log) {
  RunLog result;
  const std::regex progress(R"(\[quant\] block \d+/\d+ \S+\s+elapsed ([0-9.]+)s)");
  const std::regex grouping(R"((model\.layers\.\d+: routed experts in .*))");
  std::ifstream in(log);
  double previous = 0;
  for (std::string line; std::getline(in, line);) {
    std::smatch match;
    if (std::regex_search(line, match, progress)) {
      const double elapsed = std::stod(match[1]);
      result.block_seconds.push_back(elapsed - previous);
      previous = elapsed;
    } else if (std::regex_search(line, match, grouping)) {
      result.grouping.push_back(match[1]);
    }
  }
  return result;
}

bool same_files(const fs::path& a, const fs::path& b) {
  std::size_t count_a = 0, count_b = 0;
  for (const auto& entry : fs::recursive_directory_iterator(b)) count_b += entry.is_regular_file() ? 1 : 0;
  for (const auto& entry : fs::recursive_directory_iterator(a)) {
    if (!entry.is_regular_file()) continue;
    ++count_a;
    const fs::path relative = fs::relative(entry.path(), a);
    if (relative.filename() == ".modelslim-output") continue;  // marker: time and pid
    std::ifstream x(entry.path(), std::ios::binary), y(b / relative, std::ios::binary);
    if (!y) return false;
    if (!std::equal(std::istreambuf_iterator<char>(x), {}, std::istreambuf_iterator<char>(y), {}))
      return false;
  }
  return count_a == count_b;
}

void print_run(const char* label, const bench::Measurement& m, const RunLog& log, int layers) {
  std::printf("%s: wall=%.1f s  user=%.1f s  system=%.1f s  cpu/block=%.1f s  peak_rss=%.1f MiB\n", label,
              m.seconds, m.user_seconds, m.system_seconds, (m.user_seconds + m.system_seconds) / layers,
              m.peak_rss_mib);
  std::string blocks;
  for (const double seconds : log.block_seconds) blocks += " " + std::to_string(seconds).substr(0, 5);
  std::printf("  wall per block (s):%s\n", blocks.c_str());
  for (const std::string& line : log.grouping) std::printf("  %s\n", line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const int layers = std::stoi(bench::arg_value(argc, argv, "--layers", "2"));
  const int samples = std::stoi(bench::arg_value(argc, argv, "--samples", "8"));
  const std::size_t chars = std::stoul(bench::arg_value(argc, argv, "--chars", "128"));
  const fs::path work = bench::claim_work_dir(
      bench::arg_value(argc, argv, "--work", (fs::temp_directory_path() / "modelslim-bench-moe").string()));
  bool keep = false;
  bool baseline = false;
  for (int i = 1; i < argc; ++i) {
    keep = keep || std::string(argv[i]) == "--keep";
    baseline = baseline || std::string(argv[i]) == "--baseline";
  }
  fs::create_directories(work);
  const double free_gb = static_cast<double>(fs::space(work).available) / 1e9;
  // checkpoint (1.25 GB a layer + 1.25 GB) and one or two outputs (0.65 GB a layer + 1.25 GB) + slack
  const double needed_gb = 1.25 * layers + 1.25 + (baseline ? 2 : 1) * (0.65 * layers + 1.25) + 1.0;
  std::printf("free disk at %s: %.1f GB (need ~%.1f)\n", work.c_str(), free_gb, needed_gb);
  if (free_gb < needed_gb) {
    std::fprintf(stderr, "not enough free disk; pass --work DIR on a larger filesystem\n");
    return 2;
  }

  const fs::path model = work / ("qwen3-30b-a3b-shape-" + std::to_string(layers));
  if (!fs::exists(model / "config.json")) {
    bench::make_random_model(
        model, "bfloat16",
        {"model_type=qwen3_moe", "architectures=[\"Qwen3MoeForCausalLM\"]",
         "num_hidden_layers=" + std::to_string(layers), "hidden_size=2048", "num_attention_heads=32",
         "num_key_value_heads=4", "head_dim=128", "intermediate_size=6144", "moe_intermediate_size=768",
         "num_experts=128", "num_experts_per_tok=8", "norm_topk_prob=true", "decoder_sparse_step=1",
         "mlp_only_layers=[]", "vocab_size=151936", "max_position_embeddings=40960", "rope_theta=1000000",
         "tie_word_embeddings=false"});
  }
  std::uintmax_t model_bytes = 0;
  for (const auto& entry : fs::directory_iterator(model))
    model_bytes += entry.is_regular_file() ? entry.file_size() : 0;
  std::printf("model %s: %.2f GB\n", model.c_str(), static_cast<double>(model_bytes) / 1e9);

  const fs::path calib = work / "calib.jsonl";
  bench::write_calibration(calib, samples, chars);
  const fs::path config = work / "w8a8-moe.yaml";
  std::ofstream(config) << "apiversion: modelslim_v1\nspec:\n  runner: layer_wise\n  process:\n"
                           "    - type: linear_quant\n      qconfig:\n"
                           "        act: {scope: per_token, dtype: int8}\n"
                           "        weight: {scope: per_channel, dtype: int8}\n"
                           "      include: [\"*.experts.*\"]\n"
                           "    - type: linear_quant\n      qconfig:\n"
                           "        act: {scope: per_tensor, dtype: int8, symmetric: false}\n"
                           "        weight: {scope: per_channel, dtype: int8}\n"
                           "      include: [\"*\"]\n      exclude: [\"*mlp.gate\", \"*.experts.*\"]\n"
                           "  save: [{type: ascendv1_saver, part_file_size: 4}]\n  dataset: "
                        << calib.string() << "\n";
  const auto quant_run = [&](const fs::path& save_path, const fs::path& log) {
    return bench::run_child(
        {(bench::bin_dir() / "modelslim").string(), "quant", "--model_path", model.string(), "--save_path",
         save_path.string(), "--config_path", config.string()},
        log);
  };
  std::printf("load average before: %s (%u cores)\n", load_average().c_str(),
              std::thread::hardware_concurrency());
  const fs::path whole_output = work / "out-whole-blocks";
  bench::Measurement whole;
  if (baseline) {
    ::setenv("MODELSLIM_EXPERT_STREAMING", "0", 1);
    whole = quant_run(whole_output, work / "whole-blocks.log");
    ::unsetenv("MODELSLIM_EXPERT_STREAMING");
  }
  const fs::path output = work / "out-grouped";
  const bench::Measurement grouped = quant_run(output, work / "grouped.log");
  std::printf("load average after: %s\n", load_average().c_str());

  std::printf(
      "qwen3-30b-a3b shape (%d sparse layers), bf16, W8A8 (experts dynamic, attention static, router "
      "float) layer_wise, %d samples (<=%zu chars each)\n",
      layers, samples, chars);
  if (baseline)
    print_run("quant, whole blocks (MODELSLIM_EXPERT_STREAMING=0)", whole,
              read_log(work / "whole-blocks.log"), layers);
  print_run("quant, experts in groups", grouped, read_log(work / "grouped.log"), layers);
  const bool rss_ok = grouped.peak_rss_mib < kTargetMiB;
  std::printf("peak RSS %.1f MiB vs target < %.0f MiB: %s\n", grouped.peak_rss_mib, kTargetMiB,
              rss_ok ? "PASS" : "FAIL");
  bool identical = true;
  if (baseline) {
    identical = same_files(whole_output, output);
    std::printf("output byte-identical to the whole-block run: %s\n", identical ? "yes" : "NO");
    if (!keep) fs::remove_all(whole_output);
  }
  if (!keep) {
    fs::remove_all(model);
    fs::remove_all(output);
    std::printf("removed %s and %s\n", model.c_str(), output.c_str());
  }
  return rss_ok && identical ? 0 : 1;
}
