// Output directories are the user's disk: modelslim only replaces what it created (a marker file in every
// output), never writes over or around its own inputs, and resolves the path the way the kernel will.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace modelslim::core {

// The marker in every directory modelslim creates: {"tool", "version", "command", "time", "pid", "host"}.
inline constexpr const char* kOutputMarker = ".modelslim-output";

// Absolute, without "."/".." or a trailing slash, symlinks of the existing part resolved. Throws Error naming
// `flag` for an empty path or the root directory.
std::filesystem::path normalize_output_path(const std::filesystem::path& path, const std::string& flag);

// Refuses (Error(kIo), naming `flag`, the path and the conflicting input) an output that is a file, a
// non-empty directory without the marker, or that equals, lies inside or contains one of `inputs`
// ({flag, path}). Call it before any work; `save_path` must be normalized.
void check_output_path(const std::filesystem::path& save_path, const std::string& flag,
                       const std::vector<std::pair<std::string, std::filesystem::path>>& inputs);

bool has_output_marker(const std::filesystem::path& dir);
// Writes the marker into `dir` (durably, see atomic_file.hpp).
void write_output_marker(const std::filesystem::path& dir);
// True for a missing directory, an empty one, or one with the marker: modelslim may replace it.
bool replaceable_output(const std::filesystem::path& dir);

}  // namespace modelslim::core
