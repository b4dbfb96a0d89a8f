// A linear layer y = x·Wᵀ + b as seen by processors. The model adapter owns the tensors; processors may
// rewrite them (smoothing, rotation), observe the layer's input during calibration forwards, replace its
// compute (fake quantization), and attach the quantized form that savers write.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

enum class ActivationQuantMode { kNone, kStaticPerTensor, kDynamicPerToken };

// The result of quantizing one linear layer, independent of any output format.
// Dequantized weight: (qweight − weight_offset) · weight_scale, per output row or per (row, group).
struct QuantizedLinear {
  int weight_bits = 8;
  bool weight_symmetric = true;
  std::int64_t group_size = 0;  // 0: per output channel
  at::Tensor qweight;           // int8 [out, in] (int4 values are stored unpacked in int8)
  at::Tensor weight_scale;      // float32 [out] or [out, in / group_size]
  at::Tensor weight_offset;     // float32, same shape as weight_scale (zeros when symmetric)

  ActivationQuantMode act_mode = ActivationQuantMode::kNone;
  int act_bits = 8;
  bool act_symmetric = true;
  at::Tensor input_scale;   // float32 [1] (static only)
  at::Tensor input_offset;  // float32 [1] (static only)

  std::optional<at::Tensor> bias;  // float32 [out], the float bias kept alongside
};

class Linear;

// Replaces a linear layer's compute (e.g. fake quantization). Observers still see the raw input.
class MODELSLIM_SDK_API LinearCompute {
 public:
  virtual ~LinearCompute();  // key function, defined in sdk/src (see export.hpp)
  virtual at::Tensor forward(const Linear& linear, const at::Tensor& input) const = 0;
};

class MODELSLIM_SDK_API Linear {
 public:
  using InputObserver = std::function<void(const at::Tensor& input)>;

  Linear(std::string name, at::Tensor weight, std::optional<at::Tensor> bias = std::nullopt);

  const std::string& name() const { return name_; }
  at::Tensor& weight() { return weight_; }
  const at::Tensor& weight() const { return weight_; }
  std::optional<at::Tensor>& bias() { return bias_; }
  const std::optional<at::Tensor>& bias() const { return bias_; }
  std::int64_t in_features() const { return weight_.size(1); }
  std::int64_t out_features() const { return weight_.size(0); }

  // Runs observers on the input, then the compute override or the float linear.
  at::Tensor forward(const at::Tensor& input) const;
  at::Tensor float_forward(const at::Tensor& input) const;

  // Returns an id for remove_observer.
  std::size_t add_observer(InputObserver observer);
  void remove_observer(std::size_t id);
  void clear_observers();

  void set_compute(std::shared_ptr<const LinearCompute> compute) { compute_ = std::move(compute); }
  const std::shared_ptr<const LinearCompute>& compute() const { return compute_; }

  void set_quantized(std::shared_ptr<const QuantizedLinear> quantized) { quantized_ = std::move(quantized); }
  const std::shared_ptr<const QuantizedLinear>& quantized() const { return quantized_; }

 private:
  std::string name_;
  at::Tensor weight_;
  std::optional<at::Tensor> bias_;
  std::vector<std::pair<std::size_t, InputObserver>> observers_;
  std::size_t next_observer_id_ = 0;
  std::shared_ptr<const LinearCompute> compute_;
  std::shared_ptr<const QuantizedLinear> quantized_;
};

}  // namespace modelslim
