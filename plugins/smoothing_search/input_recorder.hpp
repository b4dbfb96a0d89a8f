// Keeps every calibration input a linear sees (the searches replay them against candidate weights).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "modelslim/linear.hpp"

namespace modelslim::smoothing_search {

class InputRecorder {
 public:
  // Attached to `linear` until detach() or destruction.
  explicit InputRecorder(Linear& linear);
  ~InputRecorder();
  InputRecorder(const InputRecorder&) = delete;
  InputRecorder& operator=(const InputRecorder&) = delete;

  void detach();
  bool seen() const { return !inputs_->empty(); }
  // Per forward: float32 [tokens, in_features].
  const std::vector<at::Tensor>& inputs() const { return *inputs_; }
  // Every recorded token: float32 [total tokens, in_features].
  at::Tensor rows() const;
  // mean |x_c| over every recorded token.
  at::Tensor abs_mean() const;
  // max |x_c| over every recorded token.
  at::Tensor abs_max() const;

 private:
  Linear* linear_;
  std::shared_ptr<std::vector<at::Tensor>> inputs_;
  std::size_t observer_id_ = 0;
  bool attached_ = false;
};

}  // namespace modelslim::smoothing_search
