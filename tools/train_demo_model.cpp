// train_demo_model: trains a small byte-level language model on a text corpus (the King James Bible in this
// project) with LibTorch autograd on the CPU, deterministically, and writes it in Hugging Face layout
// (config.json, model.safetensors, tokenizer.json, generation_config.json, train_log.json). The model is a
// Llama by default; with --experts N it is a Qwen3-MoE (q/k norms, every MLP a sparse block of N experts
// with top --top-k routing, norm_topk_prob true, load-balancing loss weighted by --aux-coef).
//
//   train_demo_model --corpus FILE --output DIR [--steps 600] [--seed 1234] [--hidden 192] [--layers 4]
//                    [--heads 6] [--kv-heads 2] [--intermediate 512] [--seq 128] [--batch 16] [--lr 3e-3]
//                    [--holdout Prv,Lam,2Tim] [--experts 0] [--top-k 2] [--moe-intermediate 128]
//                    [--aux-coef 0.001]
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
#include "common/generated_dir.hpp"
#include "common/sparse_moe_block.hpp"
#include "modelslim/atomic_file.hpp"
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
  std::int64_t experts = 0, top_k = 2, moe_intermediate = 128;  // experts 0: dense Llama
  double aux_coef = 0.001;
  bool moe() const { return experts > 0; }
  double rms_eps() const { return moe() ? 1e-6 : 1e-5; }  // each family's transformers default
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
      else if (flag == "--experts")
        o.experts = std::stoll(value);
      else if (flag == "--top-k")
        o.top_k = std::stoll(value);
      else if (flag == "--moe-intermediate")
        o.moe_intermediate = std::stoll(value);
      else if (flag == "--aux-coef")
        o.aux_coef = std::stod(value);
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
  if (o.hidden % o.heads != 0 || o.heads % o.kv_heads != 0)
    usage("hidden must divide by heads, heads by kv-heads");
  if (o.moe() && (o.top_k < 1 || o.top_k > o.experts)) usage("--top-k must be in 1..--experts");
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

at::Tensor rms(const at::Tensor& x, const at::Tensor& w, double eps) {
  return w * (x * at::rsqrt(x.pow(2).mean(-1, true) + eps));
}

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t half = x.size(-1) / 2;
  return x * cos + at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1) * sin;
}

// Attention of one layer on the normed input n [B, S, H]; Qwen3 RMS-normalises each head of q and k before
// RoPE.
at::Tensor attention(const Weights& w, const Options& o, const std::string& p, const at::Tensor& n,
                     const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask) {
  const std::int64_t b = n.size(0), s = n.size(1), d = o.hidden / o.heads;
  at::Tensor q = at::linear(n, w[p + "self_attn.q_proj.weight"]).view({b, s, o.heads, d});
  at::Tensor k = at::linear(n, w[p + "self_attn.k_proj.weight"]).view({b, s, o.kv_heads, d});
  at::Tensor v = at::linear(n, w[p + "self_attn.v_proj.weight"]).view({b, s, o.kv_heads, d}).transpose(1, 2);
  if (o.moe()) {
    q = rms(q, w[p + "self_attn.q_norm.weight"], o.rms_eps());
    k = rms(k, w[p + "self_attn.k_norm.weight"], o.rms_eps());
  }
  q = rope(q.transpose(1, 2), cos, sin);
  k = rope(k.transpose(1, 2), cos, sin).repeat_interleave(o.heads / o.kv_heads, 1);
  v = v.repeat_interleave(o.heads / o.kv_heads, 1);
  const at::Tensor attn = at::softmax(at::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(d)) + mask, -1);
  return at::linear(at::matmul(attn, v).transpose(1, 2).reshape({b, s, o.hidden}),
                    w[p + "self_attn.o_proj.weight"]);
}

// The MLP of one layer: SwiGLU (Llama) or the Qwen3-MoE sparse block, whose router logits go to `routed`.
struct Routed {
  std::vector<at::Tensor> router_logits;  // per layer, [B·S, E]
  at::Tensor tokens_per_expert;           // [L, E], int64: how many tokens each expert of each layer ran on
};

