// One function per subcommand; each parses its own flags (private to the CLI).
#pragma once

#include <cstddef>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace modelslim::core {

class PluginRegistry;

// Bad flags or flag values: exit code 2 with a usage hint.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

int run_quant_command(const std::vector<std::string>& args);
int run_plugins_command(const std::vector<std::string>& args);
int run_eval_command(const std::vector<std::string>& args);
int run_generate_command(const std::vector<std::string>& args);
int run_analyze_command(const std::vector<std::string>& args);
int run_tune_command(const std::vector<std::string>& args);
int run_serve_command(const std::vector<std::string>& args);

// Parses a subcommand's flags. nullopt when --help was given: the options and `help_footer` were printed
// and the command should exit 0.
std::optional<boost::program_options::variables_map> parse_command_line(
    const std::vector<std::string>& args, const boost::program_options::options_description& options,
    const std::string& help_footer = "\n",
    const boost::program_options::positional_options_description* positional = nullptr);
// UsageError "--<flag> is required" for the first of `flags` the command line lacks.
void require_flags(const boost::program_options::variables_map& values,
                   std::initializer_list<const char*> flags);

// Flags every command shares: --plugin-dir (repeatable) and --log-level.
void add_common_options(boost::program_options::options_description& options);
// Applies --log-level and loads plugins from the default dirs, MODELSLIM_PLUGIN_PATH and --plugin-dir.
void apply_common_options(const boost::program_options::variables_map& values, PluginRegistry& registry);
// The reference's booleans: exactly True or False (also true/false).
bool parse_bool_flag(const std::string& flag, const std::string& value);

// --max_calib_tokens N (quant, tune, analyze): calibration samples are cut to their first N tokens.
void add_max_calib_tokens_option(boost::program_options::options_description& options);
// The flag's value (nullopt when absent); UsageError unless a positive integer.
std::optional<std::size_t> max_calib_tokens_flag(const boost::program_options::variables_map& values);

}  // namespace modelslim::core
