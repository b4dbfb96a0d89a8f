// Benchmark (h), issue 14 §5: DeepSeek-V3 at real width on this machine. Generates a random FP8 checkpoint
// with DeepSeek-V3's widths (tools/make_random_deepseek --style v3-real: hidden 7168, 256 routed + 1 shared
// expert of 2048, MLA ranks 1536 / 512, 128 heads; 1 dense + 2 MoE layers, vocab 1024; ~23 GB, one shard
// per layer, written with bounded memory), quantizes it layer-wise with `modelslim quant` (experts and MLPs
// W8A8_DYNAMIC, attention W8A8 static, kv_b_proj and routers float: the reference's DeepSeek practice) and
// prints: the generator's and the quant's peak RSS (target < 6 GiB for the quant), the time per block from
// the quant's progress log, a projection to DeepSeek-V3's 61 layers (3 dense + 58 MoE), and a check of
// sampled saved linears against a float64 computation done here: the FP8 codes decoded by this file's own
// e4m3 table, times their 128×128 block scales, quantized per channel symmetric (scale = max|w| / 127,
// q = round(w / scale); on an exact tie k + ½ either neighbour counts) and compared with the saved int8
// weight and weight scale.
//
//   build/bin/deepseek_bench [--work DIR] [--samples 4] [--chars 64] [--keep] [--set key=value ...]
//
// --set is passed to the generator (e.g. smaller widths to try the bench itself); the RSS target applies to
// the real widths only. Needs ~50 GB of free disk (checked first).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_child.hpp"

namespace fs = std::filesystem;

namespace {

constexpr double kTargetMiB = 6 * 1024.0;
constexpr double kNeededGb = 50.0;

// Runs argv with stdout and stderr appended to `log`; wall time and the child's own peak RSS.
bench::Measurement run_logged(const std::vector<std::string>& argv, const fs::path& log) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
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
    std::fprintf(stderr, "command failed: %s (log: %s)\n", argv[0].c_str(), log.c_str());
    std::exit(1);
  }
  bench::Measurement m;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  m.user_seconds = static_cast<double>(usage.ru_utime.tv_sec) + usage.ru_utime.tv_usec / 1e6;
  m.system_seconds = static_cast<double>(usage.ru_stime.tv_sec) + usage.ru_stime.tv_usec / 1e6;
  return m;
}

// "[quant] block i/N name  elapsed Xs": each block's own seconds, in order.
std::vector<std::pair<std::string, double>> block_times(const fs::path& log) {
  const std::regex line(R"(\[quant\] block (\d+)/(\d+) (\S+)\s+elapsed ([0-9.]+)s)");
  std::vector<std::pair<std::string, double>> times;
  std::ifstream in(log);
  double previous = 0;
  for (std::string text; std::getline(in, text);) {
    std::smatch match;
    if (!std::regex_search(text, match, line)) continue;
    const double elapsed = std::stod(match[4]);
    times.emplace_back(match[3], elapsed - previous);
    previous = elapsed;
  }
  return times;
}

// ---- reading tensors without the SDK: header JSON, then only the tensor's bytes ----

struct RawTensor {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<char> bytes;
};