at::Tensor mlp(const Weights& w, const Options& o, std::int64_t layer, const at::Tensor& m, Routed& routed) {
  const std::string p = "model.layers." + std::to_string(layer) + ".mlp.";
  if (!o.moe())
    return at::linear(
        at::silu(at::linear(m, w[p + "gate_proj.weight"])) * at::linear(m, w[p + "up_proj.weight"]),
        w[p + "down_proj.weight"]);
  std::vector<modelslim::tools::ExpertWeights> experts;
  for (std::int64_t e = 0; e < o.experts; ++e) {
    const std::string q = p + "experts." + std::to_string(e) + ".";
    experts.push_back({w[q + "gate_proj.weight"], w[q + "up_proj.weight"], w[q + "down_proj.weight"]});
  }
  const at::Tensor flat = m.reshape({-1, o.hidden});
  return modelslim::tools::sparse_moe_block(flat, w[p + "gate.weight"], experts, o.top_k,
                                            /*norm_topk_prob=*/true, routed.router_logits,
                                            routed.tokens_per_expert[layer])
      .view(m.sizes());
}

// The Hugging Face Llama / Qwen3-MoE forward, batched: ids [B, S] → logits [B, S, V].
at::Tensor forward(const Weights& w, const Options& o, const at::Tensor& ids, const at::Tensor& cos,
                   const at::Tensor& sin, const at::Tensor& mask, Routed& routed) {
  at::Tensor x = at::embedding(w["model.embed_tokens.weight"], ids);
  for (std::int64_t l = 0; l < o.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    x = x + attention(w, o, p, rms(x, w[p + "input_layernorm.weight"], o.rms_eps()), cos, sin, mask);
    x = x + mlp(w, o, l, rms(x, w[p + "post_attention_layernorm.weight"], o.rms_eps()), routed);
  }
  return at::linear(rms(x, w["model.norm.weight"], o.rms_eps()), w["lm_head.weight"]);
}

Weights initial_weights(const Options& o, std::int64_t vocab, at::Generator& generator) {
  const double init = 0.02;
  const double residual_init =
      init / std::sqrt(2.0 * o.layers);  // keeps the residual stream's scale at depth
  const std::int64_t d = o.hidden / o.heads;
  Weights w;
  w.add("model.embed_tokens.weight", at::normal(0, init, {vocab, o.hidden}, generator));
  const auto swiglu = [&](const std::string& p, std::int64_t intermediate) {
    w.add(p + "gate_proj.weight", at::normal(0, init, {intermediate, o.hidden}, generator));
    w.add(p + "up_proj.weight", at::normal(0, init, {intermediate, o.hidden}, generator));
    w.add(p + "down_proj.weight", at::normal(0, residual_init, {o.hidden, intermediate}, generator));
  };
  for (std::int64_t l = 0; l < o.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w.add(p + "input_layernorm.weight", at::ones({o.hidden}));
    w.add(p + "self_attn.q_proj.weight", at::normal(0, init, {o.hidden, o.hidden}, generator));
    w.add(p + "self_attn.k_proj.weight", at::normal(0, init, {o.kv_heads * d, o.hidden}, generator));
    w.add(p + "self_attn.v_proj.weight", at::normal(0, init, {o.kv_heads * d, o.hidden}, generator));
    w.add(p + "self_attn.o_proj.weight", at::normal(0, residual_init, {o.hidden, o.hidden}, generator));
    if (o.moe()) {
      w.add(p + "self_attn.q_norm.weight", at::ones({d}));
      w.add(p + "self_attn.k_norm.weight", at::ones({d}));
    }
    w.add(p + "post_attention_layernorm.weight", at::ones({o.hidden}));
    if (!o.moe()) {
      swiglu(p + "mlp.", o.intermediate);
      continue;
    }
    w.add(p + "mlp.gate.weight", at::normal(0, init, {o.experts, o.hidden}, generator));
    for (std::int64_t e = 0; e < o.experts; ++e)
      swiglu(p + "mlp.experts." + std::to_string(e) + ".", o.moe_intermediate);
  }
  w.add("model.norm.weight", at::ones({o.hidden}));
  w.add("lm_head.weight", at::normal(0, init, {vocab, o.hidden}, generator));
  return w;
}

nlohmann::json llama_config(const Options& o, std::int64_t vocab) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", o.hidden},
          {"intermediate_size", o.intermediate},
          {"num_hidden_layers", o.layers},
          {"num_attention_heads", o.heads},
          {"num_key_value_heads", o.kv_heads},
          {"head_dim", o.hidden / o.heads},
          {"vocab_size", vocab},
          {"max_position_embeddings", o.seq},  // positions beyond the training length were never seen
          {"rms_norm_eps", o.rms_eps()},
          {"rope_theta", 10000.0},
          {"rope_scaling", nullptr},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", false},
          {"bos_token_id", modelslim::tools::kEndOfText},
          {"eos_token_id", modelslim::tools::kEndOfText},
          {"torch_dtype", "float32"}};
}

