#include <exception>
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>

#include "cli_commands.hpp"
#include "modelslim/core/paths.hpp"
#include "modelslim/core/plugin_registry.hpp"

namespace po = boost::program_options;

namespace modelslim::core {

std::optional<po::variables_map> parse_command_line(const std::vector<std::string>& args,
                                                    const po::options_description& options,
                                                    const std::string& help_footer,
                                                    const po::positional_options_description* positional) {
  po::command_line_parser parser(args);
  parser.options(options);
  if (positional) parser.positional(*positional);
  po::variables_map values;
  po::store(parser.run(), values);
  po::notify(values);
  if (values.count("help")) {
    std::cout << options << help_footer;
    return std::nullopt;
  }
  return values;
}

void require_flags(const po::variables_map& values, std::initializer_list<const char*> flags) {
  for (const char* flag : flags) {
    if (!values.count(flag)) throw UsageError(std::string("--") + flag + " is required");
  }
}

void add_common_options(po::options_description& options) {
  options.add_options()("plugin-dir", po::value<std::vector<std::string>>()->composing(),
                        "extra directory of plugin libraries (repeatable)")(
      "log-level", po::value<std::string>()->default_value("info"), "trace, debug, info, warn, error");
}

void apply_common_options(const po::variables_map& values, PluginRegistry& registry) {
  const std::string level = values["log-level"].as<std::string>();
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw UsageError("--log-level '" + level + "': expected trace, debug, info, warn, error or off");
  }
  spdlog::set_level(parsed);
  for (const auto& dir : default_plugin_dirs()) registry.load_directory(dir);
  if (values.count("plugin-dir")) {
    for (const auto& dir : values["plugin-dir"].as<std::vector<std::string>>()) {
      if (!std::filesystem::is_directory(dir)) throw UsageError("--plugin-dir " + dir + ": not a directory");
      registry.load_directory(dir);
    }
  }
}

void add_max_calib_tokens_option(po::options_description& options) {
  options.add_options()("max_calib_tokens", po::value<std::string>(),
                        "cut calibration samples to their first N tokens (always at most config.json "
                        "max_position_embeddings)");
}

std::optional<std::size_t> max_calib_tokens_flag(const po::variables_map& values) {
  if (!values.count("max_calib_tokens")) return std::nullopt;
  const std::string text = values["max_calib_tokens"].as<std::string>();
  std::size_t used = 0;
  long long tokens = 0;
  try {
    tokens = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || tokens <= 0) {
    throw UsageError("--max_calib_tokens '" + text + "': expected a positive number of tokens");
  }
  return static_cast<std::size_t>(tokens);
}

bool parse_bool_flag(const std::string& flag, const std::string& value) {
  if (value == "True" || value == "true") return true;
  if (value == "False" || value == "false") return false;
  throw UsageError(flag + " '" + value + "': expected True or False");
}

}  // namespace modelslim::core
