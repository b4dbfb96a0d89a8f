// Shared by the benchmarks: running a child process (its wall time and its own peak RSS), flag parsing,
// the build-tree paths and the calibration file. Header-only: each bench stays one executable of one .cpp.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace bench {

namespace fs = std::filesystem;

struct Measurement {
  double seconds = 0;
  double peak_rss_mib = 0;
  double user_seconds = 0;    // CPU time of the child in user space (all its threads)
  double system_seconds = 0;  // ... and in the kernel (page faults, I/O, scheduler calls)
};

inline fs::path bin_dir() {
  return fs::read_symlink("/proc/self/exe").parent_path();
}

inline fs::path plugin_dir() {
  return bin_dir().parent_path() / "lib" / "modelslim" / "plugins";
}

// Runs argv as a child and reports its wall time and peak RSS (ru_maxrss of that child only). Exits on
// failure: a benchmark of a failed run means nothing. With `log`, the child's stdout and stderr go there.
inline Measurement run_child(const std::vector<std::string>& argv, const fs::path& log = {}) {
  std::fflush(nullptr);  // the child would write our unflushed output again
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!log.empty()) {
      if (std::freopen(log.c_str(), "w", stdout) == nullptr) std::_Exit(126);
      ::dup2(::fileno(stdout), 2);
    }
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::perror("execv");
    std::_Exit(127);
  }
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cerr << "command failed: " << argv[0] << (log.empty() ? "" : " (log: " + log.string() + ")") << "\n";
    std::exit(1);
  }
  Measurement m;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  const auto to_seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  m.user_seconds = to_seconds(usage.ru_utime);
  m.system_seconds = to_seconds(usage.ru_stime);
  return m;
}

// The benchmarks delete what they make under --work (models, outputs, the work directory itself). A --work
// they did not make (non-empty, without this marker) is refused, never emptied; a new or empty one is marked.
inline constexpr const char* kWorkMarker = ".modelslim-bench";
inline fs::path claim_work_dir(const fs::path& work) {
  std::error_code error;
  if (fs::exists(work, error) && !fs::is_empty(work, error) && !fs::exists(work / kWorkMarker, error)) {
    std::fprintf(stderr,
                 "--work %s is a non-empty directory that no modelslim benchmark made (no %s in it); the "
                 "benchmarks delete what they write there: choose another --work or remove it yourself\n",
                 work.c_str(), kWorkMarker);
    std::exit(1);
  }
  fs::create_directories(work);
  std::ofstream(work / kWorkMarker) << "{\"tool\": \"modelslim benchmarks\"}\n";
  return work;
}

inline std::string arg_value(int argc, char** argv, const std::string& flag, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == flag) return argv[i + 1];
  }
  return fallback;
}

// A random Llama checkpoint (byte tokenizer) from data/demo/config.json with `overrides` (key=value).
inline void make_random_model(const fs::path& output, const std::string& dtype,
                              const std::vector<std::string>& overrides) {
  std::vector<std::string> argv = {(bin_dir() / "make_random_model").string(),
                                   "--config",
                                   (fs::path(MODELSLIM_BENCH_SOURCE_DIR) / "data/demo/config.json").string(),
                                   "--output",
                                   output.string(),
                                   "--byte-tokenizer",
                                   "--dtype",
                                   dtype};
  for (const auto& item : overrides) {
    argv.push_back("--set");
    argv.push_back(item);
  }
  run_child(argv);
}

// The first `samples` texts of the default calibration set, cut to `chars` characters, one plain-text line
// each (the dataset reader takes non-JSON lines verbatim; the byte tokenizer makes one token per byte).
inline void write_calibration(const fs::path& file, int samples, std::size_t chars) {
  std::ifstream in(fs::path(MODELSLIM_BENCH_SOURCE_DIR) / "data" / "datasets" / "kjv_calib.jsonl");
  std::ofstream out(file);
  const std::string key = "\"inputs_pretokenized\": \"";
  std::string line;
  for (int i = 0; i < samples && std::getline(in, line);) {
    const auto begin = line.find(key);
    if (begin == std::string::npos) continue;
    std::string text = line.substr(begin + key.size(), chars);
    text.erase(text.find_last_not_of("\\\"") + 1);  // never end on half an escape
    out << text << "\n";
    ++i;
  }
}

}  // namespace bench
