// Saver write throughput (issue 17, "write shards once"): a layer-wise saver's tensor stream (int8 weights,
// float32 scales, bf16 norms per block; bf16 embedding and head at the end) written into shards by
//   spill   ShardedWriter: data to a spill file, then header + spill copied into the shard file
//   stream  StreamingShardWriter with the savers' per-block layout guess (data written once, in place)
//   noguess StreamingShardWriter without a guess (every shard's data moved once inside its file)
// in one run, alternating, best of --repeat. Prints MB/s, CPU time and the peak bytes on disk beside the
// output (sampled), and checks that the three outputs are byte-identical.
//
//   build/bin/saver_write_bench [--hidden 2048] [--blocks 8] [--part-mib 128] [--repeat 3] [--work DIR]
#include <ATen/ATen.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "bench_child.hpp"
#include "modelslim/sharded_writer.hpp"
#include "modelslim/streaming_shard_writer.hpp"

namespace fs = std::filesystem;
using namespace modelslim;

namespace {

struct Options {
  std::int64_t hidden = 2048;
  int blocks = 8;
  std::uint64_t part_mib = 128;
  int repeat = 3;
  fs::path work = fs::temp_directory_path() / "modelslim-saver-bench";
};

using Block = std::vector<std::pair<std::string, at::Tensor>>;

// One block's saved tensors (Llama shapes, intermediate = 2.6875 × hidden), W8A8-like.
Block make_block(const Options& o, int index) {
  const std::int64_t h = o.hidden;
  const std::int64_t inter = h * 43 / 16;
  const std::string p = "model.layers." + std::to_string(index) + ".";
  Block block;
  const std::vector<std::pair<std::string, std::pair<std::int64_t, std::int64_t>>> linears = {
      {"self_attn.q_proj", {h, h}}, {"self_attn.k_proj", {h, h}},  {"self_attn.v_proj", {h, h}},
      {"self_attn.o_proj", {h, h}}, {"mlp.gate_proj", {inter, h}}, {"mlp.up_proj", {inter, h}},
      {"mlp.down_proj", {h, inter}}};
  for (const auto& [name, shape] : linears) {
    block.emplace_back(p + name + ".weight", at::randint(-128, 127, {shape.first, shape.second}, at::kChar));
    block.emplace_back(p + name + ".deq_scale", at::rand({shape.first}));
    block.emplace_back(p + name + ".quant_bias", at::zeros({shape.first}, at::kInt));
  }
  block.emplace_back(p + "input_layernorm.weight", at::ones({h}, at::kBFloat16));
  block.emplace_back(p + "post_attention_layernorm.weight", at::ones({h}, at::kBFloat16));
  return block;
}

Block make_tail(const Options& o) {
  return {{"model.embed_tokens.weight", at::randn({32000, o.hidden}).to(at::kBFloat16)},
          {"model.norm.weight", at::ones({o.hidden}, at::kBFloat16)},
          {"lm_head.weight", at::randn({32000, o.hidden}).to(at::kBFloat16)}};
}

std::vector<TensorSpec> specs_of(const Block& tensors) {
  std::vector<TensorSpec> specs;
  for (const auto& [name, tensor] : tensors) specs.push_back(tensor_spec(name, tensor));
  return specs;
}

std::uint64_t dir_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const auto size = entry.file_size(error);
    if (!error) total += size;
  }
  return total;
}

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

struct Result {
  double seconds = 1e30;
  double cpu = 0;
  std::uint64_t peak_disk = 0;
};

