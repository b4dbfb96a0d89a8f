#include "modelslim/model_adapter.hpp"

#include "modelslim/block_prefetch.hpp"
#include "modelslim/tokenizer.hpp"

#include <ATen/ATen.h>

namespace modelslim {

ModelAdapter::~ModelAdapter() = default;

std::vector<at::Tensor> tokenize_texts(const ModelAdapter& model, const std::vector<std::string>& texts) {
  std::vector<at::Tensor> token_ids;
  token_ids.reserve(texts.size());
  for (const auto& text : texts) {
    const std::vector<std::int64_t> ids = model.tokenizer().encode(text);
    if (ids.empty()) continue;  // nothing to calibrate on
    token_ids.push_back(at::tensor(ids, at::TensorOptions().dtype(at::kLong))
                            .reshape({1, static_cast<std::int64_t>(ids.size())}));
  }
  return token_ids;
}

std::vector<BlockInput> embed_texts(ModelAdapter& model, const std::vector<std::string>& texts) {
  std::vector<BlockInput> inputs;
  for (const at::Tensor& ids : tokenize_texts(model, texts)) inputs.push_back(model.embed(ids));
  return inputs;
}

at::Tensor forward_logits(ModelAdapter& model, const at::Tensor& input_ids) {
  BlockInput state = model.embed(input_ids);
  {
    BlockLoader loader(model);  // block k+1 is read while block k runs
    for (std::size_t index = 0; index < model.num_blocks(); ++index) {
      const std::unique_ptr<Block> block = loader.load(index);
      state.hidden = block->forward(state.hidden, *state.context);
    }
  }
  return model.head(state.hidden);
}

}  // namespace modelslim
