// train_demo_model: trains a small Llama-architecture byte-level language model on a text corpus (the King
// James Bible in this project) with LibTorch autograd on the CPU, deterministically, and writes it in Hugging
// Face layout (config.json, model.safetensors, tokenizer.json, generation_config.json, train_log.json).
//
//   train_demo_model --corpus FILE --output DIR [--steps 600] [--seed 1234] [--hidden 192] [--layers 4]
//                    [--heads 6] [--kv-heads 2] [--intermediate 512] [--seq 128] [--batch 16] [--lr 3e-3]
//                    [--holdout Prv,Lam,2Tim]
// Corpus lines look like "Ge1:1 In the beginning ..." (`bible -f`); verses of the --holdout books are
// excluded.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/byte_level_tokenizer.hpp"
#include "modelslim/safetensors.hpp"

namespace fs = std::filesystem;

namespace {

struct Options {
  fs::path corpus;
  fs::path output;
  std::int64_t steps = 600, seed = 1234, hidden = 192, layers = 4, heads = 6, kv_heads = 2,
               intermediate = 512;
  std::int64_t seq = 128, batch = 16;
  double lr = 3e-3;
  std::set<std::string> holdout = {"Prv", "Lam", "2Tim"};
};

[[noreturn]] void usage(const std::string& message) {
  std::cerr << "train_demo_model: " << message << "\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    try {
      if (flag == "--corpus")
        o.corpus = value;
      else if (flag == "--output")
        o.output = value;
      else if (flag == "--steps")
        o.steps = std::stoll(value);
      else if (flag == "--seed")
        o.seed = std::stoll(value);
      else if (flag == "--hidden")
        o.hidden = std::stoll(value);
      else if (flag == "--layers")
        o.layers = std::stoll(value);
      else if (flag == "--heads")
        o.heads = std::stoll(value);
      else if (flag == "--kv-heads")
        o.kv_heads = std::stoll(value);
      else if (flag == "--intermediate")
        o.intermediate = std::stoll(value);
      else if (flag == "--seq")
        o.seq = std::stoll(value);
      else if (flag == "--batch")
        o.batch = std::stoll(value);
      else if (flag == "--lr")
        o.lr = std::stod(value);
      else if (flag == "--holdout") {
        o.holdout.clear();
        std::stringstream list(value);
        for (std::string book; std::getline(list, book, ',');) o.holdout.insert(book);
      } else
        usage("unknown flag " + flag);
    } catch (const std::invalid_argument&) {
      usage(flag + ": not a number");
    }
  }
  if (o.corpus.empty() || o.output.empty()) usage("--corpus and --output are required");
  return o;
}

// "1Sm3:4 text" → book "1Sm".
std::string book_of(const std::string& reference) {
  std::size_t i = 0;
  while (i < reference.size() && std::isdigit(static_cast<unsigned char>(reference[i]))) ++i;
  while (i < reference.size() && std::isalpha(static_cast<unsigned char>(reference[i]))) ++i;
  return reference.substr(0, i);
}

std::string training_text(const Options& o, std::size_t& held_out_verses) {
  std::ifstream in(o.corpus);
  if (!in) usage("--corpus " + o.corpus.string() + ": cannot read");
  std::string text;
  std::string line;
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    if (space == std::string::npos) continue;
    if (o.holdout.count(book_of(line.substr(0, space)))) {
      ++held_out_verses;
      continue;
    }
    text += line.substr(space + 1) + "\n";
  }
  return text;
}

struct Weights {
  std::vector<std::pair<std::string, at::Tensor>> named;  // HF names, parameters (float32, requires_grad)
  std::map<std::string, at::Tensor> by_name;
  void add(const std::string& name, at::Tensor tensor) {
    tensor.set_requires_grad(true);
    named.emplace_back(name, tensor);
    by_name[name] = tensor;
  }
  const at::Tensor& operator[](const std::string& name) const { return by_name.at(name); }
};

at::Tensor rms(const at::Tensor& x, const at::Tensor& w) {
  return w * (x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-5));
}

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t half = x.size(-1) / 2;
  return x * cos + at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1) * sin;
}

