// The only file that includes c10d: its headers are heavy, and only the communicator needs them.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "modelslim/core/distributed.hpp"
#include "modelslim/error.hpp"

namespace modelslim::core {
namespace {

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return c10d::ReduceOp::SUM;
    case ReduceOp::kMin:
      return c10d::ReduceOp::MIN;
    case ReduceOp::kMax:
      return c10d::ReduceOp::MAX;
  }
  return c10d::ReduceOp::SUM;
}

class GlooCommunicator final : public Communicator {
 public:
  GlooCommunicator(const RankInfo& info, std::chrono::milliseconds timeout) : info_(info) {
    try {
      c10d::TCPStoreOptions store_options;
      store_options.port = info.master_port;
      store_options.isServer = info.rank == 0;
      store_options.numWorkers = info.world_size;
      store_options.timeout = timeout;
      store_ = c10::make_intrusive<c10d::TCPStore>(info.master_addr, store_options);
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(info.master_addr));
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, static_cast<int>(info.rank),
                                                           static_cast<int>(info.world_size), options);
    } catch (const std::exception& error) {
      throw Error(ErrorCode::kUnexpected,
                  where() + "cannot join the other ranks at " + info.master_addr + ":" +
                      std::to_string(info.master_port) + ": " + first_line(error.what()),
                  "check MASTER_ADDR/MASTER_PORT and that every rank was started");
    }
  }

  std::size_t rank() const override { return info_.rank; }
  std::size_t world_size() const override { return info_.world_size; }

  void all_reduce(at::Tensor& tensor, ReduceOp op) override {
    std::vector<at::Tensor> tensors{tensor};
    c10d::AllreduceOptions options;
    options.reduceOp = to_c10d(op);
    wait(group_->allreduce(tensors, options), "all_reduce");
  }

  void broadcast(at::Tensor& tensor, std::size_t root) override {
    std::vector<at::Tensor> tensors{tensor};
    c10d::BroadcastOptions options;
    options.rootRank = static_cast<int64_t>(root);
    wait(group_->broadcast(tensors, options), "broadcast");
  }

  void barrier() override { wait(group_->barrier(), "barrier"); }

 private:
  std::string where() const {
    return "dp_layer_wise rank " + std::to_string(info_.rank) + "/" + std::to_string(info_.world_size) + ": ";
  }
  static std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
    try {
      work->wait();
    } catch (const std::exception& error) {
      throw Error(ErrorCode::kUnexpected,
                  where() + std::string(what) + " with the other ranks failed: " + first_line(error.what()),
                  "another rank died or timed out; its own error is above");
    }
  }

  RankInfo info_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

}  // namespace

std::unique_ptr<Communicator> connect_ranks(const RankInfo& info, std::chrono::milliseconds timeout) {
  return std::make_unique<GlooCommunicator>(info, timeout);
}

}  // namespace modelslim::core
