// dp_layer_wise plumbing: which rank this process is (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, as set by
// an external launcher or by our own supervisor), the c10d/Gloo communicator between ranks, and the
// supervisor that `--device cpu:0,1` uses to run the ranks on this machine.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "modelslim/distributed.hpp"

namespace modelslim::core {

struct RankInfo {
  std::size_t rank = 0;
  std::size_t world_size = 1;
  std::string master_addr = "127.0.0.1";
  std::uint16_t master_port = 29500;
};

// The rank this process was started as; nullopt when RANK is unset. Throws Error(kSchemaValidate) naming
// the variable when one is malformed.
std::optional<RankInfo> rank_from_environment();

// Joins the other ranks through a TCPStore (rank 0 serves it) and a Gloo process group. `timeout` bounds
// every collective, so a hung rank fails the others instead of blocking them forever.
std::unique_ptr<Communicator> connect_ranks(const RankInfo& info, std::chrono::milliseconds timeout);

// Runs `world_size` copies of this executable with `args` (the same command line) as ranks on loopback and
// waits. The first rank that fails stops the others; returns the exit code to report (0 when all succeed,
// 128 + signal when SIGINT, SIGTERM or SIGHUP stopped the run: they are forwarded to the ranks). Ranks are
// SIGKILLed by the kernel when the calling thread ends, so call it on the main thread. Leftover staging
// directories of killed ranks beside `save_path` are removed.
int run_local_ranks(std::size_t world_size, const std::vector<std::string>& args,
                    const std::filesystem::path& save_path);

}  // namespace modelslim::core
