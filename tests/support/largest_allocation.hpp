// Records the largest block LibTorch's CPU allocator hands out (every at::empty, .to(), reduction buffer)
// while a scope is active: tests that a computation makes no full-size copy of a large tensor.
#pragma once

#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstddef>

namespace modelslim::test {

class LargestAllocation {
 public:
  LargestAllocation() : original_(c10::GetCPUAllocator()) {
    // SetCPUAllocator takes ownership (never frees): one counting allocator per scope, leaked on purpose.
    counting_ = new Counting(original_);
    c10::SetCPUAllocator(counting_);
  }
  ~LargestAllocation() { c10::SetCPUAllocator(original_); }
  LargestAllocation(const LargestAllocation&) = delete;
  LargestAllocation& operator=(const LargestAllocation&) = delete;
  std::size_t bytes() const { return counting_->largest.load(); }

 private:
  class Counting final : public at::Allocator {
   public:
    explicit Counting(at::Allocator* base) : base_(base) {}
    at::DataPtr allocate(size_t bytes) const override {
      std::size_t seen = largest.load();
      while (bytes > seen && !largest.compare_exchange_weak(seen, bytes)) {
      }
      return base_->allocate(bytes);
    }
    at::DeleterFnPtr raw_deleter() const override { return base_->raw_deleter(); }
    mutable std::atomic<std::size_t> largest{0};

   private:
    at::Allocator* base_;
  };
  at::Allocator* original_;
  Counting* counting_;
};

}  // namespace modelslim::test
