#include "modelslim/block_prefetch.hpp"
#include "modelslim/env_names.hpp"

#include <cstdlib>
#include <cstring>

namespace modelslim {

BlockPrefetch::~BlockPrefetch() = default;

bool block_prefetch_enabled() {
  const char* value = std::getenv(env::kPrefetch);
  return value == nullptr || std::strcmp(value, "0") != 0;
}

BlockLoader::BlockLoader(ModelAdapter& model)
    : model_(model), prefetch_(block_prefetch_enabled() ? dynamic_cast<BlockPrefetch*>(&model) : nullptr) {}

BlockLoader::~BlockLoader() {
  wait();
}

void BlockLoader::wait() {
  if (!in_flight_.valid()) return;
  try {
    in_flight_.get();
  } catch (...) {
    // Advisory work: load_block reads whatever is missing and reports the real problem on this thread.
  }
}

std::unique_ptr<Block> BlockLoader::load(std::size_t index, std::optional<std::size_t> next) {
  wait();
  std::unique_ptr<Block> block = model_.load_block(index);
  if (prefetch_ != nullptr && next) {
    in_flight_ =
        std::async(std::launch::async, [adapter = prefetch_, k = *next] { adapter->prefetch_block(k); });
  }
  return block;
}

std::unique_ptr<Block> BlockLoader::load(std::size_t index) {
  const std::optional<std::size_t> next =
      index + 1 < model_.num_blocks() ? std::optional<std::size_t>(index + 1) : std::nullopt;
  return load(index, next);
}

}  // namespace modelslim
