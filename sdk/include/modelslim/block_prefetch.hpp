// Reading block k+1 while block k is worked on (since SDK 4.2). An adapter that also derives from
// BlockPrefetch (found by dynamic_cast; the ModelAdapter interface is unchanged) is asked, on a background
// thread, to get block k+1's weights ready; BlockLoader drives it for runners and evaluators that visit
// the blocks in order. Adapters without the capability are loaded as before.
#pragma once

#include <cstddef>
#include <future>
#include <memory>
#include <optional>

#include "modelslim/block.hpp"
#include "modelslim/export.hpp"
#include "modelslim/model_adapter.hpp"

namespace modelslim {

class MODELSLIM_SDK_API BlockPrefetch {
 public:
  virtual ~BlockPrefetch();
  // Gets what load_block(index) will read ready: bytes into the page cache, and tensors converted ahead
  // within a memory budget the adapter states (llama_adapter: one block's checkpoint-dtype bytes). Runs
  // on a background thread, never concurrently with load_block or another prefetch_block of the same
  // adapter; load_block(index) (or any other index) follows. Errors may be swallowed by the caller:
  // load_block must then read what is missing itself and report the problem.
  virtual void prefetch_block(std::size_t index) = 0;
};

// MODELSLIM_PREFETCH=0 turns prefetching off (blocks are read on demand, as before), for comparisons.
MODELSLIM_SDK_API bool block_prefetch_enabled();

// Loads a model's blocks for one pass in order; after load(k) it prefetches `next` (usually k+1) on a
// background thread when the adapter can. The destructor waits for a prefetch in flight.
class MODELSLIM_SDK_API BlockLoader {
 public:
  explicit BlockLoader(ModelAdapter& model);
  ~BlockLoader();
  BlockLoader(const BlockLoader&) = delete;
  BlockLoader& operator=(const BlockLoader&) = delete;

  // Waits for the prefetch in flight, loads block `index`, then starts prefetching `next` if given.
  std::unique_ptr<Block> load(std::size_t index, std::optional<std::size_t> next);
  // load(index, index + 1) while index + 1 < num_blocks().
  std::unique_ptr<Block> load(std::size_t index);

 private:
  void wait();
  ModelAdapter& model_;
  BlockPrefetch* prefetch_ = nullptr;  // null: the adapter cannot, or prefetching is off
  std::future<void> in_flight_;
};

}  // namespace modelslim
