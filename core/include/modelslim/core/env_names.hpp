// Every environment variable the host reads or sets, named once; those the SDK and the plugins read are in
// modelslim/env_names.hpp, reachable here too (core::env::kBufferPool).
#pragma once

#include "modelslim/env_names.hpp"

namespace modelslim::core::env {

using namespace ::modelslim::env;  // NOLINT: one list for the host, the SDK's names included

// Extra plugin directories, ':'-separated, searched after the installed ones.
inline constexpr const char* kPluginPath = "MODELSLIM_PLUGIN_PATH";
// Extra dataset directories, ':'-separated, searched before the shipped datasets.
inline constexpr const char* kDatasetPath = "MODELSLIM_DATASET_PATH";
// The custom practice repository: the reference's name first, then modelslim's alias.
inline constexpr const char* kCustomPracticeRepo = "MSMODELSLIM_CUSTOM_PRACTICE_REPO";
inline constexpr const char* kCustomPracticeRepoAlias = "MODELSLIM_CUSTOM_PRACTICE_REPO";
// Set by the dp_layer_wise supervisor for its ranks: the pid that holds the save path's lock.
inline constexpr const char* kSavePathLockedBy = "MODELSLIM_SAVE_PATH_LOCKED_BY";
// Tests only: pause a run after its output is complete and before it is published.
inline constexpr const char* kTestPauseBeforeCommit = "MODELSLIM_TEST_PAUSE_BEFORE_COMMIT";
// Mixture-of-experts blocks in groups (docs/architecture.md): 0 loads sparse blocks whole; the MiB of
// float32 expert weights one group may hold (default min(256, MemAvailable / 8)).
inline constexpr const char* kExpertStreaming = "MODELSLIM_EXPERT_STREAMING";
inline constexpr const char* kExpertMemoryMib = "MODELSLIM_EXPERT_MEMORY_MIB";

// "0" leaves every sched_yield to the kernel; unset or "1": the executable's brief user-space spin
// (apps/modelslim/spin_yield.hpp).
inline constexpr const char* kSpinYield = "MODELSLIM_SPIN_YIELD";

// torchrun's rendezvous variables, read by a dp_layer_wise rank started by a launcher.
inline constexpr const char* kRank = "RANK";
inline constexpr const char* kWorldSize = "WORLD_SIZE";
inline constexpr const char* kMasterAddr = "MASTER_ADDR";
inline constexpr const char* kMasterPort = "MASTER_PORT";

}  // namespace modelslim::core::env
