#include "engine_command.hpp"

#include <unistd.h>

namespace modelslim::service {
namespace {

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}

// This binary when it is modelslim (the CLI running tune), else `modelslim` from PATH.
std::string modelslim_binary() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error && self.filename() == "modelslim") return self.string();
  return "modelslim";
}

std::string saved(const ServedModel& model) {
  return (model.quant_dir ? *model.quant_dir : model.model_dir).string();
}

std::vector<std::string> python_engine(const EngineConfig& engine, const ServedModel& model) {
  const bool sglang = engine.type == "sglang";
  std::vector<std::string> argv = {
      engine.python, "-m",        engine.entrypoint, sglang ? "--model-path" : "--model", saved(model),
      "--host",      engine.host, "--port",          std::to_string(engine.port)};
  // The reference leaves the name to `args`; without it vLLM serves the model under its path and every
  // request naming served_model_name would be refused, so the name is passed unless args set it.
  if (!engine.args_name_model) argv.insert(argv.end(), {"--served-model-name", engine.served_model_name});
  return argv;
}

std::vector<std::string> modelslim_engine(const EngineConfig& engine, const ServedModel& model) {
  std::vector<std::string> argv = {engine.entrypoint.empty() ? modelslim_binary() : engine.entrypoint,
                                   "serve", "--model_path", model.model_dir.string()};
  if (model.quant_dir) argv.insert(argv.end(), {"--quant_path", model.quant_dir->string()});
  argv.insert(argv.end(), {"--host", engine.host, "--port", std::to_string(engine.port),
                           "--served_model_name", engine.served_model_name});
  return argv;
}

std::vector<std::string> command_engine(const EngineConfig& engine, const ServedModel& model) {
  std::vector<std::string> argv;
  for (std::string word : engine.command) {
    word = replace_all(word, "{model}", saved(model));
    word = replace_all(word, "{quant_path}", saved(model));
    word = replace_all(word, "{model_path}", model.model_dir.string());
    word = replace_all(word, "{host}", engine.host);
    word = replace_all(word, "{port}", std::to_string(engine.port));
    word = replace_all(word, "{served_model_name}", engine.served_model_name);
    argv.push_back(word);
  }
  return argv;
}

}  // namespace

std::vector<std::string> engine_argv(const EngineConfig& engine, const ServedModel& model) {
  std::vector<std::string> argv;
  if (engine.type == "modelslim") {
    argv = modelslim_engine(engine, model);
  } else if (engine.type == "command") {
    argv = command_engine(engine, model);
  } else {
    argv = python_engine(engine, model);
  }
  argv.insert(argv.end(), engine.args.begin(), engine.args.end());
  return argv;
}

std::string shell_line(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& word : argv) {
    const bool plain = !word.empty() && word.find_first_not_of(
                                            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                            "-_./=:,+@%") == std::string::npos;
    line += (line.empty() ? "" : " ") + (plain ? word : "'" + replace_all(word, "'", "'\\''") + "'");
  }
  return line;
}

}  // namespace modelslim::service
