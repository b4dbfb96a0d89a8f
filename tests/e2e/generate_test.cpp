// The text generator behind `modelslim generate` and `modelslim serve` (core/text_generator.hpp) on a tiny
// random model: greedy output against a float64 greedy loop (tests/support/reference_llama.hpp), echo
// log-probs against `modelslim eval`'s ppl (float and a saved W8A8 artifact), sampling against
// hand-derived distributions, stop strings across tokens, streaming, end-of-sequence, and the CLI.
#include "support/doctest.hpp"

#include <cmath>
#include <map>

#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/sampling.hpp"
#include "modelslim/core/text_generator.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/reference_llama.hpp"
#include "support/shared_generated.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
using core::SamplingParams;
namespace fs = std::filesystem;

namespace {

using modelslim::test::plugin_dir;

// A random Llama with the byte tokenizer and no end-of-sequence token (tests that want one set it): a copy,
// in `dir`, of the one made once per process.
fs::path generate_make_model(const test::TempDir& dir, const std::string& extra_sets = "") {
  const fs::path made = test::shared_generated(
      (test::build_dir() / "bin" / "make_random_model").string() + " --config " +
      (test::source_dir() / "data/demo/config.json").string() +
      " --byte-tokenizer --scale 0.08 --set hidden_size=64 --set intermediate_size=128"
      " --set num_hidden_layers=2 --set num_attention_heads=4 --set num_key_value_heads=2 --set head_dim=16"
      " --set max_position_embeddings=128 --set eos_token_id=null " +
      extra_sets);
  const fs::path model = test::copy_dir(made, dir / "model");
  fs::remove(model / "tokenizer_config.json");  // its eos_token would also end generation
  return model;
}

void set_eos(const fs::path& model, std::int64_t eos) {
  nlohmann::json config = read_json_file(model / "config.json");
  config["eos_token_id"] = eos;
  test::write_text(model / "config.json", config.dump(2));
}

std::unique_ptr<core::TextGenerator> open_generator(const fs::path& model,
                                                    const std::optional<fs::path>& quant = std::nullopt) {
  static core::PluginRegistry* registry = [] {
    auto* r = new core::PluginRegistry();
    r->load_directory(plugin_dir());
    return r;
  }();
  return core::open_text_generator(*registry, core::GeneratorOptions{model, quant, ""});
}

SamplingParams greedy(std::int64_t max_tokens) {
  SamplingParams params;
  params.max_tokens = max_tokens;
  params.temperature = 0.0;
  return params;
}

// Greedy continuation computed in float64 from the checkpoint (full forward per step); the smallest gap
// between the best and second-best logit is reported so a near-tie cannot pass unnoticed.
std::vector<std::int64_t> reference_greedy(const fs::path& model, std::vector<std::int64_t> ids,
                                           std::int64_t steps, double* min_gap) {
  const nlohmann::json config = read_json_file(model / "config.json");
  const auto checkpoint = SafetensorsCheckpoint::open_dir(model);
  const auto tensor = [&](const std::string& name) { return checkpoint.load(name).to(at::kDouble); };
  const auto linear = [&](const std::string& module, const at::Tensor& x) {
    return at::matmul(x, tensor(module + ".weight").t());
  };
  std::vector<std::int64_t> output;
  *min_gap = INFINITY;
  for (std::int64_t step = 0; step < steps; ++step) {
    const at::Tensor last = test::reference_llama_logits(config, ids, tensor, linear)[-1];
    const auto top = last.topk(2);
    *min_gap = std::min(*min_gap, (std::get<0>(top)[0] - std::get<0>(top)[1]).item<double>());
    output.push_back(std::get<1>(top)[0].item<std::int64_t>());
    ids.push_back(output.back());
  }
  return output;
}

double eval_ppl(const fs::path& model, const std::optional<fs::path>& quant, const fs::path& dataset,
                const fs::path& json) {
  const auto result =
      test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                        (quant ? " --quant_path " + quant->string() : std::string()) + " --dataset " +
                        dataset.string() + " --metrics ppl --max_tokens 48 --json " + json.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const nlohmann::json report = read_json_file(json);
  for (const auto& m : report[quant ? "quantized" : "float"]) {
    if (m["metric"] == "ppl") return m["value"].get<double>();
  }
  FAIL("no ppl in " << json);
  return 0.0;
}

// exp(−mean log-prob of the prompt tokens after the first), from the generator's echo.
double echo_ppl(core::TextGenerator& generator, const std::vector<std::int64_t>& ids) {
  SamplingParams params = greedy(0);
  params.echo = true;
  const core::Generation g = generator.generate(ids, params);
  REQUIRE(g.prompt_logprobs.size() == ids.size());
  CHECK_FALSE(g.prompt_logprobs[0].logprob.has_value());
  double sum = 0.0;
  for (std::size_t i = 1; i < ids.size(); ++i) sum += *g.prompt_logprobs[i].logprob;
  return std::exp(-sum / double(ids.size() - 1));
}

std::string concatenated(const std::vector<std::string>& pieces) {
  std::string text;
  for (const std::string& piece : pieces) text += piece;
  return text;
}

}  // namespace

