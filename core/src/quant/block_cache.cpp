#include "modelslim/core/block_cache.hpp"

#include <algorithm>

namespace modelslim::core {
namespace {

std::size_t tensor_bytes(const at::Tensor& tensor) {
  return tensor.defined() ? static_cast<std::size_t>(tensor.numel()) * tensor.element_size() : 0;
}

}  // namespace

std::size_t BlockCache::bytes_of(Block& block, const std::vector<at::Tensor>& outputs) {
  std::size_t bytes = 0;
  for (Linear* linear : block.linears())
    bytes += 2 * tensor_bytes(linear->weight());  // float + quantized forms
  for (const auto& parameter : block.other_parameters()) bytes += tensor_bytes(parameter.tensor);
  for (const auto& output : outputs) bytes += tensor_bytes(output);
  return bytes;
}

std::shared_ptr<const BlockCache::Entry> BlockCache::find(const std::string& key) {
  const auto found = entries_.find(key);
  if (found == entries_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  order_.remove(key);
  order_.push_front(key);
  return found->second;
}

void BlockCache::put(const std::string& key, Entry entry) {
  if (entry.bytes > max_bytes_ || entries_.count(key) != 0) return;
  bytes_ += entry.bytes;
  entries_[key] = std::make_shared<const Entry>(std::move(entry));
  order_.push_front(key);
  while (bytes_ > max_bytes_ && !order_.empty()) {
    const std::string oldest = order_.back();
    order_.pop_back();
    bytes_ -= entries_.at(oldest)->bytes;
    entries_.erase(oldest);
  }
}

}  // namespace modelslim::core
