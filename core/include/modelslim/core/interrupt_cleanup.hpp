// SIGINT/SIGTERM during a run: remove the registered staging directories (and lock files), then die of the
// same signal. A handler only writes to a pipe; a watcher thread does the work, under the same mutex that
// StagingDir::commit holds while it renames, so a directory is either published whole or removed.
#pragma once

#include <filesystem>
#include <mutex>

namespace modelslim::core {

// Installs the handlers once (the first call); later calls do nothing.
void install_interrupt_cleanup();
// Paths removed (recursively) when a SIGINT/SIGTERM arrives; unregister before publishing or removing them.
void register_interrupt_cleanup(const std::filesystem::path& path);
void unregister_interrupt_cleanup(const std::filesystem::path& path);
// Held by the watcher while it cleans up; hold it around a rename that must not be interrupted half-way.
std::recursive_mutex& interrupt_cleanup_mutex();

}  // namespace modelslim::core