class RawShards {
 public:
  explicit RawShards(const fs::path& dir) : dir_(dir) {
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::exists(index)) {
      for (const auto& [name, file] : nlohmann::json::parse(std::ifstream(index))["weight_map"].items())
        file_of_[name] = file.get<std::string>();
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".safetensors") files_.push_back(entry.path().filename().string());
    }
  }
  bool contains(const std::string& name) const {
    for (const std::string& file : files_) {
      if (header_of(file).contains(name)) return true;
    }
    return false;
  }
  RawTensor load(const std::string& name) const {
    for (const std::string& file : files_) {
      if (!file_of_.empty() && file_of_.count(name) && file_of_.at(name) != file) continue;
      std::ifstream in(dir_ / file, std::ios::binary);
      std::uint64_t length = 0;
      for (int i = 0; i < 8; ++i)
        length |= static_cast<std::uint64_t>(static_cast<unsigned char>(in.get())) << (8 * i);
      std::string text(length, '\0');
      in.read(text.data(), static_cast<std::streamsize>(length));
      const nlohmann::json header = nlohmann::json::parse(text);
      if (!header.contains(name)) continue;
      const auto& entry = header[name];
      RawTensor tensor{entry["dtype"], entry["shape"].get<std::vector<std::int64_t>>(), {}};
      const std::uint64_t begin = entry["data_offsets"][0], end = entry["data_offsets"][1];
      tensor.bytes.resize(end - begin);
      in.seekg(static_cast<std::streamoff>(8 + length + begin));
      in.read(tensor.bytes.data(), static_cast<std::streamsize>(end - begin));
      return tensor;
    }
    std::fprintf(stderr, "tensor %s not found under %s\n", name.c_str(), dir_.c_str());
    std::exit(1);
  }

 private:
  nlohmann::json header_of(const std::string& file) const {
    std::ifstream in(dir_ / file, std::ios::binary);
    std::uint64_t length = 0;
    for (int i = 0; i < 8; ++i)
      length |= static_cast<std::uint64_t>(static_cast<unsigned char>(in.get())) << (8 * i);
    std::string text(length, '\0');
    in.read(text.data(), static_cast<std::streamsize>(length));
    return nlohmann::json::parse(text);
  }

  fs::path dir_;
  std::map<std::string, std::string> file_of_;
  std::vector<std::string> files_;
};

double e4m3(std::uint8_t code) {
  const int exponent = (code >> 3) & 15, mantissa = code & 7;
  const double magnitude = exponent == 0 ? mantissa / 8.0 * std::ldexp(1.0, -6)
                                         : (1 + mantissa / 8.0) * std::ldexp(1.0, exponent - 7);
  return (code & 0x80) != 0 ? -magnitude : magnitude;
}

float f32_at(const RawTensor& t, std::size_t i) {
  float value;
  std::memcpy(&value, t.bytes.data() + 4 * i, 4);
  return value;
}

struct LinearCheck {
  std::int64_t elements = 0;
  std::int64_t ties = 0;        // w / scale within 1e-6 of k + ½: either neighbour is a correct rounding
  std::int64_t mismatches = 0;  // a saved code that is not a correct rounding of the float64 value
  double scale_error = 0;       // max relative error of the weight scale
};

// The saved int8 weight and weight_scale of `name` against float64 dequantize → per-channel quantize.
LinearCheck check_linear(const RawShards& source, const RawShards& saved, const std::string& name) {
  const RawTensor codes = source.load(name + ".weight");
  const RawTensor scales = source.load(name + ".weight_scale_inv");
  const RawTensor qweight = saved.load(name + ".weight");
  // W8A8_DYNAMIC saves weight_scale; W8A8 static saves deq_scale = input_scale · weight_scale.
  const bool dynamic = saved.contains(name + ".weight_scale");
  const RawTensor qscale = saved.load(name + (dynamic ? ".weight_scale" : ".deq_scale"));
  const float input_scale = dynamic ? 1.0f : f32_at(saved.load(name + ".input_scale"), 0);
  const std::int64_t out = codes.shape[0], in = codes.shape[1], cols = scales.shape[1];
  LinearCheck check;
  std::vector<double> row(static_cast<std::size_t>(in));
  for (std::int64_t i = 0; i < out; ++i) {
    double peak = 0;
    for (std::int64_t j = 0; j < in; ++j) {
      const auto code = static_cast<std::uint8_t>(codes.bytes[static_cast<std::size_t>(i * in + j)]);
      row[j] = e4m3(code) * f32_at(scales, static_cast<std::size_t>((i / 128) * cols + j / 128));
      peak = std::max(peak, std::abs(row[j]));
    }
    const double scale = peak / 127.0;
    const double saved_scale = static_cast<double>(f32_at(qscale, static_cast<std::size_t>(i))) / input_scale;
    check.scale_error = std::max(check.scale_error, std::abs(saved_scale - scale) / scale);
    for (std::int64_t j = 0; j < in; ++j) {
      // FP8 values are often 448·2^-k of the row's peak, so w / scale lands on k + ½ exactly: a tie that
      // float32 and float64 may round either way.
      const double exact = row[j] / scale;
      const bool tie = std::abs(std::abs(exact - std::trunc(exact)) - 0.5) < 1e-6;
      const int got = static_cast<signed char>(qweight.bytes[static_cast<std::size_t>(i * in + j)]);
      check.ties += tie ? 1 : 0;
      const bool correct = tie ? std::abs(got - exact) < 0.5 + 1e-6 : got == std::nearbyint(exact);
      check.mismatches += correct ? 0 : 1;
    }
    check.elements += in;
  }
  return check;
}