// Writes the stream with `kind` into a fresh `out`; samples the directory's size meanwhile.
Result write_once(const std::string& kind, const Options& o, const std::vector<Block>& blocks,
                  const Block& tail, const fs::path& out) {
  fs::remove_all(out);
  fs::create_directories(out);
  std::atomic<bool> done{false};
  std::uint64_t peak = 0;
  std::thread sampler([&] {
    while (!done) {
      peak = std::max(peak, dir_bytes(out));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  const double cpu_start = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t part = o.part_mib << 20;
  if (kind == "spill") {
    ShardedWriter writer(out, "w", part);
    for (const Block& block : blocks)
      for (const auto& [name, tensor] : block) writer.add(name, tensor);
    for (const auto& [name, tensor] : tail) writer.add(name, tensor);
    writer.finish();
  } else {
    StreamingShardWriter writer(out, "w", part);
    const std::vector<TensorSpec> tail_specs = specs_of(tail);
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      if (kind == "stream") {  // what the savers pass: the rest of the model, from the blocks themselves
        std::vector<TensorSpec> guess;
        for (std::size_t later = b; later < blocks.size(); ++later) {
          const auto specs = specs_of(blocks[later]);
          guess.insert(guess.end(), specs.begin(), specs.end());
        }
        guess.insert(guess.end(), tail_specs.begin(), tail_specs.end());
        writer.expect(std::move(guess));
      }
      for (const auto& [name, tensor] : blocks[b]) writer.add(name, tensor);
    }
    for (const auto& [name, tensor] : tail) writer.add(name, tensor);
    writer.finish();
    if (kind == "stream" && writer.moved_shards() != 0)
      std::printf("  (stream moved %zu shards)\n", writer.moved_shards());
  }
  Result result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.cpu = cpu_seconds() - cpu_start;
  done = true;
  sampler.join();
  result.peak_disk = peak;
  return result;
}

bool same_files(const fs::path& a, const fs::path& b) {
  for (const auto& entry : fs::directory_iterator(a)) {
    std::ifstream x(entry.path(), std::ios::binary);
    std::ifstream y(b / entry.path().filename(), std::ios::binary);
    if (!y || !std::equal(std::istreambuf_iterator<char>(x), {}, std::istreambuf_iterator<char>(y), {}))
      return false;
  }
  return true;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--hidden")
      o.hidden = std::atoll(value);
    else if (flag == "--blocks")
      o.blocks = std::atoi(value);
    else if (flag == "--part-mib")
      o.part_mib = std::strtoull(value, nullptr, 10);
    else if (flag == "--repeat")
      o.repeat = std::atoi(value);
    else if (flag == "--work")
      o.work = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      std::exit(2);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  bench::claim_work_dir(o.work);
  at::manual_seed(1);
  std::vector<Block> blocks;
  for (int b = 0; b < o.blocks; ++b) blocks.push_back(make_block(o, b));
  const Block tail = make_tail(o);
  std::uint64_t bytes = 0;
  for (const Block& block : blocks)
    for (const auto& entry : block) bytes += entry.second.nbytes();
  for (const auto& entry : tail) bytes += entry.second.nbytes();

  const std::vector<std::string> kinds = {"spill", "stream", "noguess"};
  std::vector<Result> best(kinds.size());
  for (int round = 0; round < o.repeat; ++round) {
    for (std::size_t k = 0; k < kinds.size(); ++k) {
      const Result r = write_once(kinds[k], o, blocks, tail, o.work / kinds[k]);
      if (r.seconds < best[k].seconds) best[k] = r;
    }
  }
  std::printf("saver write: hidden %lld, %d blocks + embed/head, %.1f MB in %llu MiB shards, best of %d\n",
              static_cast<long long>(o.hidden), o.blocks, bytes / 1e6,
              static_cast<unsigned long long>(o.part_mib), o.repeat);
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    std::printf(
        "  %-8s %7.2f s  %7.1f MB/s  cpu %6.2f s  peak disk %7.1f MB (%.2f x output)  ratio to spill %.3f\n",
        kinds[k].c_str(), best[k].seconds, bytes / 1e6 / best[k].seconds, best[k].cpu,
        best[k].peak_disk / 1e6, static_cast<double>(best[k].peak_disk) / bytes,
        best[0].seconds / best[k].seconds);
  }
  const bool identical =
      same_files(o.work / "spill", o.work / "stream") && same_files(o.work / "spill", o.work / "noguess");
  std::printf("  outputs byte-identical: %s\n", identical ? "yes" : "NO");
  // Targets: writing once must be clearly faster than spill + copy and need no disk beyond the output.
  const double ratio = best[0].seconds / best[1].seconds;
  const bool met = identical && ratio >= 1.3 && best[1].peak_disk <= bytes * 1.05;
  std::printf("  target: stream >= 1.3 x spill speed, peak disk <= 1.05 x output, identical: %s\n",
              met ? "pass" : "FAIL");
  fs::remove_all(o.work);
  return met ? 0 : 1;
}
