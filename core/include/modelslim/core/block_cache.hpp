// Processed blocks kept across the quantization runs of one tune session. Tuning candidates often differ only
// in which later blocks fall back; a block whose key (a hash of everything upstream: model, calibration data,
// every earlier block's key, and the config as it applies to this block) matches an earlier run's is reused:
// the savers get the cached block and the next block the cached hidden states, with no load and no forward.
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/model_adapter.hpp"

namespace modelslim::core {

class BlockCache {
 public:
  struct Entry {
    std::shared_ptr<const ModelAdapter> owner;  // a block may refer to its adapter's configuration
    std::shared_ptr<Block> block;               // processed: fused weights, quantized linears
    std::vector<at::Tensor> outputs;            // hidden states after the block, per calibration sample
    std::size_t bytes = 0;
  };

  // Least recently used entries are dropped beyond `max_bytes` (tensor bytes of blocks and outputs).
  explicit BlockCache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  std::shared_ptr<const Entry> find(const std::string& key);
  bool contains(const std::string& key) const { return entries_.count(key) > 0; }  // no hit counted
  void put(const std::string& key, Entry entry);
  std::size_t hits() const { return hits_; }
  std::size_t misses() const { return misses_; }

  static std::size_t bytes_of(Block& block, const std::vector<at::Tensor>& outputs);

 private:
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::size_t hits_ = 0;
  std::size_t misses_ = 0;
  std::list<std::string> order_;  // most recently used first
  std::map<std::string, std::shared_ptr<const Entry>> entries_;
};

// What run_pipeline needs to reuse blocks: the cache, each block's key, and the adapter that owns new ones.
struct BlockReuse {
  BlockCache& cache;
  std::vector<std::string> keys;  // per block index
  std::shared_ptr<const ModelAdapter> owner;
  std::size_t reused = 0;  // filled by run_pipeline
};

}  // namespace modelslim::core