// Keys as transformers' Qwen3MoeConfig names them; every layer sparse (decoder_sparse_step 1, no
// mlp_only_layers).
nlohmann::json qwen3_moe_config(const Options& o, std::int64_t vocab) {
  nlohmann::json config = llama_config(o, vocab);
  config["architectures"] = {"Qwen3MoeForCausalLM"};
  config["model_type"] = "qwen3_moe";
  config.update({{"attention_bias", false},
                 {"attention_dropout", 0.0},
                 {"use_sliding_window", false},
                 {"sliding_window", nullptr},
                 {"max_window_layers", o.layers},
                 {"initializer_range", 0.02},
                 {"use_cache", true},
                 {"decoder_sparse_step", 1},
                 {"moe_intermediate_size", o.moe_intermediate},
                 {"num_experts_per_tok", o.top_k},
                 {"num_experts", o.experts},
                 {"norm_topk_prob", true},
                 {"output_router_logits", false},
                 {"router_aux_loss_coef", o.aux_coef},
                 {"mlp_only_layers", nlohmann::json::array()}});
  return config;
}

// AdamW with linear warmup and cosine decay; no decay on norm weights.
class AdamW {
 public:
  AdamW(Weights& w, const Options& o) : w_(w), o_(o), warmup_(std::max<std::int64_t>(1, o.steps / 20)) {
    for (const auto& [name, p] : w.named) {
      m_.push_back(at::zeros_like(p));
      v_.push_back(at::zeros_like(p));
    }
  }
  double lr(std::int64_t step) const {
    return step <= warmup_
               ? o_.lr * step / warmup_
               : o_.lr * 0.5 * (1 + std::cos(M_PI * double(step - warmup_) / double(o_.steps - warmup_)));
  }
  void step(std::int64_t step) {
    const at::NoGradGuard no_grad;
    const double rate = lr(step), bias1 = 1 - std::pow(kBeta1, step), bias2 = 1 - std::pow(kBeta2, step);
    for (std::size_t i = 0; i < w_.named.size(); ++i) {
      at::Tensor& p = w_.named[i].second;
      const at::Tensor g = p.grad();
      m_[i].mul_(kBeta1).add_(g, 1 - kBeta1);
      v_[i].mul_(kBeta2).addcmul_(g, g, 1 - kBeta2);
      if (p.dim() == 2) p.mul_(1 - rate * kWeightDecay);
      p.addcdiv_(m_[i] / bias1, (v_[i] / bias2).sqrt_().add_(kEps), -rate);
    }
  }

 private:
  static constexpr double kBeta1 = 0.9, kBeta2 = 0.95, kEps = 1e-8, kWeightDecay = 0.1;
  Weights& w_;
  const Options& o_;
  std::int64_t warmup_;
  std::vector<at::Tensor> m_, v_;
};

// Rotary tables and causal mask for the fixed training length.
struct Positions {
  at::Tensor cos, sin, mask;
};

Positions positions(const Options& o) {
  const std::int64_t d = o.hidden / o.heads;
  const at::Tensor inv_freq =
      1.0 / at::pow(10000.0, at::arange(0, d, 2, at::kLong).to(at::kFloat) / double(d));
  const at::Tensor freqs = at::outer(at::arange(o.seq, at::kLong).to(at::kFloat), inv_freq);
  return {at::cat({freqs, freqs}, -1).cos(), at::cat({freqs, freqs}, -1).sin(),
          at::full({o.seq, o.seq}, -INFINITY).triu(1)};
}

struct Trained {
  double smoothed_loss = 0.0, seconds = 0.0;
  nlohmann::json log = nlohmann::json::array();
  at::Tensor last_tokens_per_expert;  // [L, E] of the last step (MoE only)
};

