// Tuning speed with and without reuse (bench (e)): `modelslim tune` with --block_reuse True and False, each
// into a fresh directory, on (1) the hard demo model with the shipped plan (target ratio ≥ 2) and (2) a
// 16-block random model of the demo's width with outliers planted in its last blocks (as the hard demo has
// them in its later blocks), tuned with the same plan at a 0.2% demand (target ≥ 3). Prints wall and CPU
// time, the load average, candidates evaluated, evaluations per minute (wall, and per CPU minute, which the
// shared machine's load does not stretch) and their ratios, and checks that both runs saved byte-identical
// models and measured the same value for every candidate.
//
//   build/bin/tune_reuse_bench [--work DIR]
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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
    // The output marker (.modelslim-output) records the run's time and pid: not part of the model.
    if (!entry.is_regular_file() || entry.path().filename() == ".modelslim-output") continue;
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

// The "[tune] #k <id> ... <metric> <value> ..." lines without their timing and counters: both runs must
// list the same candidates with the same measurements.
std::string verdicts(const bench::fs::path& log) {
  std::ifstream in(log);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("[tune] #", 0) != 0) continue;
    out += line.substr(0, line.find("  (")) + "\n";
  }
  return out;
}

struct Case {
  std::string label;
  bench::fs::path model;
  bench::fs::path plan;
  double target;
};

// The demo plan with a tighter demand: a random model's near-uniform perplexity moves by under 1% with W8A8,
// so the shipped 1% would pass the first candidate and leave nothing to reuse.
bench::fs::path tight_plan(const bench::fs::path& demo_plan, const bench::fs::path& work) {
  std::string text = read(demo_plan);
  const std::string from = "relative_tolerance: 0.01";
  const auto at = text.find(from);
  if (at == std::string::npos) {
    std::fprintf(stderr, "%s: no '%s' to tighten\n", demo_plan.c_str(), from.c_str());
    std::exit(1);
  }
  text.replace(at, from.size(), "relative_tolerance: 0.002");
  const bench::fs::path plan = work / "deep16-plan.yaml";
  std::ofstream(plan) << text;
  return plan;
}

// The 1-minute load average: on a shared machine wall times stretch with it, CPU times much less.
std::string load_average() {
  std::string text = read("/proc/loadavg");
  return text.substr(0, text.find(' '));
}

// Both runs of one case; returns whether the target was met with identical outputs.
bool run_case(const Case& c, const bench::fs::path& work) {
  double rate[2] = {0, 0};
  double cpu_rate[2] = {0, 0};  // evaluations per CPU minute (user + system): what load does not stretch
  for (const bool reuse : {false, true}) {
    const std::string load_before = load_average();
    const std::string label = reuse ? "reuse" : "no-reuse";
    const bench::fs::path log = work / (label + ".log");
    // The child's stdout goes to a log through a shell, so the progress lines can be counted.
    const bench::Measurement m = bench::run_child(
        {"/bin/sh", "-c",
         (bench::bin_dir() / "modelslim").string() + " tune --model_path " + c.model.string() + " --config " +
             c.plan.string() + " --save_path " + (work / label).string() + " --block_reuse " +
             (reuse ? "True" : "False") + " > " + log.string() + " 2>&1"});
    const std::size_t n = evaluated(log);
    const double cpu = m.user_seconds + m.system_seconds;
    rate[reuse ? 1 : 0] = static_cast<double>(n) / (m.seconds / 60.0);
    cpu_rate[reuse ? 1 : 0] = static_cast<double>(n) / (cpu / 60.0);
    std::printf(
        "%s %-9s wall %.1f s, CPU %.1f s (user %.1f, system %.1f), %zu candidates evaluated, %.2f "
        "evaluations/min (%.2f per CPU minute), peak RSS %.1f MiB, load average %s -> %s\n",
        c.label.c_str(), label.c_str(), m.seconds, cpu, m.user_seconds, m.system_seconds, n,
        rate[reuse ? 1 : 0], cpu_rate[reuse ? 1 : 0], m.peak_rss_mib, load_before.c_str(),
        load_average().c_str());
  }
  const bool identical = same_tree(work / "reuse" / "quant_model", work / "no-reuse" / "quant_model") &&
                         verdicts(work / "reuse.log") == verdicts(work / "no-reuse.log");
  const double ratio = rate[1] / rate[0];
  std::printf("%s saved models and candidate measurements identical: %s\n", c.label.c_str(),
              identical ? "yes" : "NO");
  std::printf("%s evaluations/min ratio reuse / no-reuse = %.3f (target >= %.1f): %s\n", c.label.c_str(),
              ratio, c.target, ratio >= c.target ? "PASS" : "FAIL");
  std::printf(
      "%s per CPU minute ratio reuse / no-reuse = %.3f (load-independent; docs/performance.md (e) "
      "explains the ceiling)\n",
      c.label.c_str(), cpu_rate[1] / cpu_rate[0]);
  return identical && ratio >= c.target;
}

// A 16-block random model of the hard demo's shape (its tokenizer) with outliers planted in blocks 13–15.
bench::fs::path make_deep_model(const bench::fs::path& work, const bench::fs::path& source) {
  const bench::fs::path random = work / "random16";
  const bench::fs::path model = work / "deep16";
  if (bench::fs::exists(model / "planted.json")) return model;
  const std::string bin = bench::bin_dir().string();
  const std::string make = bin + "/make_random_model --config " + (source / "data/demo-model-hard").string() +
                           " --tokenizer-from " + (source / "data/demo-model-hard").string() +
                           " --set num_hidden_layers=16 --output " + random.string();
  const std::string plant = bin + "/plant_outliers --model_path " + random.string() + " --output " +
                            model.string() +
                            " --norm model.layers.13.input_layernorm,model.layers.15.post_attention_layernorm"
                            " --down model.layers.14";
  if (std::system((make + " > /dev/null && " + plant + " > /dev/null").c_str()) != 0) {
    std::fprintf(stderr, "cannot make the 16-block model\n");
    std::exit(1);
  }
  return model;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::fs::path root =
      bench::claim_work_dir(bench::arg_value(argc, argv, "--work", "/tmp/modelslim-bench"));
  const bench::fs::path work = root / "tune-reuse";
  const bench::fs::path source = MODELSLIM_BENCH_SOURCE_DIR;
  const bench::fs::path plan = source / "data/tune/demo-standing-high.yaml";
  bench::fs::remove_all(work);
  const std::vector<Case> cases = {{"demo", source / "data/demo-model-hard", plan, 2.0},
                                   {"16-block", make_deep_model(root, source), tight_plan(plan, root), 3.0}};
  bool met = true;
  for (const Case& c : cases) {
    bench::fs::create_directories(work / c.label);
    met = run_case(c, work / c.label) && met;
  }
  bench::fs::remove_all(work);
  return met ? 0 : 1;
}
