// Shared by the libFuzzer targets: the one rule every parser must keep on hostile input is "return, or
// throw modelslim::Error naming the file". Any other exception, a sanitizer report, a signal, a hang or a
// runaway allocation is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "modelslim/error.hpp"

namespace modelslim::fuzz {

// Runs `parse`; an Error is the expected outcome of bad input, everything else escapes to libFuzzer.
template <typename Parse>
void expect_clean(Parse&& parse) {
  try {
    parse();
  } catch (const Error&) {
  }
}

inline std::string as_text(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// A per-process scratch file (the parsers under test read paths, not buffers); /dev/shm when present.
inline std::filesystem::path scratch_file(const std::string& name) {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path base =
        std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    const std::filesystem::path made = base / ("modelslim-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(made);
    return made;
  }();
  return dir / name;
}

inline std::filesystem::path write_scratch(const std::string& name, const std::uint8_t* data,
                                           std::size_t size) {
  const std::filesystem::path file = scratch_file(name);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return file;
}

}  // namespace modelslim::fuzz
