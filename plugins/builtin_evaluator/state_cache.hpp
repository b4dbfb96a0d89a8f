// Hidden states of evaluation sets kept between evaluations, by content key (content_keys.hpp). Bounded:
// past `memory_bytes` the least recently used entries are written to `spill_dir` (one safetensors file
// each) and read back on a hit; past `disk_bytes` the least recently used spilled entries are deleted.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <filesystem>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "modelslim/evaluation_reuse.hpp"

namespace modelslim::eval {

class StateCache {
 public:
  explicit StateCache(ReuseBudget budget);
  ~StateCache();
  StateCache(const StateCache&) = delete;
  StateCache& operator=(const StateCache&) = delete;

  bool contains(const std::string& key) const;
  // The states stored under `key` (a spilled entry is read back into memory), or nothing.
  std::optional<std::vector<at::Tensor>> find(const std::string& key);
  // Keeps `states` under `key` (tensors are shared, not copied: nobody changes a hidden state in place).
  void put(const std::string& key, std::vector<at::Tensor> states);

  std::size_t memory_bytes() const { return memory_bytes_; }
  std::size_t disk_bytes() const { return disk_bytes_; }
  std::size_t spilled() const { return spilled_; }

 private:
  struct Entry {
    std::vector<at::Tensor> states;  // empty when on disk
    std::size_t bytes = 0;
    bool on_disk = false;
  };
  std::filesystem::path file_of(const std::string& key) const;
  void touch(const std::string& key);
  void spill_until_within_budget();
  void drop_disk_until_within_budget();
  void erase(const std::string& key);

  ReuseBudget budget_;
  std::map<std::string, Entry> entries_;
  std::list<std::string> order_;  // most recently used first
  std::size_t memory_bytes_ = 0;
  std::size_t disk_bytes_ = 0;
  std::size_t spilled_ = 0;
};

}  // namespace modelslim::eval
