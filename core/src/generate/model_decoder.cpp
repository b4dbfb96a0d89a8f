#include "model_decoder.hpp"

#include <spdlog/spdlog.h>

#include "modelslim/error.hpp"
#include "modelslim/incremental_decoding.hpp"

namespace modelslim::core {
namespace {

class RecomputeDecoder final : public ModelDecoder {
 public:
  RecomputeDecoder(ModelAdapter& model, std::vector<Block*> blocks)
      : model_(model), blocks_(std::move(blocks)) {}

  void reset() override { ids_.clear(); }

  at::Tensor append(const std::vector<std::int64_t>& ids) override {
    ids_.insert(ids_.end(), ids.begin(), ids.end());
    BlockInput state = model_.embed(at::tensor(ids_, at::kLong).reshape({1, -1}));
    for (Block* block : blocks_) state.hidden = block->forward(state.hidden, *state.context);
    const auto n = static_cast<std::int64_t>(ids.size());
    return state.hidden.narrow(1, state.hidden.size(1) - n, n);
  }

 private:
  ModelAdapter& model_;
  std::vector<Block*> blocks_;
  std::vector<std::int64_t> ids_;
};

class CachedDecoder final : public ModelDecoder {
 public:
  CachedDecoder(IncrementalDecoding& decoding, std::vector<Block*> blocks)
      : decoding_(decoding), blocks_(std::move(blocks)), state_(decoding_.start_decoding(blocks_)) {}

  void reset() override {
    if (state_->length() > 0) state_ = decoding_.start_decoding(blocks_);
  }

  at::Tensor append(const std::vector<std::int64_t>& ids) override {
    return state_->forward(at::tensor(ids, at::kLong).reshape({1, -1}));
  }

 private:
  IncrementalDecoding& decoding_;
  std::vector<Block*> blocks_;
  std::unique_ptr<DecodingState> state_;
};

}  // namespace

std::unique_ptr<ModelDecoder> make_model_decoder(ModelAdapter& model, const std::vector<Block*>& blocks) {
  if (auto* decoding = dynamic_cast<IncrementalDecoding*>(&model)) {
    try {
      return std::make_unique<CachedDecoder>(*decoding, blocks);
    } catch (const Error& error) {
      if (error.code() != ErrorCode::kUnsupported) throw;
      spdlog::warn("{} model: no incremental decoding ({}); every token recomputes the whole sequence",
                   model.model_type(), error.what());
    }
  }
  return make_recompute_decoder(model, blocks);
}

std::unique_ptr<ModelDecoder> make_recompute_decoder(ModelAdapter& model, const std::vector<Block*>& blocks) {
  return std::make_unique<RecomputeDecoder>(model, blocks);
}

}  // namespace modelslim::core
