#include "modelslim/attention_quant.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>

#include "modelslim/error.hpp"

namespace modelslim {

AttentionQuantSource::~AttentionQuantSource() = default;

const char* attention_input_name(AttentionInput input) {
  switch (input) {
    case AttentionInput::kQuery:
      return "fa_q";
    case AttentionInput::kKey:
      return "fa_k";
    case AttentionInput::kValue:
      return "fa_v";
  }
  return "fa_?";
}

std::pair<at::Tensor, at::Tensor> recall_window_per_head(const at::Tensor& x, double ratio) {
  if (x.dim() != 4) {
    throw Error(ErrorCode::kUnexpected,
                "recall_window_per_head: expected [batch, heads, seq, dim], got " + std::to_string(x.dim()) +
                    " dimensions",
                "pass the attention input as the hook receives it");
  }
  const at::Tensor rows = x.to(at::kFloat).transpose(0, 1).reshape({x.size(1), -1});
  const std::int64_t total = rows.size(1);
  const std::int64_t kept =
      std::clamp<std::int64_t>(static_cast<std::int64_t>(ratio * static_cast<double>(total)), 1, total);
  const at::Tensor sorted = std::get<0>(rows.sort(1));
  const std::int64_t starts = total - kept + 1;
  const at::Tensor lo = sorted.narrow(1, 0, starts);
  const at::Tensor hi = sorted.narrow(1, kept - 1, starts);
  const at::Tensor best = (hi - lo).argmin(1, true);  // the first narrowest window
  return {lo.gather(1, best).squeeze(1), hi.gather(1, best).squeeze(1)};
}

at::Tensor int8_symmetric_scale(const at::Tensor& lo, const at::Tensor& hi) {
  const at::Tensor bound = at::maximum(-lo.clamp_max(0.0), hi.clamp_min(0.0));
  return (bound / 127.0).clamp_min(std::numeric_limits<float>::epsilon());
}

namespace {
at::Tensor fake_quant(const at::Tensor& x, const at::Tensor& scale) {
  return at::round(x / scale).clamp(-128.0, 127.0) * scale;
}
}  // namespace

at::Tensor fake_quant_int8_per_head(const at::Tensor& x, const at::Tensor& scale) {
  return fake_quant(x, scale.to(x.scalar_type()).reshape({1, -1, 1, 1}));
}

at::Tensor fake_quant_int8_per_token(const at::Tensor& x) {
  const auto [lo, hi] = at::aminmax(x, -1, true);
  return fake_quant(x, int8_symmetric_scale(lo, hi));
}

void install_attention_quant(const AttentionQuantPoint& point) {
  for (std::size_t i = 0; i < kAttentionInputs; ++i) {
    AttentionInputHook& hook = point.slots->hooks[i];
    const auto& quant = point.slots->quant[i];
    if (!quant || (point.latent && i == static_cast<std::size_t>(AttentionInput::kValue))) {
      hook = nullptr;
    } else if (quant->dynamic) {
      hook = [](const at::Tensor& x) { return fake_quant_int8_per_token(x); };
    } else {
      hook = [scale = quant->scale](const at::Tensor& x) { return fake_quant_int8_per_head(x, scale); };
    }
  }
}

}  // namespace modelslim
