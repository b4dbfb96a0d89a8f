// An independent float64 Llama-family forward for tests, written from the Hugging Face transformers
// semantics (LlamaForCausalLM / MistralForCausalLM), not from plugins/llama_adapter:
//   h = embed[ids]; per layer: a = h + o(attn(rope(q(n1(h))), rope(k(n1(h))), v(n1(h))));
//   h = a + down(silu(gate(n2(a))) * up(n2(a))); logits = lm_head(norm(h)).
// RMSNorm n(x) = x / sqrt(mean(x²) + eps) · w. Rotary: default type, rotate_half convention, inv_freq_i =
// theta^(−2i/d). Attention: token i sees j ≤ i, and with a sliding window W only i − j < W (W tokens,
// itself included). Grouped-query heads: query head h reads kv head h / (heads / kv_heads).
// Every linear goes through a callback, so a test can plug in the float weights or its own decoding of a
// saved quantized artifact.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelslim::test {

// (module name, input float64 [T, in]) -> output float64 [T, out]
using ReferenceLinear = std::function<at::Tensor(const std::string& module, const at::Tensor& input)>;
// tensor name -> float64 tensor (norms, embedding, lm_head)
using ReferenceTensor = std::function<at::Tensor(const std::string& name)>;
// (layer, keys after RoPE, values), each float64 [kv_heads, T, head_dim]: what the KV cache stores; a test
// may observe them or replace them (an int8 KV cache).
using ReferenceKv = std::function<void(std::int64_t layer, at::Tensor& keys, at::Tensor& values)>;

namespace reference_detail {

inline at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return x / at::sqrt(x.pow(2).mean(-1, true) + eps) * weight;
}

inline at::Tensor rotate_half(const at::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

}  // namespace reference_detail

// Logits [T, vocab] in float64 for one sequence. `config` is the model's config.json.
inline at::Tensor reference_llama_logits(const nlohmann::json& config, const std::vector<std::int64_t>& ids,
                                         const ReferenceTensor& tensor, const ReferenceLinear& linear,
                                         const ReferenceKv& kv_cache = {}) {
  using namespace reference_detail;
  if (config.contains("rope_scaling") && !config["rope_scaling"].is_null())
    throw std::runtime_error("reference_llama_logits: rope_scaling is not implemented");
  const std::int64_t hidden = config["hidden_size"];
  const std::int64_t heads = config["num_attention_heads"];
  const std::int64_t kv_heads = config.value("num_key_value_heads", heads);
  const std::int64_t head_dim = config.value("head_dim", hidden / heads);
  const std::int64_t layers = config["num_hidden_layers"];
  const double eps = config.value("rms_norm_eps", 1e-6);
  const double theta = config.value("rope_theta", 10000.0);
  const bool sliding = config.value("use_sliding_window", config.value("model_type", "") == "mistral");
  const std::int64_t window =
      sliding && config.contains("sliding_window") && !config["sliding_window"].is_null()
          ? config["sliding_window"].get<std::int64_t>()
          : 0;
  const auto T = static_cast<std::int64_t>(ids.size());

  // Rotary tables [T, head_dim], each angle computed in float64.
  at::Tensor cos = at::empty({T, head_dim}, at::kDouble);
  at::Tensor sin = at::empty({T, head_dim}, at::kDouble);
  auto c = cos.accessor<double, 2>();
  auto s = sin.accessor<double, 2>();
  for (std::int64_t t = 0; t < T; ++t) {
    for (std::int64_t i = 0; i < head_dim / 2; ++i) {
      const double angle = double(t) / std::pow(theta, double(2 * i) / double(head_dim));
      c[t][i] = c[t][i + head_dim / 2] = std::cos(angle);
      s[t][i] = s[t][i + head_dim / 2] = std::sin(angle);
    }
  }
  at::Tensor mask = at::zeros({T, T}, at::kDouble);
  auto m = mask.accessor<double, 2>();
  for (std::int64_t i = 0; i < T; ++i) {
    for (std::int64_t j = 0; j < T; ++j) {
      if (j > i || (window > 0 && i - j >= window)) m[i][j] = -std::numeric_limits<double>::infinity();
    }
  }

  at::Tensor h = tensor("model.embed_tokens.weight").index_select(0, at::tensor(ids, at::kLong));
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const at::Tensor x = rms_norm(h, tensor(p + "input_layernorm.weight"), eps);
    // [heads, T, head_dim]
    const auto split = [&](const at::Tensor& y, std::int64_t n) {
      return y.reshape({T, n, head_dim}).permute({1, 0, 2});
    };
    const auto rope = [&](const at::Tensor& y) { return y * cos + rotate_half(y) * sin; };
    const at::Tensor q = rope(split(linear(p + "self_attn.q_proj", x), heads));
    at::Tensor k = rope(split(linear(p + "self_attn.k_proj", x), kv_heads));
    at::Tensor v = split(linear(p + "self_attn.v_proj", x), kv_heads);
    if (kv_cache) kv_cache(l, k, v);
    std::vector<at::Tensor> outputs;
    for (std::int64_t head = 0; head < heads; ++head) {
      const std::int64_t kv = head / (heads / kv_heads);
      const at::Tensor scores = at::matmul(q[head], k[kv].t()) / std::sqrt(double(head_dim)) + mask;
      outputs.push_back(at::matmul(at::softmax(scores, -1), v[kv]));
    }
    const at::Tensor attention = at::cat(outputs, -1);  // [T, heads·head_dim], head-major
    h = h + linear(p + "self_attn.o_proj", attention);
    const at::Tensor y = rms_norm(h, tensor(p + "post_attention_layernorm.weight"), eps);
    const at::Tensor gate = linear(p + "mlp.gate_proj", y);
    h = h + linear(p + "mlp.down_proj", gate * at::sigmoid(gate) * linear(p + "mlp.up_proj", y));
  }
  const bool tied = config.value("tie_word_embeddings", false);
  const at::Tensor head = tensor(tied ? "model.embed_tokens.weight" : "lm_head.weight");
  return at::matmul(rms_norm(h, tensor("model.norm.weight"), eps), head.t());
}

}  // namespace modelslim::test