// The Hugging Face Llama forward (same math as the llama adapter), batched: ids [B, S] → logits [B, S, V].
at::Tensor forward(const Weights& w, const Options& o, const at::Tensor& ids, const at::Tensor& cos,
                   const at::Tensor& sin, const at::Tensor& mask) {
  const std::int64_t b = ids.size(0), s = ids.size(1), d = o.hidden / o.heads;
  at::Tensor x = at::embedding(w["model.embed_tokens.weight"], ids);
  for (std::int64_t l = 0; l < o.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const at::Tensor n = rms(x, w[p + "input_layernorm.weight"]);
    at::Tensor q = at::linear(n, w[p + "self_attn.q_proj.weight"]).view({b, s, o.heads, d}).transpose(1, 2);
    at::Tensor k =
        at::linear(n, w[p + "self_attn.k_proj.weight"]).view({b, s, o.kv_heads, d}).transpose(1, 2);
    at::Tensor v =
        at::linear(n, w[p + "self_attn.v_proj.weight"]).view({b, s, o.kv_heads, d}).transpose(1, 2);
    q = rope(q, cos, sin);
    k = rope(k, cos, sin).repeat_interleave(o.heads / o.kv_heads, 1);
    v = v.repeat_interleave(o.heads / o.kv_heads, 1);
    const at::Tensor attn = at::softmax(at::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(d)) + mask, -1);
    x = x + at::linear(at::matmul(attn, v).transpose(1, 2).reshape({b, s, o.hidden}),
                       w[p + "self_attn.o_proj.weight"]);
    const at::Tensor m = rms(x, w[p + "post_attention_layernorm.weight"]);
    x = x + at::linear(at::silu(at::linear(m, w[p + "mlp.gate_proj.weight"])) *
                           at::linear(m, w[p + "mlp.up_proj.weight"]),
                       w[p + "mlp.down_proj.weight"]);
  }
  return at::linear(rms(x, w["model.norm.weight"]), w["lm_head.weight"]);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.hidden % o.heads != 0 || o.heads % o.kv_heads != 0)
    usage("hidden must divide by heads, heads by kv-heads");
  std::size_t held_out = 0;
  const std::string text = training_text(o, held_out);
  std::vector<std::int64_t> bytes(text.begin(), text.end());
  for (auto& byte : bytes) byte &= 0xff;
  const at::Tensor data = at::tensor(bytes, at::kLong);
  const std::int64_t vocab = 260;  // 256 bytes + <|endoftext|>, padded
  std::cout << "training text: " << text.size() << " bytes (" << held_out << " held-out verses excluded)\n";

  at::manual_seed(o.seed);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  const double init = 0.02;
  const double residual_init =
      init / std::sqrt(2.0 * o.layers);  // keeps the residual stream's scale at depth
  const std::int64_t d = o.hidden / o.heads;
  Weights w;
  w.add("model.embed_tokens.weight", at::normal(0, init, {vocab, o.hidden}, generator));
  for (std::int64_t l = 0; l < o.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w.add(p + "input_layernorm.weight", at::ones({o.hidden}));
    w.add(p + "self_attn.q_proj.weight", at::normal(0, init, {o.hidden, o.hidden}, generator));
    w.add(p + "self_attn.k_proj.weight", at::normal(0, init, {o.kv_heads * d, o.hidden}, generator));
    w.add(p + "self_attn.v_proj.weight", at::normal(0, init, {o.kv_heads * d, o.hidden}, generator));
    w.add(p + "self_attn.o_proj.weight", at::normal(0, residual_init, {o.hidden, o.hidden}, generator));
    w.add(p + "post_attention_layernorm.weight", at::ones({o.hidden}));
    w.add(p + "mlp.gate_proj.weight", at::normal(0, init, {o.intermediate, o.hidden}, generator));
    w.add(p + "mlp.up_proj.weight", at::normal(0, init, {o.intermediate, o.hidden}, generator));
    w.add(p + "mlp.down_proj.weight", at::normal(0, residual_init, {o.hidden, o.intermediate}, generator));
  }
  w.add("model.norm.weight", at::ones({o.hidden}));
  w.add("lm_head.weight", at::normal(0, init, {vocab, o.hidden}, generator));

  // Rotary tables and causal mask for the fixed training length.
  const at::Tensor inv_freq =
      1.0 / at::pow(10000.0, at::arange(0, d, 2, at::kLong).to(at::kFloat) / double(d));
  const at::Tensor freqs = at::outer(at::arange(o.seq, at::kLong).to(at::kFloat), inv_freq);
  const at::Tensor cos = at::cat({freqs, freqs}, -1).cos();
  const at::Tensor sin = at::cat({freqs, freqs}, -1).sin();
  const at::Tensor mask = at::full({o.seq, o.seq}, -INFINITY).triu(1);

  // AdamW with linear warmup and cosine decay.
  std::vector<at::Tensor> m, v;
  for (const auto& [name, p] : w.named) {
    m.push_back(at::zeros_like(p));
    v.push_back(at::zeros_like(p));
  }
  const double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
  const std::int64_t warmup = std::max<std::int64_t>(1, o.steps / 20);
  const auto start = std::chrono::steady_clock::now();
  double smoothed = 0.0;
  nlohmann::json log = nlohmann::json::array();
  for (std::int64_t step = 1; step <= o.steps; ++step) {
    const at::Tensor offsets = at::randint(data.size(0) - o.seq - 1, {o.batch}, generator, at::kLong);
    const at::Tensor index = offsets.unsqueeze(1) + at::arange(o.seq + 1, at::kLong).unsqueeze(0);
    const at::Tensor window = data.index_select(0, index.reshape({-1})).reshape({o.batch, o.seq + 1});
    const at::Tensor inputs = window.narrow(1, 0, o.seq);
    const at::Tensor targets = window.narrow(1, 1, o.seq);
    const at::Tensor logits = forward(w, o, inputs, cos, sin, mask);
    const at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, vocab}), targets.reshape({-1}));
    for (auto& [name, p] : w.named) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
    loss.backward();
    const double lr =
        step <= warmup ? o.lr * step / warmup
                       : o.lr * 0.5 * (1 + std::cos(M_PI * double(step - warmup) / double(o.steps - warmup)));
    {
      const at::NoGradGuard no_grad;
      for (std::size_t i = 0; i < w.named.size(); ++i) {
        at::Tensor& p = w.named[i].second;
        const at::Tensor g = p.grad();
        m[i].mul_(beta1).add_(g, 1 - beta1);
        v[i].mul_(beta2).addcmul_(g, g, 1 - beta2);
        const double bias1 = 1 - std::pow(beta1, step), bias2 = 1 - std::pow(beta2, step);
        if (p.dim() == 2) p.mul_(1 - lr * weight_decay);  // no decay on norm weights
        p.addcdiv_(m[i] / bias1, (v[i] / bias2).sqrt_().add_(eps), -lr);
      }
    }
    const double value = loss.item<double>();
    smoothed = step == 1 ? value : 0.95 * smoothed + 0.05 * value;
    if (step % 25 == 0 || step == o.steps) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::cout << "step " << step << "/" << o.steps << "  loss " << value << "  (smoothed " << smoothed
                << ", ppl " << std::exp(smoothed) << ")  lr " << lr << "  " << seconds << "s" << std::endl;
      log.push_back({{"step", step}, {"loss", value}, {"smoothed_loss", smoothed}, {"seconds", seconds}});
    }
  }

  const fs::path staging = o.output.string() + ".partial";
  fs::remove_all(staging);
  fs::create_directories(staging);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, p] : w.named) tensors.emplace_back(name, p.detach().contiguous());
  modelslim::save_safetensors(staging / "model.safetensors", tensors, {{"format", "pt"}});
  const nlohmann::json config = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", o.hidden},
      {"intermediate_size", o.intermediate},
      {"num_hidden_layers", o.layers},
      {"num_attention_heads", o.heads},
      {"num_key_value_heads", o.kv_heads},
      {"head_dim", d},
      {"vocab_size", vocab},
      {"max_position_embeddings", o.seq},  // positions beyond the training length were never seen
      {"rms_norm_eps", 1e-5},
      {"rope_theta", 10000.0},
      {"rope_scaling", nullptr},
      {"hidden_act", "silu"},
      {"tie_word_embeddings", false},
      {"bos_token_id", modelslim::tools::kEndOfText},
      {"eos_token_id", modelslim::tools::kEndOfText},
      {"torch_dtype", "float32"}};
  std::ofstream(staging / "config.json") << config.dump(2) << "\n";
  std::ofstream(staging / "generation_config.json")
      << nlohmann::json(
             {{"bos_token_id", modelslim::tools::kEndOfText}, {"eos_token_id", modelslim::tools::kEndOfText}})
             .dump(2)
      << "\n";
  modelslim::tools::write_byte_level_tokenizer(staging, vocab);
  std::vector<std::string> holdout(o.holdout.begin(), o.holdout.end());
  std::ofstream(staging / "train_log.json") << nlohmann::json({{"steps", o.steps},
                                                               {"seed", o.seed},
                                                               {"batch", o.batch},
                                                               {"seq", o.seq},
                                                               {"lr", o.lr},
                                                               {"holdout_books", holdout},
                                                               {"training_bytes", text.size()},
                                                               {"final_smoothed_loss", smoothed},
                                                               {"log", log}})
                                                   .dump(2)
                                            << "\n";
  fs::remove_all(o.output);
  fs::rename(staging, o.output);
  std::cout << "wrote " << o.output.string() << "\n";
  return 0;
}
