#include "modelslim/histogram_observer.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "modelslim/quant_math.hpp"

namespace modelslim {

HistogramObserver::HistogramObserver(std::int64_t bins)
    : bins_(bins), counts_(at::zeros({bins}, at::kDouble)) {}

void HistogramObserver::update(const at::Tensor& values) {
  const at::Tensor flat = values.detach().reshape({-1}).to(at::kDouble);
  const at::Tensor finite_mask = at::isfinite(flat);
  const at::Tensor finite = flat.masked_select(finite_mask);
  dropped_ += flat.numel() - finite.numel();
  if (finite.numel() == 0) return;
  const double low = finite.min().item<double>();
  const double high = finite.max().item<double>();
  if (total_ == 0.0) {
    min_ = low;
    max_ = high > low ? high : low + 1e-12;  // a constant batch still gets a non-empty range
  } else if (low < min_ || high > max_) {
    // Re-bin the old mass into the grown range by bin centres.
    const double new_min = std::min(low, min_);
    const double new_max = std::max(high, max_);
    const double old_width = (max_ - min_) / static_cast<double>(bins_);
    const at::Tensor centres = min_ + (at::arange(bins_, at::kDouble) + 0.5) * old_width;
    const at::Tensor index = ((centres - new_min) / (new_max - new_min) * static_cast<double>(bins_))
                                 .floor()
                                 .clamp(0, static_cast<double>(bins_ - 1))
                                 .to(at::kLong);
    counts_ = at::zeros({bins_}, at::kDouble).index_add_(0, index, counts_);
    min_ = new_min;
    max_ = new_max;
  }
  const at::Tensor index = ((finite - min_) / (max_ - min_) * static_cast<double>(bins_))
                               .floor()
                               .clamp(0, static_cast<double>(bins_ - 1))
                               .to(at::kLong);
  counts_.index_add_(0, index, at::ones({finite.numel()}, at::kDouble));
  total_ += static_cast<double>(finite.numel());
}

namespace {

// Errors of many candidate windows at once: [candidates] from [candidates] bounds.
at::Tensor window_errors(const at::Tensor& centres, const at::Tensor& counts, const at::Tensor& low,
                         const at::Tensor& high, int bits, bool symmetric) {
  const ScaleOffset params = minmax_scale_offset(low.to(at::kFloat), high.to(at::kFloat), bits, symmetric);
  const at::Tensor scale = params.scale.to(at::kDouble).unsqueeze(1);
  const at::Tensor offset = params.offset.to(at::kDouble).unsqueeze(1);
  const IntRange range = int_range(bits);
  const at::Tensor q = at::clamp(at::round(centres.unsqueeze(0) / scale + offset),
                                 static_cast<double>(range.min), static_cast<double>(range.max));
  const at::Tensor error = (q - offset) * scale - centres.unsqueeze(0);
  return (counts.unsqueeze(0) * error * error).sum(1);
}

}  // namespace

double HistogramObserver::quantization_error(const ClipRange& clip, int bits, bool symmetric) const {
  const double width = (max_ - min_) / static_cast<double>(bins_);
  const at::Tensor centres = min_ + (at::arange(bins_, at::kDouble) + 0.5) * width;
  return window_errors(centres, counts_, at::tensor({clip.min}, at::kDouble),
                       at::tensor({clip.max}, at::kDouble), bits, symmetric)
             .item<double>() /
         std::max(total_, 1.0);
}

ClipRange HistogramObserver::search_clip(int bits, bool symmetric, int steps) const {
  std::vector<double> lows;
  std::vector<double> highs;
  if (symmetric) {
    const double bound = std::max(std::abs(min_), std::abs(max_));
    for (int i = steps; i >= 1; --i) {
      lows.push_back(-bound * i / steps);
      highs.push_back(bound * i / steps);
    }
  } else {
    for (int i = 0; i < steps; ++i) {
      for (int j = steps; j > i; --j) {
        lows.push_back(min_ + (max_ - min_) * i / steps);
        highs.push_back(min_ + (max_ - min_) * j / steps);
      }
    }
  }
  const double width = (max_ - min_) / static_cast<double>(bins_);
  const at::Tensor centres = min_ + (at::arange(bins_, at::kDouble) + 0.5) * width;
  const at::Tensor low = at::tensor(lows, at::kDouble);
  const at::Tensor high = at::tensor(highs, at::kDouble);
  std::vector<at::Tensor> errors;
  constexpr std::int64_t kChunk = 256;  // bounds the [candidates, bins] temporaries
  for (std::int64_t start = 0; start < low.numel(); start += kChunk) {
    const std::int64_t length = std::min(kChunk, low.numel() - start);
    errors.push_back(window_errors(centres, counts_, low.narrow(0, start, length),
                                   high.narrow(0, start, length), bits, symmetric));
  }
  // The first minimum: the widest window among equals (candidates run from wide to narrow).
  const std::int64_t best = at::cat(errors).argmin().item<std::int64_t>();
  return {lows[static_cast<std::size_t>(best)], highs[static_cast<std::size_t>(best)]};
}

}  // namespace modelslim
