#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "cli_commands.hpp"
#include "modelslim/core/plugin_registry.hpp"

namespace po = boost::program_options;

namespace modelslim::core {
namespace {

using Row = std::vector<std::string>;

// "llama_adapter (llama,qwen2)": the type and, for model adapters, the model types it takes.
std::string type_cell(const PluginEntry& entry) {
  std::string type = entry.type;
  if (entry.model_types.empty()) return type;
  type += " (";
  for (std::size_t i = 0; i < entry.model_types.size(); ++i) type += (i ? "," : "") + entry.model_types[i];
  return type + ")";
}

// Each column as wide as its widest cell plus two spaces, so no name runs into the next column.
void print_table(const std::vector<Row>& rows, std::ostream& out) {
  std::vector<std::size_t> widths;
  for (const Row& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const Row& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

}  // namespace

int run_plugins_command(const std::vector<std::string>& args) {
  po::options_description options("modelslim plugins [--plugin-dir DIR]");
  options.add_options()("help,h", "show this help");
  add_common_options(options);
  const auto parsed = parse_command_line(args, options);
  if (!parsed) return 0;
  const po::variables_map& values = *parsed;
  PluginRegistry registry;
  apply_common_options(values, registry);
  std::vector<Row> rows{{"KIND", "TYPE", "PLUGIN", "VERSION", "SDK ABI", "FILE"}};
  for (const PluginEntry& entry : registry.entries()) {
    rows.push_back({plugin_kind_name(entry.kind), type_cell(entry), entry.plugin, entry.version,
                    entry.sdk_abi, entry.file.string()});
  }
  print_table(rows, std::cout);
  return 0;
}

}  // namespace modelslim::core
