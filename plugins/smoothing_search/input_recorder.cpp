#include "input_recorder.hpp"

#include <ATen/ATen.h>

#include <string>

#include "modelslim/error.hpp"
#include "modelslim/finite.hpp"

namespace modelslim::smoothing_search {

InputRecorder::InputRecorder(Linear& linear)
    : linear_(&linear), inputs_(std::make_shared<std::vector<at::Tensor>>()) {
  observer_id_ = linear.add_observer([inputs = inputs_, name = linear.name()](const at::Tensor& input) {
    at::Tensor rows = input.detach().reshape({-1, input.size(-1)}).to(at::kFloat).clone();
    if (find_non_finite(rows)) {
      throw Error(ErrorCode::kInvalidModel,
                  "the input of " + name + " holds non-finite values, so no smoothing scale can be searched",
                  "the model overflows float32 on this calibration text or holds damaged weights");
    }
    inputs->push_back(std::move(rows));
  });
  attached_ = true;
}

InputRecorder::~InputRecorder() {
  detach();
}

void InputRecorder::detach() {
  if (attached_) linear_->remove_observer(observer_id_);
  attached_ = false;
}

at::Tensor InputRecorder::rows() const {
  return inputs_->size() == 1 ? inputs_->front() : at::cat(*inputs_, 0);
}

at::Tensor InputRecorder::abs_mean() const {
  at::Tensor sum;
  std::int64_t count = 0;
  for (const at::Tensor& x : *inputs_) {
    const at::Tensor s = x.abs().sum(0);
    sum = sum.defined() ? sum + s : s;
    count += x.size(0);
  }
  return sum / static_cast<double>(count);
}

at::Tensor InputRecorder::abs_max() const {
  at::Tensor result;
  for (const at::Tensor& x : *inputs_) {
    const at::Tensor m = x.abs().amax(0);
    result = result.defined() ? at::maximum(result, m) : m;
  }
  return result;
}

}  // namespace modelslim::smoothing_search
