#include "aisbench_runner.hpp"

#include <array>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine_command.hpp"
#include "engine_process.hpp"
#include "modelslim/atomic_file.hpp"
#include "modelslim/error.hpp"
#include "subprocess.hpp"
#include "yaml_values.hpp"

namespace modelslim::service {
namespace {

std::string safe_name(const std::string& text) {
  return std::regex_replace(text, std::regex("[^0-9A-Za-z_-]+"), "_");
}

// Where ais_bench keeps its model configs: model_meta.directory, else its package's configs/models/<subdir>.
std::filesystem::path model_config_dir(const AisbenchSettings& s) {
  if (!s.model_meta.directory.empty()) return s.model_meta.directory;
  std::string package;
  if (FILE* pipe = ::popen("python3 -c \"import importlib.util as u; s = u.find_spec('ais_bench'); "
                           "print(s.submodule_search_locations[0] if s else '')\" 2>/dev/null",
                           "r")) {
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) package += buffer.data();
    ::pclose(pipe);
  }
  while (!package.empty() && (package.back() == '\n' || package.back() == '\r')) package.pop_back();
  if (package.empty())
    throw Error(
        ErrorCode::kIo, "cannot locate the ais_bench Python package (python3 finds no 'ais_bench')",
        "set evaluation.evaluation.aisbench.model_meta.directory to ais_bench's configs/models/vllm_api");
  return std::filesystem::path(package) / "benchmark" / "configs" / "models" / s.model_meta.subdir;
}

std::string model_config(const ServiceConfig& c, const AisbenchDataset& d,
                         const std::filesystem::path& model) {
  const AisbenchSettings& s = c.aisbench;
  const double rate = d.request_rate > 0 ? d.request_rate : s.request_rate;
  std::ostringstream py;
  py << "from ais_bench.benchmark.models import " << d.api_chat_type << "\n";
  if (!s.pred_postprocessor.empty())
    py << "from ais_bench.benchmark.utils.model_postprocessors import " << s.pred_postprocessor << "\n";
  py << "models = [\n    dict(\n"
     << "        attr=" << python_literal(s.model_meta.attr) << ",\n"
     << "        type=" << d.api_chat_type << ",\n"
     << "        abbr=" << python_literal(s.model_meta.abbr) << ",\n"
     << "        path=" << python_literal(model.string()) << ",\n"
     << "        model=" << python_literal(c.server.served_model_name) << ",\n"
     << "        request_rate=" << python_literal(rate) << ",\n"
     << "        retry=" << s.retry << ",\n"
     << "        host_ip=" << python_literal(c.server.host) << ",\n"
     << "        host_port=" << c.server.port << ",\n"
     << "        max_out_len=" << d.max_out_len.value_or(s.max_out_len) << ",\n"
     << "        batch_size=" << s.batch_size << ",\n";
  if (d.returns_tool_calls)
    py << "        returns_tool_calls=" << (*d.returns_tool_calls ? "True" : "False") << ",\n";
  py << "        trust_remote_code=" << (s.trust_remote_code ? "True" : "False") << ",\n"
     << "        generation_kwargs="
     << python_literal(json_of(s.generation_kwargs).is_null() ? nlohmann::json::object()
                                                              : json_of(s.generation_kwargs))
     << ",\n";
  if (d.chat_template_kwargs.IsDefined() && !d.chat_template_kwargs.IsNull())
    py << "        chat_template_kwargs=" << python_literal(json_of(d.chat_template_kwargs)) << ",\n";
  if (!s.pred_postprocessor.empty())
    py << "        pred_postprocessor=dict(type=" << s.pred_postprocessor << "),\n";
  py << "    )\n]\n";
  return py.str();
}

// Removes the generated model config however the run ends (when cleanup_model_config).
struct ConfigFile {
  std::filesystem::path path;
  bool remove;
  ~ConfigFile() {
    std::error_code ignored;
    if (remove) std::filesystem::remove(path, ignored);
  }
};

[[noreturn]] void no_accuracy(const std::string& dataset, const std::string& why, const std::string& where) {
  throw Error(ErrorCode::kIo, "ais_bench gave no accuracy for " + dataset + ": " + why,
              "read " + where +
                  "; a benchmark that cannot run is no result of the candidate, so nothing is "
                  "recorded and a rerun evaluates it again");
}

double parse_accuracy(const std::string& log_text, const AisbenchSettings& s, const std::string& dataset,
                      const std::string& log) {
  std::smatch match;
  static const std::regex folder(R"(Current exp folder:\s*([^\r\n]+))", std::regex::icase);
  if (!std::regex_search(log_text, match, folder))
    no_accuracy(dataset, "its output names no 'Current exp folder'", log);
  std::string exp = match.str(1);
  while (!exp.empty() && exp.back() == ' ') exp.pop_back();
  const std::filesystem::path results = std::filesystem::path(exp) / "results" / s.model_meta.abbr;
  if (!std::filesystem::is_directory(results))
    no_accuracy(dataset, "no results directory " + results.string(), exp);
  for (const auto& entry : std::filesystem::directory_iterator(results)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    const nlohmann::json value = nlohmann::json::parse(in, nullptr, false);
    for (const std::string& key : s.metric_keys)
      if (value.is_object() && value.contains(key) && value[key].is_number()) return value[key].get<double>();
    no_accuracy(dataset, entry.path().string() + " has none of the keys of default_metric_keys",
                entry.path().string());
  }
  no_accuracy(dataset, "no JSON file in " + results.string(), exp);
}

}  // namespace

