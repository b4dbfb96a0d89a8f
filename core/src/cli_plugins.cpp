#include <iomanip>
#include <iostream>

#include "cli_commands.hpp"
#include "modelslim/core/plugin_registry.hpp"

namespace po = boost::program_options;

namespace modelslim::core {

int run_plugins_command(const std::vector<std::string>& args) {
  po::options_description options("modelslim plugins [--plugin-dir DIR]");
  options.add_options()("help,h", "show this help");
  add_common_options(options);
  po::variables_map values;
  po::store(po::command_line_parser(args).options(options).run(), values);
  po::notify(values);
  if (values.count("help")) {
    std::cout << options << "\n";
    return 0;
  }
  PluginRegistry registry;
  apply_common_options(values, registry);
  std::cout << std::left << std::setw(15) << "KIND" << std::setw(20) << "TYPE" << std::setw(18) << "PLUGIN"
            << std::setw(10) << "VERSION"
            << "FILE\n";
  for (const PluginEntry& entry : registry.entries()) {
    std::string type = entry.type;
    if (!entry.model_types.empty()) {
      type += " (";
      for (std::size_t i = 0; i < entry.model_types.size(); ++i)
        type += (i ? "," : "") + entry.model_types[i];
      type += ")";
    }
    std::cout << std::left << std::setw(15) << plugin_kind_name(entry.kind) << std::setw(20) << type
              << std::setw(18) << entry.plugin << std::setw(10) << entry.version << entry.file.string()
              << "\n";
  }
  return 0;
}

}  // namespace modelslim::core
