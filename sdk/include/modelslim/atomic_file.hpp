// Durable small-file writing shared by the host and every plugin: a reader (or the next boot after a power
// loss) sees either the previous file or the complete new one, never a truncated file.
#pragma once

#include <filesystem>
#include <string_view>

#include "modelslim/export.hpp"

namespace modelslim {

// Writes `bytes` to a fresh temp file beside `file` (created exclusively), checks every write, fsyncs and
// closes it (both checked), renames it over `file` and fsyncs the directory. On any failure (ENOSPC, EFBIG,
// EIO...) the temp file is removed, `file` keeps its previous content, and Error(kIo) names the file.
MODELSLIM_SDK_API void write_file_atomic(const std::filesystem::path& file, std::string_view bytes);
// Copies `from` to `to` with the same guarantees.
MODELSLIM_SDK_API void copy_file_atomic(const std::filesystem::path& from, const std::filesystem::path& to);
// fsync of one file or directory; throws Error(kIo) naming it.
MODELSLIM_SDK_API void fsync_path(const std::filesystem::path& path);
// fsync of every regular file and directory under `dir` (symlinks are not followed), then of `dir`.
MODELSLIM_SDK_API void fsync_tree(const std::filesystem::path& dir);

}  // namespace modelslim
