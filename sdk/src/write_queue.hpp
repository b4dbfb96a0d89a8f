// One background thread that runs a writer's jobs in the order they were submitted, so that the caller
// (a saver, between two blocks' calibration forwards) goes on while its tensors reach the disk. Jobs hold
// what they write; `budget_bytes` bounds how much may wait: submit() blocks while queued jobs already hold
// more than that. The first job that throws stops the queue: later jobs are dropped, and the next submit()
// or drain() rethrows its error on the caller's thread. Internal to the SDK (StreamingShardWriter).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace modelslim::detail {

class WriteQueue {
 public:
  explicit WriteQueue(std::uint64_t budget_bytes) : budget_(budget_bytes) {}
  ~WriteQueue();  // drops the jobs not started and waits for the one running; errors no longer matter
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Queues `job`, accounted as `bytes` until it has run (a job larger than the budget waits for an empty
  // queue). Rethrows an earlier job's error instead of queueing.
  void submit(std::function<void()> job, std::uint64_t bytes);
  // Returns once every queued job has run; rethrows the first error.
  void drain();
  // Drops the jobs not started and waits for the running one (what the destructor does), so that the
  // caller may clean up what the jobs would have touched.
  void stop();

 private:
  struct Job {
    std::function<void()> run;
    std::uint64_t bytes = 0;
  };
  void work();
  void rethrow_locked();

  const std::uint64_t budget_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> jobs_;
  std::uint64_t held_bytes_ = 0;  // queued and running jobs
  bool busy_ = false;             // a job is running
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // started by the first submit()
};

}  // namespace modelslim::detail
