#include "modelslim/linear.hpp"

#include <ATen/ATen.h>

#include <algorithm>

namespace modelslim {

LinearCompute::~LinearCompute() = default;

Linear::Linear(std::string name, at::Tensor weight, std::optional<at::Tensor> bias)
    : name_(std::move(name)), weight_(std::move(weight)), bias_(std::move(bias)) {}

at::Tensor Linear::float_forward(const at::Tensor& input) const {
  // A weight kept in the checkpoint's dtype (stored_dtype_weights.hpp) is widened for this call only.
  const at::ScalarType type = input.scalar_type();
  const at::Tensor weight = weight_.scalar_type() == type ? weight_ : weight_.to(type);
  if (!bias_) return at::linear(input, weight);
  return at::linear(input, weight, bias_->scalar_type() == type ? *bias_ : bias_->to(type));
}

at::Tensor Linear::forward(const at::Tensor& input) const {
  for (const auto& entry : observers_) entry.second(input);
  return compute_ ? compute_->forward(*this, input) : float_forward(input);
}

std::size_t Linear::add_observer(InputObserver observer) {
  const std::size_t id = next_observer_id_++;
  observers_.emplace_back(id, std::move(observer));
  return id;
}

void Linear::remove_observer(std::size_t id) {
  observers_.erase(std::remove_if(observers_.begin(), observers_.end(),
                                  [id](const auto& entry) { return entry.first == id; }),
                   observers_.end());
}

void Linear::clear_observers() {
  observers_.clear();
}

}  // namespace modelslim
