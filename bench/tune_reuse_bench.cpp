// Tuning speed with and without block reuse (bench (e)): `modelslim tune` on the hard demo model with the
// shipped plan, once with --block_reuse True and once False, each into a fresh directory. Prints wall time,
// candidates evaluated, evaluations per minute and their ratio (target ≥ 2), and checks that both runs
// saved byte-identical models.
//
//   build/bin/tune_reuse_bench [--work DIR]
#include <fstream>
#include <sstream>

#include "bench_child.hpp"

namespace {

std::string read(const bench::fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool same_tree(const bench::fs::path& a, const bench::fs::path& b) {
  std::size_t files = 0;
  for (const auto& entry : bench::fs::recursive_directory_iterator(a)) {
    if (!entry.is_regular_file()) continue;
    const auto other = b / bench::fs::relative(entry.path(), a);
    if (!bench::fs::exists(other) || read(entry.path()) != read(other)) return false;
    ++files;
  }
  return files > 0;
}

// Candidates evaluated by the run: one "[tune] #k ... (Ns)" line each; answers from the history say
// "(history)".
std::size_t evaluated(const bench::fs::path& log) {
  std::ifstream in(log);
  std::size_t count = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("[tune] #", 0) == 0 && line.find("(history)") == std::string::npos) ++count;
  }
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::fs::path work = bench::arg_value(argc, argv, "--work", "/tmp/modelslim-bench") + "/tune-reuse";
  const bench::fs::path source = MODELSLIM_BENCH_SOURCE_DIR;
  bench::fs::remove_all(work);
  bench::fs::create_directories(work);
  double rate[2] = {0, 0};
  for (const bool reuse : {false, true}) {
    const std::string label = reuse ? "reuse" : "no-reuse";
    const bench::fs::path log = work / (label + ".log");
    // The child's stdout goes to a log through a shell, so the progress lines can be counted.
    const bench::Measurement m =
        bench::run_child({"/bin/sh", "-c",
                          (bench::bin_dir() / "modelslim").string() + " tune --model_path " +
                              (source / "data/demo-model-hard").string() + " --config " +
                              (source / "data/tune/demo-standing-high.yaml").string() + " --save_path " +
                              (work / label).string() + " --block_reuse " + (reuse ? "True" : "False") +
                              " > " + log.string() + " 2>&1"});
    const std::size_t n = evaluated(log);
    rate[reuse ? 1 : 0] = static_cast<double>(n) / (m.seconds / 60.0);
    std::printf("%-9s wall %.1f s, %zu candidates evaluated, %.2f evaluations/min, peak RSS %.1f MiB\n",
                label.c_str(), m.seconds, n, rate[reuse ? 1 : 0], m.peak_rss_mib);
  }
  const bool identical = same_tree(work / "reuse" / "quant_model", work / "no-reuse" / "quant_model");
  const double ratio = rate[1] / rate[0];
  std::printf("saved models identical: %s\n", identical ? "yes" : "NO");
  std::printf("evaluations/min ratio reuse / no-reuse = %.3f (target >= 2.0): %s\n", ratio,
              ratio >= 2.0 ? "PASS" : "FAIL");
  bench::fs::remove_all(work);
  return identical && ratio >= 2.0 ? 0 : 1;
}