TEST_CASE("greedy generation equals a float64 greedy argmax loop; the CLI prints the same text") {
  test::TempDir dir("generate-greedy");
  const fs::path model = generate_make_model(dir);
  const auto generator = open_generator(model);
  const std::vector<std::int64_t> prompt = generator->tokenizer().encode("In the beginning");
  SamplingParams params = greedy(20);
  params.logprobs = 2;
  const core::Generation g = generator->generate(prompt, params);
  double gap = 0.0;
  const std::vector<std::int64_t> expected = reference_greedy(model, prompt, 20, &gap);
  MESSAGE("smallest top-1/top-2 logit gap of the float64 run: " << gap);
  REQUIRE(gap > 1e-3);  // float32 vs float64 differ by ~1e-6 here: a tie would make the check meaningless
  CHECK(g.output_ids == expected);
  CHECK(g.finish == core::FinishReason::kLength);
  CHECK(g.prompt_ids == prompt);
  REQUIRE(g.output_logprobs.size() == 20);
  for (const core::TokenLogprob& entry : g.output_logprobs) {
    REQUIRE(entry.top.size() == 2);
    CHECK(entry.top[0].second == doctest::Approx(*entry.logprob).epsilon(1e-12));  // greedy: the best
    CHECK(entry.top[1].second <= entry.top[0].second);
  }
  CHECK(g.text == generator->tokenizer().decode(expected));

  const auto cli = test::run_command(test::modelslim_bin().string() + " generate --model_path " +
                                     model.string() + " --prompt 'In the beginning' --max_new_tokens 20");
  REQUIRE_MESSAGE(cli.exit_code == 0, cli.output);
  std::vector<std::int64_t> all = prompt;
  all.insert(all.end(), expected.begin(), expected.end());
  CHECK(cli.output.find(generator->tokenizer().decode(all) + "\n") != std::string::npos);
}

