// Decode speed of the text generator (modelslim generate / serve) at two positions of the same random model
// (max_position_embeddings 2048): tokens/s for the tokens generated right after a 16-token prompt and right
// after a 1000-token prompt. With the key/value cache a token's cost is flat in position except attention's
// term linear in the length, so the ratio tokens/s(1000) / tokens/s(16) stays near 1 (full recompute per
// token would make it ~1/60). Timed from the first streamed token to the last, best of reps.
// Target: ratio >= 0.5.
//
//   build/bin/decode_bench [--hidden 512] [--layers 4] [--tokens 64] [--reps 3] [--work DIR]
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>

#include "bench_child.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/text_generator.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Tokens per second for the tokens after the first one generated after `prompt_length` prompt tokens,
// timed from the first streamed piece (the prefill is done by then) to the end; best of reps. With the byte
// tokenizer a piece is a token's byte, so the first piece's length is the tokens it covers.
double decode_rate(modelslim::core::TextGenerator& generator, std::int64_t prompt_length, std::int64_t tokens,
                   int reps) {
  std::vector<std::int64_t> prompt(static_cast<std::size_t>(prompt_length));
  for (std::int64_t i = 0; i < prompt_length; ++i) prompt[i] = 32 + (i * 37) % 90;  // printable bytes
  modelslim::core::SamplingParams params;
  params.temperature = 0.0;
  params.max_tokens = tokens + 1;
  double best = 0.0;
  for (int rep = 0; rep < reps; ++rep) {
    Clock::time_point first;
    std::size_t first_tokens = 0;
    const auto generation = generator.generate(prompt, params, [&](const std::string& piece) {
      if (first_tokens == 0) {
        first = Clock::now();
        first_tokens = piece.size();
      }
      return true;
    });
    const double seconds = std::chrono::duration<double>(Clock::now() - first).count();
    if (static_cast<std::int64_t>(generation.output_ids.size()) != tokens + 1 || first_tokens == 0) {
      std::fprintf(stderr, "generation stopped early (%zu tokens)\n", generation.output_ids.size());
      std::exit(1);
    }
    best = std::max(best, static_cast<double>(generation.output_ids.size() - first_tokens) / seconds);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const std::string hidden = bench::arg_value(argc, argv, "--hidden", "512");
  const std::string layers = bench::arg_value(argc, argv, "--layers", "4");
  const std::int64_t tokens = std::stoll(bench::arg_value(argc, argv, "--tokens", "64"));
  const int reps = std::stoi(bench::arg_value(argc, argv, "--reps", "3"));
  const fs::path work = bench::claim_work_dir(
      bench::arg_value(argc, argv, "--work", (fs::temp_directory_path() / "modelslim-bench").string()));
  const fs::path model_dir = work / ("decode-model-" + hidden + "-" + layers);
  if (!fs::exists(model_dir / "config.json")) {
    const std::int64_t h = std::stoll(hidden);
    bench::make_random_model(
        model_dir, "float32",
        {"num_hidden_layers=" + layers, "hidden_size=" + hidden,
         "intermediate_size=" + std::to_string(h * 8 / 3), "num_attention_heads=8", "num_key_value_heads=4",
         "head_dim=" + std::to_string(h / 8), "max_position_embeddings=2048", "eos_token_id=null"});
    fs::remove(model_dir / "tokenizer_config.json");
  }
  modelslim::core::PluginRegistry registry;
  registry.load_directory(bench::plugin_dir());
  const auto generator = modelslim::core::open_text_generator(registry, {model_dir, std::nullopt, ""});
  std::printf(
      "model: hidden %s, %s layers, 8 heads / 4 kv heads, float32; %d threads; %lld tokens, best of %d\n",
      hidden.c_str(), layers.c_str(), at::get_num_threads(), static_cast<long long>(tokens), reps);
  const double near = decode_rate(*generator, 15, tokens, reps);  // tokens at positions 16 ..
  const double far = decode_rate(*generator, 999, tokens, reps);  // tokens at positions 1000 ..
  const double ratio = far / near;
  std::printf("decode at position 16:   %8.1f tokens/s\n", near);
  std::printf("decode at position 1000: %8.1f tokens/s\n", far);
  std::printf("ratio 1000/16: %.3f (target >= 0.5) %s\n", ratio, ratio >= 0.5 ? "pass" : "FAIL");
  return ratio >= 0.5 ? 0 : 1;
}