std::uintmax_t directory_bytes(const fs::path& dir) {
  std::uintmax_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir))
    bytes += entry.is_regular_file() ? entry.file_size() : 0;
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  const int samples = std::stoi(bench::arg_value(argc, argv, "--samples", "4"));
  const std::size_t chars = std::stoul(bench::arg_value(argc, argv, "--chars", "64"));
  const fs::path work = bench::claim_work_dir(bench::arg_value(
      argc, argv, "--work", (fs::temp_directory_path() / "modelslim-bench-deepseek").string()));
  bool keep = false;
  std::vector<std::string> overrides;
  for (int i = 1; i < argc; ++i) {
    keep = keep || std::string(argv[i]) == "--keep";
    if (std::string(argv[i]) == "--set" && i + 1 < argc) overrides.push_back(argv[++i]);
  }
  fs::create_directories(work);
  const double free_gb = static_cast<double>(fs::space(work).available) / 1e9;
  std::printf(
      "free disk at %s: %.1f GB (need ~%.0f: the 23 GB FP8 checkpoint, the int8 output, shard slack)\n",
      work.c_str(), free_gb, kNeededGb);
  if (overrides.empty() && free_gb < kNeededGb) {
    std::fprintf(stderr, "not enough free disk; pass --work DIR on a larger filesystem\n");
    return 2;
  }

  const fs::path model = work / "deepseek-v3-real";
  const fs::path output = work / "deepseek-v3-real-w8a8";
  const fs::path log = work / "quant.log";
  bench::Measurement generate;
  if (!fs::exists(model / "config.json")) {
    std::vector<std::string> args = {(bench::bin_dir() / "make_random_deepseek").string(),
                                     "--style",
                                     "v3-real",
                                     "--shard-per-layer",
                                     "--seed",
                                     "11",
                                     "--output",
                                     model.string()};
    for (const std::string& item : overrides) {
      args.push_back("--set");
      args.push_back(item);
    }
    generate = run_logged(args, work / "generate.log");
  }
  std::printf(
      "generated %s: %.2f GB in %.1f s (CPU %.1f s user + %.1f s system), generator peak RSS %.1f MiB\n",
      model.c_str(), static_cast<double>(directory_bytes(model)) / 1e9, generate.seconds,
      generate.user_seconds, generate.system_seconds, generate.peak_rss_mib);

  const fs::path calib = work / "calib.jsonl";
  bench::write_calibration(calib, samples, chars);
  const fs::path config = work / "w8a8.yaml";
  std::ofstream(config)
      << "apiversion: modelslim_v1\nspec:\n  runner: layer_wise\n  process:\n"
         "    - type: linear_quant\n"
         "      qconfig:\n"
         "        act: {scope: per_tensor, dtype: int8, symmetric: false, method: minmax}\n"
         "        weight: {scope: per_channel, dtype: int8, symmetric: true, method: minmax}\n"
         "      include: ['*self_attn*']\n      exclude: ['*kv_b_proj']\n"
         "    - type: linear_quant\n"
         "      qconfig:\n"
         "        act: {scope: per_token, dtype: int8, symmetric: true}\n"
         "        weight: {scope: per_channel, dtype: int8, symmetric: true, method: minmax}\n"
         "      include: ['*mlp*']\n      exclude: ['*gate']\n"
         "  save: [{type: ascendv1_saver, part_file_size: 4}]\n  dataset: "
      << calib.string() << "\n";
  fs::remove_all(output);
  fs::remove(log);
  const bench::Measurement quant =
      run_logged({(bench::bin_dir() / "modelslim").string(), "quant", "--model_path", model.string(),
                  "--save_path", output.string(), "--config_path", config.string()},
                 log);

  const nlohmann::json hf = nlohmann::json::parse(std::ifstream(model / "config.json"));
  const std::int64_t dense_layers = hf.value("first_k_dense_replace", 1);
  double dense = 0, moe = 0;
  int dense_count = 0, moe_count = 0;
  for (const auto& [name, seconds] : block_times(log)) {
    const std::int64_t layer = std::stoll(name.substr(name.rfind('.') + 1));
    std::printf("  %s (%s): %.1f s\n", name.c_str(), layer < dense_layers ? "dense" : "MoE", seconds);
    (layer < dense_layers ? dense : moe) += seconds;
    (layer < dense_layers ? dense_count : moe_count) += 1;
  }
  const double dense_block = dense_count ? dense / dense_count : 0;
  const double moe_block = moe_count ? moe / moe_count : 0;
  std::printf(
      "quant: wall %.1f s (CPU %.1f s user + %.1f s system), peak RSS %.1f MiB; %.1f s per dense "
      "block, %.1f s per MoE block\n",
      quant.seconds, quant.user_seconds, quant.system_seconds, quant.peak_rss_mib, dense_block, moe_block);
  std::printf("projection to DeepSeek-V3 (3 dense + 58 MoE layers): %.1f min of blocks\n",
              (3 * dense_block + 58 * moe_block) / 60.0);

  // Sampled linears: a routed expert, the shared expert, the dense MLP, an attention projection.
  const RawShards source(model), saved(output);
  bool values_ok = true;
  const std::int64_t last = hf.value("n_routed_experts", 1) - 1;
  for (const std::string& name :
       {std::string("model.layers.1.mlp.experts.") + std::to_string(last) + ".down_proj",
        std::string("model.layers.2.mlp.experts.0.gate_proj"),
        std::string("model.layers.2.mlp.shared_experts.up_proj"), std::string("model.layers.0.mlp.down_proj"),
        std::string("model.layers.1.self_attn.q_b_proj")}) {
    const LinearCheck check = check_linear(source, saved, name);
    const bool ok = check.mismatches == 0 && check.scale_error < 1e-6;
    values_ok = values_ok && ok;
    std::printf(
        "  %s: %lld codes (%lld on a rounding tie), %lld not a correct rounding of the float64 value; "
        "weight scale rel. error %.2e: %s\n",
        name.c_str(), static_cast<long long>(check.elements), static_cast<long long>(check.ties),
        static_cast<long long>(check.mismatches), check.scale_error, ok ? "PASS" : "FAIL");
  }
  const bool rss_ok = quant.peak_rss_mib < kTargetMiB;
  std::printf("peak RSS %.1f MiB vs target < %.0f MiB%s: %s\n", quant.peak_rss_mib, kTargetMiB,
              overrides.empty() ? "" : " (widths overridden: not the real-width target)",
              rss_ok ? "PASS" : "FAIL");
  if (!keep) {
    fs::remove_all(model);
    fs::remove_all(output);
    std::printf("removed %s and %s\n", model.c_str(), output.c_str());
  }
  return rss_ok && values_ok ? 0 : 1;
}
