#include "write_queue.hpp"

namespace modelslim::detail {

WriteQueue::~WriteQueue() {
  stop();
}

void WriteQueue::stop() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    jobs_.clear();
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WriteQueue::rethrow_locked() {
  if (error_) std::rethrow_exception(error_);
}

void WriteQueue::submit(std::function<void()> job, std::uint64_t bytes) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return error_ || held_bytes_ == 0 || held_bytes_ + bytes <= budget_; });
  rethrow_locked();
  jobs_.push_back({std::move(job), bytes});
  held_bytes_ += bytes;
  if (!thread_.joinable()) thread_ = std::thread([this] { work(); });
  lock.unlock();
  changed_.notify_all();
}

void WriteQueue::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return error_ || (jobs_.empty() && !busy_); });
  rethrow_locked();
}

void WriteQueue::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    std::exception_ptr failure;
    try {
      job.run();
    } catch (...) {
      failure = std::current_exception();
    }
    job.run = nullptr;  // releases what the job held (tensor references) before the budget frees up
    lock.lock();
    busy_ = false;
    held_bytes_ -= job.bytes;
    if (failure && !error_) {
      error_ = failure;
      for (const Job& dropped : jobs_) held_bytes_ -= dropped.bytes;
      jobs_.clear();
    }
    changed_.notify_all();
  }
}

}  // namespace modelslim::detail
