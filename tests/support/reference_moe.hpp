// An independent float64 forward of the Hugging Face mixture-of-experts families, written from transformers'
// modeling code (Qwen3MoeForCausalLM, Qwen2MoeForCausalLM, MixtralForCausalLM), not from plugins/moe_adapter:
// one token at a time for the routing, plain loops for attention.
//   layer l: a = h + o(attn(rope(qnorm(q(n1(h)))), rope(knorm(k(n1(h)))), v(n1(h))))
//            h = a + mlp_l(n2(a))
//   mlp_l dense (Qwen: l in mlp_only_layers, or (l + 1) % decoder_sparse_step != 0): down(silu(gate)·up).
//   mlp_l sparse: p = softmax(router(y)) (here float64), the top_k experts by p (ties: lower index),
//   w = p[top] (/ sum when norm_topk_prob; Mixtral always), out = Σ w_i · expert_i(y);
//   Qwen2-MoE adds sigmoid(shared_expert_gate(y)) · shared_expert(y).
// Qwen3-MoE normalises each head of q and k with RMSNorm (q_norm, k_norm) before the rotation.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelslim::test {

// (module name, input float64 [T, in]) -> output float64 [T, out] (bias included when the module has one)
using MoeReferenceLinear = std::function<at::Tensor(const std::string& module, const at::Tensor& input)>;
// tensor name -> float64 tensor
using MoeReferenceTensor = std::function<at::Tensor(const std::string& name)>;

namespace moe_reference_detail {

inline at::Tensor rms(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return x / at::sqrt(x.pow(2).mean(-1, true) + eps) * weight;
}

inline bool sparse_layer(const nlohmann::json& config, std::int64_t layer) {
  const std::string type = config["model_type"];
  if (type == "mixtral") return true;
  const std::int64_t step = config.value("decoder_sparse_step", 1);
  const std::vector<std::int64_t> dense = config.value("mlp_only_layers", std::vector<std::int64_t>{});
  const bool listed = std::find(dense.begin(), dense.end(), layer) != dense.end();
  return !listed && (layer + 1) % step == 0;
}

inline at::Tensor swiglu(const MoeReferenceLinear& linear, const std::string& prefix, const at::Tensor& y,
                         bool mixtral) {
  const at::Tensor gate = linear(prefix + (mixtral ? "w1" : "gate_proj"), y);
  const at::Tensor up = linear(prefix + (mixtral ? "w3" : "up_proj"), y);
  return linear(prefix + (mixtral ? "w2" : "down_proj"), gate * (1.0 / (1.0 + at::exp(-gate))) * up);
}

inline at::Tensor sparse_mlp(const nlohmann::json& config, const MoeReferenceLinear& linear,
                             const std::string& layer_prefix, const at::Tensor& y) {
  const std::string type = config["model_type"];
  const bool mixtral = type == "mixtral";
  const std::string moe = layer_prefix + (mixtral ? "block_sparse_moe." : "mlp.");
  const std::int64_t experts = config[mixtral ? "num_local_experts" : "num_experts"];
  const std::int64_t top_k = config["num_experts_per_tok"];
  const bool renormalise = mixtral || config.value("norm_topk_prob", false);
  const at::Tensor logits = linear(moe + "gate", y);  // [T, experts]
  at::Tensor out = at::zeros_like(y);
  for (std::int64_t t = 0; t < y.size(0); ++t) {
    std::vector<double> p(static_cast<std::size_t>(experts));
    double total = 0;
    const double top = logits[t].max().item<double>();
    for (std::int64_t e = 0; e < experts; ++e) total += p[e] = std::exp(logits[t][e].item<double>() - top);
    for (double& value : p) value /= total;
    std::vector<std::int64_t> order(static_cast<std::size_t>(experts));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return p[a] > p[b]; });
    double chosen = 0;
    for (std::int64_t i = 0; i < top_k; ++i) chosen += p[order[i]];
    const at::Tensor row = y.narrow(0, t, 1);
    for (std::int64_t i = 0; i < top_k; ++i) {
      const std::int64_t e = order[i];
      const double weight = renormalise ? p[e] / chosen : p[e];
      out[t] += weight * swiglu(linear, moe + "experts." + std::to_string(e) + ".", row, mixtral)[0];
    }
  }
  if (config.contains("shared_expert_intermediate_size")) {
    const at::Tensor g = linear(moe + "shared_expert_gate", y);
    out = out + (1.0 / (1.0 + at::exp(-g))) * swiglu(linear, moe + "shared_expert.", y, false);
  }
  return out;
}

}  // namespace moe_reference_detail