TEST_CASE("echo log-probs give modelslim eval's perplexity (float and a saved W8A8 artifact)") {
  test::TempDir dir("generate-echo");
  const fs::path model = generate_make_model(dir);
  const std::string text = read_text_dataset(test::source_dir() / "data/datasets/kjv_eval.jsonl").front();
  test::write_text(dir / "one.jsonl", nlohmann::json({{"inputs_pretokenized", text}}).dump() + "\n");
  test::write_text(dir / "w8a8.yaml", test::with_dataset(test::kW8A8Practice, dir / "one.jsonl"));
  const auto quant = test::run_command(test::modelslim_bin().string() + " quant --model_path " +
                                       model.string() + " --save_path " + (dir / "w8a8").string() +
                                       " --config_path " + (dir / "w8a8.yaml").string());
  REQUIRE_MESSAGE(quant.exit_code == 0, quant.output);

  for (const bool quantized : {false, true}) {
    CAPTURE(quantized);
    const std::optional<fs::path> quant_path =
        quantized ? std::optional<fs::path>(dir / "w8a8") : std::nullopt;
    const auto generator = open_generator(model, quant_path);
    std::vector<std::int64_t> ids = generator->tokenizer().encode(text);
    ids.resize(48);  // eval's --max_tokens 48
    const double ours = echo_ppl(*generator, ids);
    const double eval = eval_ppl(model, quant_path, dir / "one.jsonl", dir / "eval.json");
    MESSAGE(std::string(quantized ? "W8A8" : "float")
            << ": echo ppl " << ours << ", eval ppl " << eval << ", relative difference "
            << std::abs(ours - eval) / eval);
    CHECK(std::abs(ours - eval) / eval < 1e-6);
  }
  // The W8A8 artifact really runs its own arithmetic: its ppl differs from the float model's.
  const auto float_generator = open_generator(model);
  const auto quant_generator = open_generator(model, dir / "w8a8");
  std::vector<std::int64_t> ids = float_generator->tokenizer().encode(text);
  ids.resize(48);
  CHECK(echo_ppl(*float_generator, ids) != echo_ppl(*quant_generator, ids));

  // The dialogue check of the W8A8 guide: `generate --quant_path` is the quantized model's greedy text.
  const std::vector<std::int64_t> prompt = quant_generator->tokenizer().encode("And God said");
  const core::Generation g = quant_generator->generate(prompt, greedy(12));
  std::vector<std::int64_t> all = prompt;
  all.insert(all.end(), g.output_ids.begin(), g.output_ids.end());
  const auto cli = test::run_command(test::modelslim_bin().string() + " generate --model_path " +
                                     model.string() + " --quant_path " + (dir / "w8a8").string() +
                                     " --prompt 'And God said' --max_new_tokens 12");
  REQUIRE_MESSAGE(cli.exit_code == 0, cli.output);
  CHECK(cli.output.find(quant_generator->tokenizer().decode(all) + "\n") != std::string::npos);
}

