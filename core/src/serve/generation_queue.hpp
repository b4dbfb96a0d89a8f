// One generation at a time, first come first served, with a bounded line: the generator is not
// thread-safe and a request waiting for it holds its connection thread, so the line's length bounds both
// the threads and the memory of waiting requests. A request that finds the line full is refused (503).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>

namespace modelslim::core::serve {

class GenerationQueue {
 public:
  // max_waiting: requests that may wait while one generates.
  explicit GenerationQueue(std::size_t max_waiting);

  // A place in the line, released when destroyed (served, failed or abandoned).
  class Ticket {
   public:
    Ticket(GenerationQueue& queue, std::uint64_t id) : queue_(&queue), id_(id) {}
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    // Blocks until every earlier ticket is released. False when the queue stopped meanwhile.
    bool wait_turn();

   private:
    GenerationQueue* queue_;
    std::uint64_t id_;
  };

  // Nullptr when max_waiting requests already wait (or the queue stopped).
  std::unique_ptr<Ticket> try_enter();
  // Wakes every waiter (their wait_turn returns false) and refuses new tickets: server shutdown.
  void stop();
  std::size_t size() const;  // tickets held, the running one included

 private:
  void release(std::uint64_t id);

  const std::size_t max_waiting_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::list<std::uint64_t> line_;  // ticket ids in arrival order; the front one may generate
  std::uint64_t next_id_ = 0;
  bool stopped_ = false;
};

}  // namespace modelslim::core::serve
