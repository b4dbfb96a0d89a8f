// FA3: int8 quantization of the attention inputs Q, K and V where the attention kernel reads them (since ABI
// 4.3). A block that can expose them also derives from the optional AttentionQuantSource (found by
// dynamic_cast); each attention module it holds keeps an AttentionQuantSlots: hooks a processor sets to
// observe or replace Q/K/V, and the quantization a processor decided, which savers write.
//
// Tensors at a hook are [batch, heads, seq, dim]:
//   MHA/GQA (llama family)  Q after RoPE [b, heads, s, head_dim]; K after RoPE and V [b, kv_heads, s,
//   head_dim]
//                           (before GQA repeats them)
//   MLA (deepseek, absorbed form)  Q = q_nope·W_uk per head [b, heads, s, kv_lora_rank]; K = V = the
//                           normalized latent [b, 1, s, kv_lora_rank] (K's result is what scores and values
//                           read; V's hook only observes, as in the reference)
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

enum class AttentionInput { kQuery = 0, kKey = 1, kValue = 2 };
inline constexpr std::size_t kAttentionInputs = 3;

// "fa_q", "fa_k", "fa_v": the reference's module names under the attention module (the saved tensors'
// prefix).
MODELSLIM_SDK_API const char* attention_input_name(AttentionInput input);

// Sees one attention input and returns what attention computes with (the input itself to only observe).
using AttentionInputHook = std::function<at::Tensor(const at::Tensor&)>;

// How one input is quantized (int8, symmetric).
struct AttentionInputQuant {
  bool dynamic = false;  // per token, scales computed at run time (nothing saved)
  at::Tensor scale;      // static per head: float32 [heads]
};

// The FA3 state of one attention module, owned by its block.
struct AttentionQuantSlots {
  std::array<AttentionInputHook, kAttentionInputs> hooks;  // empty: identity
  std::array<std::optional<AttentionInputQuant>, kAttentionInputs> quant;

  at::Tensor apply(AttentionInput input, const at::Tensor& x) const {
    const AttentionInputHook& hook = hooks[static_cast<std::size_t>(input)];
    return hook ? hook(x) : x;
  }
};

struct AttentionQuantPoint {
  std::string module;  // "model.layers.3.self_attn": include/exclude match it; tensors are saved under it
  AttentionQuantSlots* slots = nullptr;
  std::array<std::int64_t, kAttentionInputs> heads{};  // heads of Q, K, V at the hooks
  // The share of each head's values the calibration window keeps (the reference adapter's ratio).
  std::array<double, kAttentionInputs> recall_ratio{1.0, 1.0, 1.0};
  bool latent = false;  // MLA: K and V are the shared latent
  // MLA: the linear whose float weight the absorbed form reads (".../kv_b_proj"); it must stay float.
  std::string absorbed_linear;
};

class MODELSLIM_SDK_API AttentionQuantSource {
 public:
  virtual ~AttentionQuantSource();  // key function, defined in sdk/src (see export.hpp)
  virtual std::vector<AttentionQuantPoint> attention_quant_points() = 0;
};

// Per head of x [batch, heads, seq, dim]: the narrowest range [sorted[i], sorted[i + n − 1]] holding
// n = max(1, floor(ratio · N)) of the head's N sorted values (the first such i on ties). float32 [heads]
// each.
MODELSLIM_SDK_API std::pair<at::Tensor, at::Tensor> recall_window_per_head(const at::Tensor& x, double ratio);
// Symmetric int8 scale from a range: max(−min(lo, 0), max(hi, 0)) / 127, at least float32 epsilon.
MODELSLIM_SDK_API at::Tensor int8_symmetric_scale(const at::Tensor& lo, const at::Tensor& hi);
// clamp(round(x / s_h), −128, 127) · s_h with s_h = scale[h] for head h (dim 1 of x).
MODELSLIM_SDK_API at::Tensor fake_quant_int8_per_head(const at::Tensor& x, const at::Tensor& scale);
// The same with s = int8_symmetric_scale(min, max) of each row of the last dimension (one token of one head).
MODELSLIM_SDK_API at::Tensor fake_quant_int8_per_token(const at::Tensor& x);
// Sets each input's hook to its quantization's fake quantization (as deployed); inputs without one get no
// hook. The MLA V hook stays empty: V's quantization does not change the computation.
MODELSLIM_SDK_API void install_attention_quant(const AttentionQuantPoint& point);

}  // namespace modelslim