TEST_CASE("sampling distribution: temperature, top_k and top_p against hand-derived probabilities") {
  const auto probs = [](const at::Tensor& p) {
    return std::vector<double>(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  };
  const auto close = [](const std::vector<double>& got, const std::vector<double>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
  };
  // p = (0.5, 0.3, 0.15, 0.05); top_p 0.7 keeps 0.5 and 0.3 (0.5 < 0.7 before the second, 0.8 before the
  // third): renormalised 0.625, 0.375.
  const at::Tensor logits = at::log(at::tensor({0.5, 0.3, 0.15, 0.05}, at::kDouble));
  close(probs(core::sampling_distribution(logits, 1.0, 0, 0.7)), {0.625, 0.375, 0.0, 0.0});
  close(probs(core::sampling_distribution(logits, 1.0, 0, 1.0)), {0.5, 0.3, 0.15, 0.05});
  // top_k 3 first (0.5, 0.3, 0.15 → /0.95), then top_p 0.9: 0.5/0.95 + 0.3/0.95 = 0.842 < 0.9 keeps all 3.
  close(probs(core::sampling_distribution(logits, 1.0, 3, 0.9)), {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0});
  // Temperature 2 on logits (0, ln 4): weights 1 and 4^(1/2) = 2 → 1/3, 2/3.
  close(probs(core::sampling_distribution(at::tensor({0.0, std::log(4.0)}, at::kDouble), 2.0, 0, 1.0)),
        {1.0 / 3.0, 2.0 / 3.0});
  // Temperature 0.5 sharpens: weights 1 and 16 → 1/17, 16/17.
  close(probs(core::sampling_distribution(at::tensor({0.0, std::log(4.0)}, at::kDouble), 0.5, 0, 1.0)),
        {1.0 / 17.0, 16.0 / 17.0});
  // Ties at the top_k boundary keep the lower id.
  close(probs(core::sampling_distribution(at::zeros({3}, at::kDouble), 1.0, 2, 1.0)), {0.5, 0.5, 0.0});
}

TEST_CASE("sampler: draws follow the distribution, top_k 1 is greedy, a seed reproduces the draws") {
  const at::Tensor logits = at::log(at::tensor({0.5, 0.3, 0.15, 0.05}, at::kDouble)).to(at::kFloat);
  SamplingParams params;
  params.temperature = 1.0;
  params.top_p = 0.7;
  params.seed = 7;
  core::TokenSampler sampler(params);
  std::map<std::int64_t, int> counts;
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) ++counts[sampler.next(logits)];
  // Binomial standard deviation at n = 20000: sqrt(0.625 · 0.375 / n) = 0.0034; 0.015 is > 4 sigma.
  CHECK(std::abs(double(counts[0]) / draws - 0.625) < 0.015);
  CHECK(std::abs(double(counts[1]) / draws - 0.375) < 0.015);
  CHECK(counts[2] + counts[3] == 0);

  SamplingParams top1;
  top1.top_k = 1;
  top1.temperature = 5.0;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    top1.seed = seed;
    core::TokenSampler s(top1);
    CHECK(s.next(at::tensor({0.1f, 0.2f, 0.15f})) == 1);
  }
  SamplingParams flat;
  flat.seed = 42;
  core::TokenSampler a(flat), b(flat);
  flat.seed = 43;
  core::TokenSampler c(flat);
  std::vector<std::int64_t> da, db, dc;
  for (int i = 0; i < 32; ++i) {
    const at::Tensor uniform = at::zeros({64});
    da.push_back(a.next(uniform));
    db.push_back(b.next(uniform));
    dc.push_back(c.next(uniform));
  }
  CHECK(da == db);
  CHECK(da != dc);
}

TEST_CASE("generator: top_k 1 equals greedy; a seed reproduces a sampled generation") {
  test::TempDir dir("generate-sampling");
  const fs::path model = generate_make_model(dir);
  const auto generator = open_generator(model);
  const std::vector<std::int64_t> prompt = generator->tokenizer().encode("And the earth");
  const core::Generation greedy_run = generator->generate(prompt, greedy(16));
  SamplingParams top1;
  top1.max_tokens = 16;
  top1.temperature = 1.5;
  top1.top_k = 1;
  top1.seed = 11;
  CHECK(generator->generate(prompt, top1).output_ids == greedy_run.output_ids);
  SamplingParams sampled;
  sampled.max_tokens = 16;
  sampled.temperature = 3.0;  // flat enough that different seeds diverge
  sampled.seed = 5;
  const core::Generation first = generator->generate(prompt, sampled);
  CHECK(generator->generate(prompt, sampled).output_ids == first.output_ids);
  sampled.seed = 6;
  CHECK(generator->generate(prompt, sampled).output_ids != first.output_ids);
}

