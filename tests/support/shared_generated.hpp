// Generated fixtures shared by the test cases of one process (defined in test_support.cpp).
#pragma once

#include <filesystem>
#include <string>

namespace modelslim::test {

// Runs `generator + " --output <dir>"` the first time a given `generator` command line is asked for in this
// process and returns <dir> every time. A generator is a LibTorch process (~1.1 s to start) plus its writes;
// a case that only reads the model shares it, a case that changes it copies it first (copy_dir). Throws with
// the generator's output when it fails.
std::filesystem::path shared_generated(const std::string& generator);

// Copies the directory `from` (recursively) to `to`, which must not exist, and returns `to`.
std::filesystem::path copy_dir(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace modelslim::test