Trained train(Weights& w, const Options& o, const at::Tensor& data, std::int64_t vocab,
              at::Generator& generator) {
  const Positions pos = positions(o);
  AdamW optimizer(w, o);
  const auto start = std::chrono::steady_clock::now();
  Trained t;
  for (std::int64_t step = 1; step <= o.steps; ++step) {
    const at::Tensor offsets = at::randint(data.size(0) - o.seq - 1, {o.batch}, generator, at::kLong);
    const at::Tensor index = offsets.unsqueeze(1) + at::arange(o.seq + 1, at::kLong).unsqueeze(0);
    const at::Tensor window = data.index_select(0, index.reshape({-1})).reshape({o.batch, o.seq + 1});
    Routed routed{{}, at::zeros({o.layers, std::max<std::int64_t>(o.experts, 1)}, at::kLong)};
    const at::Tensor logits = forward(w, o, window.narrow(1, 0, o.seq), pos.cos, pos.sin, pos.mask, routed);
    const at::Tensor lm_loss =
        at::cross_entropy_loss(logits.reshape({-1, vocab}), window.narrow(1, 1, o.seq).reshape({-1}));
    at::Tensor loss = lm_loss;
    double aux = 0.0;
    if (o.moe()) {
      const at::Tensor balance =
          modelslim::tools::load_balancing_loss(routed.router_logits, o.experts, o.top_k);
      aux = balance.item<double>();
      loss = lm_loss + o.aux_coef * balance;
    }
    for (auto& [name, p] : w.named) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
    loss.backward();
    optimizer.step(step);
    const double value = lm_loss.item<double>();
    t.smoothed_loss = step == 1 ? value : 0.95 * t.smoothed_loss + 0.05 * value;
    t.last_tokens_per_expert = routed.tokens_per_expert;
    if (step % 25 == 0 || step == o.steps) {
      t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::cout << "step " << step << "/" << o.steps << "  loss " << value << "  (smoothed "
                << t.smoothed_loss << ", ppl " << std::exp(t.smoothed_loss) << ")  lr " << optimizer.lr(step);
      if (o.moe()) std::cout << "  balance " << aux;
      std::cout << "  " << t.seconds << "s" << std::endl;
      nlohmann::json entry = {
          {"step", step}, {"loss", value}, {"smoothed_loss", t.smoothed_loss}, {"seconds", t.seconds}};
      if (o.moe()) entry["load_balancing_loss"] = aux;
      t.log.push_back(entry);
    }
  }
  return t;
}

void write_model(const Weights& w, const Options& o, std::int64_t vocab, const Trained& t,
                 std::size_t training_bytes, modelslim::tools::GeneratedDir& output) {
  const fs::path& staging = output.staging();
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, p] : w.named) tensors.emplace_back(name, p.detach().contiguous());
  modelslim::save_safetensors(staging / "model.safetensors", tensors, {{"format", "pt"}});
  const nlohmann::json config = o.moe() ? qwen3_moe_config(o, vocab) : llama_config(o, vocab);
  modelslim::write_file_atomic(staging / "config.json", config.dump(2) + "\n");
  const nlohmann::json generation = {{"bos_token_id", modelslim::tools::kEndOfText},
                                     {"eos_token_id", modelslim::tools::kEndOfText}};
  modelslim::write_file_atomic(staging / "generation_config.json", generation.dump(2) + "\n");
  modelslim::tools::write_byte_level_tokenizer(staging, vocab);
  nlohmann::json log = {{"steps", o.steps},
                        {"seed", o.seed},
                        {"batch", o.batch},
                        {"seq", o.seq},
                        {"lr", o.lr},
                        {"holdout_books", std::vector<std::string>(o.holdout.begin(), o.holdout.end())},
                        {"training_bytes", training_bytes},
                        {"final_smoothed_loss", t.smoothed_loss},
                        {"training_seconds", t.seconds},
                        {"log", t.log}};
  if (o.moe()) {
    log["aux_coef"] = o.aux_coef;
    std::vector<std::vector<std::int64_t>> counts;
    for (std::int64_t l = 0; l < o.layers; ++l) {
      const at::Tensor row = t.last_tokens_per_expert[l].contiguous();
      counts.emplace_back(row.data_ptr<std::int64_t>(), row.data_ptr<std::int64_t>() + row.numel());
    }
    log["last_step_tokens_per_expert"] = counts;
  }
  modelslim::write_file_atomic(staging / "train_log.json", log.dump(2) + "\n");
  output.commit();
  std::cout << "wrote " << o.output.string() << "\n";
}

}  // namespace

namespace {

int run(const Options& o) {
  std::size_t held_out = 0;
  const std::string text = training_text(o, held_out);
  // Checked before training, not after: refuses an --output that is the user's.
  modelslim::tools::GeneratedDir output(o.output, "train_demo_model", {{"--corpus", o.corpus}});
  std::vector<std::int64_t> bytes(text.begin(), text.end());
  for (auto& byte : bytes) byte &= 0xff;
  const at::Tensor data = at::tensor(bytes, at::kLong);
  const std::int64_t vocab = 260;  // 256 bytes + <|endoftext|>, padded
  std::cout << "training text: " << text.size() << " bytes (" << held_out << " held-out verses excluded)\n";

  at::manual_seed(o.seed);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  Weights w = initial_weights(o, vocab, generator);
  const Trained trained = train(w, o, data, vocab, generator);
  write_model(w, o, vocab, trained, text.size(), output);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    return run(o);
  } catch (const std::exception& error) {
    std::cerr << "train_demo_model: " << error.what() << "\n";
    return 1;
  }
}
