#include "state_cache.hpp"

#include <ATen/ATen.h>

#include <algorithm>

#include "modelslim/safetensors.hpp"

namespace modelslim::eval {
namespace {

std::size_t bytes_of(const std::vector<at::Tensor>& states) {
  std::size_t bytes = 0;
  for (const auto& state : states) bytes += static_cast<std::size_t>(state.nbytes());
  return bytes;
}

}  // namespace

StateCache::StateCache(ReuseBudget budget) : budget_(std::move(budget)) {
  if (!budget_.spill_dir.empty()) std::filesystem::create_directories(budget_.spill_dir);
}

StateCache::~StateCache() {
  std::error_code ignored;
  for (const auto& [key, entry] : entries_) {
    if (entry.on_disk) std::filesystem::remove(file_of(key), ignored);
  }
}

std::filesystem::path StateCache::file_of(const std::string& key) const {
  return budget_.spill_dir / (key + ".safetensors");
}

bool StateCache::contains(const std::string& key) const {
  return entries_.count(key) != 0;
}

void StateCache::touch(const std::string& key) {
  order_.remove(key);
  order_.push_front(key);
}

std::optional<std::vector<at::Tensor>> StateCache::find(const std::string& key) {
  const auto found = entries_.find(key);
  if (found == entries_.end()) return std::nullopt;
  Entry& entry = found->second;
  touch(key);
  if (!entry.on_disk) return entry.states;
  // Read back bit for bit (safetensors keeps dtype and shape), then it counts against memory again.
  const auto file = SafetensorsFile::open(file_of(key));
  std::vector<at::Tensor> states;
  for (std::size_t i = 0; i < file->tensors().size(); ++i) states.push_back(file->load(std::to_string(i)));
  std::filesystem::remove(file_of(key));
  disk_bytes_ -= entry.bytes;
  entry.on_disk = false;
  entry.states = states;
  memory_bytes_ += entry.bytes;
  spill_until_within_budget();
  return states;
}

void StateCache::put(const std::string& key, std::vector<at::Tensor> states) {
  if (entries_.count(key) != 0) return;
  Entry entry;
  entry.bytes = bytes_of(states);
  entry.states = std::move(states);
  memory_bytes_ += entry.bytes;
  entries_.emplace(key, std::move(entry));
  order_.push_front(key);
  spill_until_within_budget();
}

void StateCache::spill_until_within_budget() {
  // Least recently used first; the entry just used (front) stays in memory even if it alone is too big.
  for (auto it = order_.rbegin(); memory_bytes_ > budget_.memory_bytes && it != order_.rend(); ++it) {
    if (*it == order_.front()) break;
    Entry& entry = entries_.at(*it);
    if (entry.on_disk) continue;
    memory_bytes_ -= entry.bytes;
    if (budget_.spill_dir.empty() || entry.bytes > budget_.disk_bytes) {
      entry.states.clear();
      entry.bytes = 0;
      entry.on_disk = true;  // marked for erase below
      continue;
    }
    std::vector<std::pair<std::string, at::Tensor>> named;
    for (std::size_t i = 0; i < entry.states.size(); ++i)
      named.emplace_back(std::to_string(i), entry.states[i].contiguous());
    save_safetensors(file_of(*it), named);
    entry.states.clear();
    entry.on_disk = true;
    disk_bytes_ += entry.bytes;
    ++spilled_;
  }
  // Entries dropped without a file (no spill directory, or larger than the disk budget).
  std::vector<std::string> gone;
  for (const auto& [key, entry] : entries_) {
    if (entry.on_disk && entry.bytes == 0) gone.push_back(key);
  }
  for (const auto& key : gone) erase(key);
  drop_disk_until_within_budget();
}

void StateCache::drop_disk_until_within_budget() {
  while (disk_bytes_ > budget_.disk_bytes) {
    const auto oldest = std::find_if(order_.rbegin(), order_.rend(),
                                     [&](const std::string& key) { return entries_.at(key).on_disk; });
    if (oldest == order_.rend()) break;
    const std::string key = *oldest;
    std::error_code ignored;
    std::filesystem::remove(file_of(key), ignored);
    disk_bytes_ -= entries_.at(key).bytes;
    erase(key);
  }
}

void StateCache::erase(const std::string& key) {
  entries_.erase(key);
  order_.remove(key);
}

}  // namespace modelslim::eval
