#include "generation_queue.hpp"

#include <algorithm>

namespace modelslim::core::serve {

GenerationQueue::GenerationQueue(std::size_t max_waiting) : max_waiting_(max_waiting) {}

std::unique_ptr<GenerationQueue::Ticket> GenerationQueue::try_enter() {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (stopped_ || line_.size() > max_waiting_) return nullptr;
  line_.push_back(next_id_);
  return std::make_unique<Ticket>(*this, next_id_++);
}

void GenerationQueue::stop() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
  }
  changed_.notify_all();
}

std::size_t GenerationQueue::size() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return line_.size();
}

void GenerationQueue::release(std::uint64_t id) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    line_.erase(std::find(line_.begin(), line_.end(), id));
  }
  changed_.notify_all();
}

GenerationQueue::Ticket::~Ticket() {
  queue_->release(id_);
}

bool GenerationQueue::Ticket::wait_turn() {
  std::unique_lock<std::mutex> lock(queue_->mutex_);
  queue_->changed_.wait(lock, [&] { return queue_->stopped_ || queue_->line_.front() == id_; });
  return !queue_->stopped_;
}

}  // namespace modelslim::core::serve