void require_aisbench(const AisbenchSettings& settings) {
  if (find_program(settings.binary)) return;
  throw Error(
      ErrorCode::kUnsupported,
      "evaluation.evaluation.type aisbench runs the '" + settings.binary + "' program, which is not on PATH",
      "install AISBench (pip install ais_bench_benchmark) and put ais_bench on PATH, or use the native "
      "runner, which needs no Python: evaluation.evaluation.type: native with datasets {name: {path, "
      "task}} (docs/service-oriented.md)");
}

double run_aisbench_dataset(const ServiceConfig& config, const AisbenchDataset& dataset,
                            const std::filesystem::path& served_model, const std::filesystem::path& out_dir,
                            const std::string& trial) {
  const AisbenchSettings& s = config.aisbench;
  const std::filesystem::path dir = model_config_dir(s);
  if (!std::filesystem::is_directory(dir))
    throw Error(ErrorCode::kIo, "ais_bench's model config directory " + dir.string() + " does not exist",
                "set evaluation.evaluation.aisbench.model_meta.directory");
  const std::string suffix = s.model_meta.name_suffix == "auto" || s.model_meta.name_suffix.empty()
                                 ? "trial_" + trial
                                 : s.model_meta.name_suffix;
  const std::string name = safe_name(s.model_meta.base_name) + "_" + safe_name(suffix);
  const ConfigFile file{dir / (name + ".py"), s.cleanup_model_config};
  write_file_atomic(file.path, model_config(config, dataset, served_model));
  std::vector<std::string> argv = {s.binary,
                                   "--models",
                                   name,
                                   "--datasets",
                                   dataset.config_name,
                                   "--mode",
                                   dataset.mode.empty() ? s.mode : dataset.mode,
                                   "--work-dir",
                                   (out_dir / "aisbench_output").string()};
  argv.insert(argv.end(), s.extra_args.begin(), s.extra_args.end());
  argv.insert(argv.end(), dataset.extra_args.begin(), dataset.extra_args.end());
  const std::filesystem::path log_dir =
      s.log_dir.empty() ? out_dir / "aisbench_logs" : std::filesystem::path(s.log_dir);
  std::filesystem::create_directories(log_dir);
  const std::filesystem::path log = log_dir / (dataset.name + "_trial" + trial + ".log");
  std::filesystem::remove(log);
  std::ofstream(log) << "[COMMAND]\n" << shell_line(argv) << "\n\n";
  const RunResult run = run_logged(argv, log, s.timeout);
  if (run.timed_out) no_accuracy(dataset.name, "it ran past aisbench.timeout", log.string());
  if (run.exit_code != 0)
    no_accuracy(dataset.name, "exit code " + std::to_string(run.exit_code), log.string());
  const std::string text = file_tail(log, 1 << 20);
  return parse_accuracy(text, s, dataset.name, log.string());
}

}  // namespace modelslim::service
