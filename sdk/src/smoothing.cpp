#include "modelslim/smoothing.hpp"

#include <ATen/ATen.h>

#include <limits>
#include <string>

#include "modelslim/error.hpp"
#include "modelslim/finite.hpp"

namespace modelslim {

ChannelRangeObserver::ChannelRangeObserver(Linear& linear)
    : linear_(&linear), range_(std::make_shared<Range>()) {
  observer_id_ = linear.add_observer([range = range_, name = linear.name()](const at::Tensor& input) {
    const at::Tensor x = input.detach().reshape({-1, input.size(-1)}).to(at::kFloat);
    const at::Tensor max = x.amax(0);
    const at::Tensor min = x.amin(0);
    // NaN propagates into the channel's max and min, ±Inf reaches one of them: no extra pass over x.
    const auto bad = find_non_finite(at::stack({min, max}));
    if (bad) {
      const std::int64_t channel = *bad % max.size(0);
      throw Error(ErrorCode::kInvalidModel,
                  "the input of " + name + " holds non-finite values in channel " + std::to_string(channel) +
                      " (observed range [" + std::to_string(min[channel].item<double>()) + ", " +
                      std::to_string(max[channel].item<double>()) + "]), so no smoothing scale exists",
                  "the model overflows float32 on this calibration text or holds damaged weights");
    }
    range->max = range->max.defined() ? at::maximum(range->max, max) : max;
    range->min = range->min.defined() ? at::minimum(range->min, min) : min;
  });
  attached_ = true;
}

ChannelRangeObserver::~ChannelRangeObserver() {
  detach();
}

void ChannelRangeObserver::detach() {
  if (attached_) linear_->remove_observer(observer_id_);
  attached_ = false;
}

void ChannelRangeObserver::synchronize(Communicator& communicator) {
  const std::int64_t channels = linear_->weight().size(1);
  const double inf = std::numeric_limits<double>::infinity();
  at::Tensor seen_count = at::tensor({seen() ? 1.0F : 0.0F});
  at::Tensor max = seen() ? range_->max.clone() : at::full({channels}, -inf, at::kFloat);
  at::Tensor min = seen() ? range_->min.clone() : at::full({channels}, inf, at::kFloat);
  communicator.all_reduce(seen_count, ReduceOp::kSum);
  communicator.all_reduce(max, ReduceOp::kMax);
  communicator.all_reduce(min, ReduceOp::kMin);
  if (seen_count.item<float>() > 0.0F) {
    range_->max = max;
    range_->min = min;
  }
}

at::Tensor ChannelRangeObserver::absmax() const {
  return at::maximum(range_->max.abs(), range_->min.abs());
}

at::Tensor ChannelRangeObserver::shift() const {
  return (range_->max + range_->min) / 2.0;
}

at::Tensor weight_column_absmax(const std::vector<Linear*>& linears) {
  at::Tensor result;
  for (const Linear* linear : linears) {
    const at::Tensor column_max = linear->weight().abs().amax(0);
    result = result.defined() ? at::maximum(result, column_max) : column_max;
  }
  return result;
}

at::Tensor smoothing_scales(const at::Tensor& act_absmax, const at::Tensor& weight_absmax, double alpha,
                            double scale_min) {
  return at::clamp_min(at::pow(act_absmax, alpha) / at::pow(at::clamp_min(weight_absmax, 1e-5), 1.0 - alpha),
                       scale_min);
}

void fuse_norm_linear_scales(NormLinearSubgraph& subgraph, const at::Tensor& scales,
                             const at::Tensor& shift) {
  if (shift.defined()) {
    if (subgraph.norm_bias == nullptr) {
      throw Error(
          ErrorCode::kUnsupported,
          subgraph.norm + ": asymmetric smoothing needs a norm bias, which this model's norm cannot take",
          "use symmetric: true");
    }
    for (Linear* linear : subgraph.linears) {
      const at::Tensor folded = at::mv(linear->weight(), shift);  // the centre the linear no longer sees
      if (linear->bias()) {
        linear->bias()->add_(folded);
      } else {
        linear->bias() = folded;
      }
    }
    at::Tensor& bias = *subgraph.norm_bias;
    bias = bias.defined() ? bias - shift : -shift;
  }
  subgraph.norm_weight.div_(scales);
  if (subgraph.norm_bias != nullptr && subgraph.norm_bias->defined()) {
    *subgraph.norm_bias = *subgraph.norm_bias / scales;
  }
  for (Linear* linear : subgraph.linears) linear->weight().mul_(scales.unsqueeze(0));
}

at::Tensor fuse_linear_pair_scales(LinearPairSubgraph& subgraph, const at::Tensor& scales) {
  at::Tensor target_scales = scales;
  at::Tensor source_scales = scales;
  if (subgraph.kind == LinearPairKind::kOV && subgraph.num_kv_heads != subgraph.num_heads) {
    const std::int64_t group = subgraph.num_heads / subgraph.num_kv_heads;
    source_scales = scales.reshape({subgraph.num_kv_heads, group, subgraph.head_dim}).mean(1);
    target_scales = source_scales.repeat_interleave(group, 0).reshape({-1});
    source_scales = source_scales.reshape({-1});
  }
  subgraph.target->weight().mul_(target_scales.unsqueeze(0));
  subgraph.source->weight().div_(source_scales.unsqueeze(1));
  if (subgraph.source->bias()) subgraph.source->bias()->div_(source_scales);
  return target_scales;
}

}  // namespace modelslim
