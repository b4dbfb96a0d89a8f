// FA3 on multi-head latent attention, where the reference's DeepSeek adapter places it: the absorbed form
// (scores q_nope·k_nopeᵀ = (q_nope·W_uk)·latentᵀ per head, values softmax·latent·W_uvᵀ), Q = q_nope·W_uk
// [b, heads, s, kv_lora_rank] and K = V = the normalized latent [b, 1, s, kv_lora_rank]. K's result is what
// scores and values read (the int8 latent cache vllm-ascend's FAKQuant keeps); V's hook sees it and only
// observes, as the reference's fa_v.
#include <ATen/ATen.h>

#include "deepseek_block.hpp"
#include "modelslim/error.hpp"

namespace modelslim::deepseek {

std::vector<AttentionQuantPoint> DeepseekBlock::attention_quant_points() {
  AttentionQuantPoint point;
  point.module = name_ + ".self_attn";
  point.slots = &attention_quant_;
  point.heads = {config_.num_heads, 1, 1};
  point.recall_ratio = {0.9999, 0.9999, 1.0};  // the reference adapter's FA3QuantPlaceHolder ratios
  point.latent = true;
  point.absorbed_linear = linears_[layout_.kv_b_proj].name();
  return {point};
}

bool DeepseekBlock::fa3_active() const {
  for (const auto& hook : attention_quant_.hooks) {
    if (hook) return true;
  }
  return false;
}

at::Tensor DeepseekBlock::attention_absorbed(const at::Tensor& q_nope, const at::Tensor& q_rope,
                                             const at::Tensor& latent, const at::Tensor& k_rope,
                                             const at::Tensor& mask) {
  const Linear& kv_b = at(layout_.kv_b_proj);
  if (kv_b.quantized() || kv_b.compute() || kv_b.bias()) {
    throw Error(ErrorCode::kUnsupported,
                kv_b.name() +
                    ": FA3 on MLA absorbs kv_b_proj's float weight into the queries and outputs; "
                    "it is quantized (or has a bias)",
                "exclude \"*kv_b_proj\" from linear_quant, as the reference's DeepSeek FA3 practices do");
  }
  const std::int64_t batch = q_nope.size(0);
  const std::int64_t heads = config_.num_heads;
  const std::int64_t nope = config_.qk_nope_head_dim;
  const std::int64_t seq = q_nope.size(2);
  const at::Tensor w = kv_b.weight().view({heads, nope + config_.v_head_dim, config_.kv_lora_rank});
  const at::Tensor w_uk = w.narrow(1, 0, nope);                   // [heads, nope, lora]
  const at::Tensor w_uv = w.narrow(1, nope, config_.v_head_dim);  // [heads, v, lora]
  const AttentionQuantSlots& fa = attention_quant_;
  const at::Tensor q = fa.apply(AttentionInput::kQuery, at::matmul(q_nope, w_uk));
  const at::Tensor k = fa.apply(AttentionInput::kKey, latent.unsqueeze(1));
  fa.apply(AttentionInput::kValue, k);
  const at::Tensor scores =
      (at::matmul(q_rope, k_rope.transpose(-1, -2)) + at::matmul(q, k.transpose(-1, -2))) *
          softmax_scale(config_) +
      mask;
  const at::Tensor output = at::matmul(at::matmul(at::softmax(scores, -1), k), w_uv.transpose(-1, -2));
  return at(layout_.o_proj).forward(output.transpose(1, 2).reshape({batch, seq, heads * config_.v_head_dim}));
}

}  // namespace modelslim::deepseek