TEST_CASE("stop string across two tokens is cut; streamed pieces concatenate to the text") {
  test::TempDir dir("generate-stop");
  const fs::path model = generate_make_model(dir);
  const auto generator = open_generator(model);
  const Tokenizer& tokenizer = generator->tokenizer();
  const std::vector<std::int64_t> prompt = tokenizer.encode("In the beginning");
  const core::Generation full = generator->generate(prompt, greedy(24));
  // Each token's own text: the stop string is token j's last byte followed by token j+1's first byte.
  std::size_t boundary = 0;  // byte offset where token j+1 starts
  std::string stop;
  std::size_t j = 0;
  for (std::size_t offset = 0; j + 1 < full.output_ids.size(); ++j) {
    const std::string here = tokenizer.decode({full.output_ids[j]});
    const std::string next = tokenizer.decode({full.output_ids[j + 1]});
    offset += here.size();
    if (!here.empty() && !next.empty()) {
      const std::string candidate = here.substr(here.size() - 1) + next.substr(0, 1);
      if (j >= 2 && full.text.find(candidate) == offset - 1) {
        stop = candidate;
        boundary = offset;
        break;
      }
    }
  }
  REQUIRE_MESSAGE(!stop.empty(), "no usable token boundary in " << full.text);
  SamplingParams params = greedy(24);
  params.stop = {"never-generated-stop", stop};
  params.logprobs = 0;
  std::vector<std::string> pieces;
  const core::Generation cut = generator->generate(prompt, params, [&](const std::string& piece) {
    pieces.push_back(piece);
    return true;
  });
  CHECK(cut.finish == core::FinishReason::kStop);
  CHECK(cut.text == full.text.substr(0, boundary - 1));
  // Token j holds the stop string's first byte: the output ends before it.
  CHECK(cut.output_ids == std::vector<std::int64_t>(full.output_ids.begin(), full.output_ids.begin() + j));
  CHECK(cut.output_logprobs.size() == j);
  CHECK(concatenated(pieces) == cut.text);
  CHECK(pieces.size() > 1);  // streamed as generated, not all at the end

  // Without a stop string the pieces still concatenate to the whole text; cancelling stops early.
  pieces.clear();
  const core::Generation streamed = generator->generate(prompt, greedy(24), [&](const std::string& piece) {
    pieces.push_back(piece);
    return true;
  });
  CHECK(concatenated(pieces) == streamed.text);
  CHECK(streamed.text == full.text);
  int calls = 0;
  const core::Generation cancelled =
      generator->generate(prompt, greedy(24), [&](const std::string&) { return ++calls < 3; });
  CHECK(cancelled.finish == core::FinishReason::kCancelled);
  CHECK(cancelled.output_ids.size() < 24);
}

TEST_CASE("end-of-sequence ends generation with kStop, excluded from the output") {
  test::TempDir dir("generate-eos");
  const fs::path model = generate_make_model(dir);
  std::vector<std::int64_t> prompt;
  core::Generation full;
  {
    const auto generator = open_generator(model);
    prompt = generator->tokenizer().encode("In the beginning");
    full = generator->generate(prompt, greedy(16));
  }
  // The first output token (after the second) that did not occur before it becomes the EOS.
  std::size_t k = 2;
  while (k < full.output_ids.size() && std::find(full.output_ids.begin(), full.output_ids.begin() + k,
                                                 full.output_ids[k]) != full.output_ids.begin() + k)
    ++k;
  REQUIRE(k < full.output_ids.size());
  set_eos(model, full.output_ids[k]);
  const auto generator = open_generator(model);
  const core::Generation stopped = generator->generate(prompt, greedy(16));
  CHECK(stopped.finish == core::FinishReason::kStop);
  CHECK(stopped.output_ids ==
        std::vector<std::int64_t>(full.output_ids.begin(), full.output_ids.begin() + k));
  CHECK(stopped.text ==
        generator->tokenizer().decode({full.output_ids.begin(), full.output_ids.begin() + k}));
}

TEST_CASE("requests past the context and empty prompts are refused, naming the limit") {
  test::TempDir dir("generate-limits");
  const auto generator = open_generator(generate_make_model(dir));
  CHECK(generator->context_length() == 128);
  CHECK_THROWS_WITH_AS(generator->generate(std::vector<std::int64_t>(100, 65), greedy(29)),
                       doctest::Contains("exceeds the model's context of 128"), Error);
  CHECK_NOTHROW(generator->generate(std::vector<std::int64_t>(100, 65), greedy(28)));
  CHECK_THROWS_WITH_AS(generator->generate({}, greedy(1)), doctest::Contains("no tokens"), Error);
}