// Logits [T, vocab] in float64 for one sequence. `config` is the model's config.json.
inline at::Tensor reference_moe_logits(const nlohmann::json& config, const std::vector<std::int64_t>& ids,
                                       const MoeReferenceTensor& tensor, const MoeReferenceLinear& linear) {
  using namespace moe_reference_detail;
  const std::string type = config["model_type"];
  const std::int64_t hidden = config["hidden_size"];
  const std::int64_t heads = config["num_attention_heads"];
  const std::int64_t kv_heads = config.value("num_key_value_heads", heads);
  const std::int64_t head_dim = config.value("head_dim", hidden / heads);
  const std::int64_t layers = config["num_hidden_layers"];
  const double eps = config.value("rms_norm_eps", 1e-6);
  const double theta = config.value("rope_theta", 10000.0);
  const std::int64_t window =
      type == "mixtral" && config.contains("sliding_window") && !config["sliding_window"].is_null()
          ? config["sliding_window"].get<std::int64_t>()
          : 0;
  const auto T = static_cast<std::int64_t>(ids.size());
  const std::int64_t half = head_dim / 2;
  // rotate(x)[t] for one [T, head_dim] head: x·cos + rotate_half(x)·sin, angles in float64.
  const auto rope = [&](const at::Tensor& x) {
    at::Tensor out = at::empty_like(x);
    for (std::int64_t t = 0; t < T; ++t) {
      for (std::int64_t i = 0; i < half; ++i) {
        const double angle = double(t) / std::pow(theta, double(2 * i) / double(head_dim));
        const double a = x[t][i].item<double>(), b = x[t][i + half].item<double>();
        out[t][i] = a * std::cos(angle) - b * std::sin(angle);
        out[t][i + half] = b * std::cos(angle) + a * std::sin(angle);
      }
    }
    return out;
  };

  at::Tensor h = tensor("model.embed_tokens.weight").index_select(0, at::tensor(ids, at::kLong));
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const at::Tensor x = rms(h, tensor(p + "input_layernorm.weight"), eps);
    const at::Tensor q = linear(p + "self_attn.q_proj", x);
    const at::Tensor k = linear(p + "self_attn.k_proj", x);
    const at::Tensor v = linear(p + "self_attn.v_proj", x);
    std::vector<at::Tensor> outputs;
    for (std::int64_t head = 0; head < heads; ++head) {
      const std::int64_t kv = head / (heads / kv_heads);
      at::Tensor qh = q.narrow(1, head * head_dim, head_dim);
      at::Tensor kh = k.narrow(1, kv * head_dim, head_dim);
      if (type == "qwen3_moe") {
        qh = rms(qh, tensor(p + "self_attn.q_norm.weight"), eps);
        kh = rms(kh, tensor(p + "self_attn.k_norm.weight"), eps);
      }
      qh = rope(qh);
      kh = rope(kh);
      at::Tensor scores = at::matmul(qh, kh.t()) / std::sqrt(double(head_dim));
      for (std::int64_t i = 0; i < T; ++i) {
        for (std::int64_t j = 0; j < T; ++j) {
          if (j > i || (window > 0 && i - j >= window))
            scores[i][j] = -std::numeric_limits<double>::infinity();
        }
      }
      outputs.push_back(at::matmul(at::softmax(scores, -1), v.narrow(1, kv * head_dim, head_dim)));
    }
    h = h + linear(p + "self_attn.o_proj", at::cat(outputs, -1));
    const at::Tensor y = rms(h, tensor(p + "post_attention_layernorm.weight"), eps);
    h = h +
        (sparse_layer(config, l) ? sparse_mlp(config, linear, p, y) : swiglu(linear, p + "mlp.", y, false));
  }
  const bool tied = config.value("tie_word_embeddings", false);
  const at::Tensor head = tensor(tied ? "model.embed_tokens.weight" : "lm_head.weight");
  return at::matmul(rms(h, tensor("model.norm.weight"), eps), head.t());
}

}  // namespace modelslim::test
