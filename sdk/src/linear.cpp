#include "modelslim/linear.hpp"

#include <ATen/ATen.h>

#include <algorithm>

namespace modelslim {

LinearCompute::~LinearCompute() = default;

Linear::Linear(std::string name, at::Tensor weight, std::optional<at::Tensor> bias)
    : name_(std::move(name)), weight_(std::move(weight)), bias_(std::move(bias)) {}

at::Tensor Linear::float_forward(const at::Tensor& input) const {
  return bias_ ? at::linear(input, weight_, *bias_) : at::linear(input, weight_);
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
