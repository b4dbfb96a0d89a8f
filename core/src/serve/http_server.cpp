#include "http_server.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace modelslim::core::serve {
namespace {

class BoundedThreadPool : public httplib::TaskQueue {
 public:
  BoundedThreadPool(std::size_t threads, std::size_t max_pending) : max_pending_(max_pending) {
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }

  // Called by the accept loop: waiting here stops it accepting (back-pressure).
  void enqueue(std::function<void()> job) override {
    std::unique_lock<std::mutex> lock(mutex_);
    space_.wait(lock, [&] { return jobs_.size() < max_pending_ || stopping_; });
    jobs_.push_back(std::move(job));
    work_.notify_one();
  }

  // Runs what is queued (a connection accepted during shutdown only gets closed), then joins.
  void shutdown() override {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    work_.notify_all();
    space_.notify_all();
    for (auto& worker : workers_) worker.join();
  }

 private:
  void work() {
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_.wait(lock, [&] { return !jobs_.empty() || stopping_; });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      space_.notify_one();
      job();
    }
  }

  const std::size_t max_pending_;
  std::mutex mutex_;
  std::condition_variable work_, space_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
};

}  // namespace

HttpServer::HttpServer(const ConnectionLimits& limits, std::size_t threads, std::size_t max_pending)
    : limits_(limits) {
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  new_task_queue = [threads, max_pending] { return new BoundedThreadPool(threads, max_pending); };
}

HttpServer::~HttpServer() {
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

void HttpServer::shut_down() {
  if (!shutting_down_.exchange(true)) {
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(stop_pipe_[1], &byte, 1);
  }
  stop();
}

// httplib's own loop, over our Connection.
bool HttpServer::process_and_close_socket(int socket) {
  Connection connection(socket, limits_, stop_pipe_[0]);
  bool ok = false;
  for (std::size_t served = 0; served < limits_.keep_alive_max && !shutting_down_; ++served) {
    if (!connection.wait_for_request()) break;
    connection.start_request();
    bool client_closes = false;
    const bool last = served + 1 == limits_.keep_alive_max;
    ok = process_request(connection, last, client_closes, nullptr);
    if (!ok || client_closes || connection.closing() || connection.timed_out()) break;
  }
  return ok;
}

}  // namespace modelslim::core::serve
