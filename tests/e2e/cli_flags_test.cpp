// Every subcommand's --help and its required flags (the shared parse_command_line / require_flags).
#include "support/doctest.hpp"

#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace test = modelslim::test;

namespace {

struct Command {
  std::string name;
  std::string usage;                        // the first words of its --help
  std::vector<std::string> required_flags;  // in the order they are checked
};

const std::vector<Command>& commands() {
  static const std::vector<Command> all{
      {"quant", "modelslim quant", {"model_path", "save_path"}},
      {"tune", "modelslim tune", {"model_path", "save_path", "config"}},
      {"eval", "modelslim eval", {"model_path", "dataset"}},
      {"analyze", "modelslim analyze", {"model_path"}},
      {"generate", "modelslim generate", {"model_path", "prompt"}},
      {"serve", "modelslim serve", {"model_path"}},
      {"plugins", "modelslim plugins", {}},
  };
  return all;
}

using modelslim::test::contains;

}  // namespace

TEST_CASE("each subcommand prints its help and exits 0") {
  for (const auto& command : commands()) {
    CAPTURE(command.name);
    const auto result = test::run_command(test::modelslim_bin().string() + " " + command.name + " --help");
    CHECK_MESSAGE(result.exit_code == 0, result.output);
    CHECK_MESSAGE(contains(result.output, command.usage), result.output);
    CHECK_MESSAGE(contains(result.output, "--log-level"), result.output);  // the shared flags are listed
  }
}

TEST_CASE("a missing required flag is a usage error naming it") {
  for (const auto& command : commands()) {
    std::string given;
    for (const auto& flag : command.required_flags) {
      CAPTURE(command.name);
      CAPTURE(flag);
      // Every earlier required flag is present (with a dummy value), so this one is the first missing.
      const auto result = test::run_command(test::modelslim_bin().string() + " " + command.name +
                                            (command.name == "analyze" ? " linear" : "") + given);
      CHECK_MESSAGE(result.exit_code == 2, result.output);
      CHECK_MESSAGE(contains(result.output, "--" + flag + " is required"), result.output);
      given += " --" + flag + " x";
    }
  }
}

TEST_CASE("a MODELSLIM_SPIN_YIELD that is not a switch is refused before any command runs") {
  const std::string bin = test::modelslim_bin().string();
  const auto refused = test::run_command("MODELSLIM_SPIN_YIELD=fast " + bin + " --version");
  CHECK(refused.exit_code == 2);
  CHECK_MESSAGE(contains(refused.output, "MODELSLIM_SPIN_YIELD=fast is not a switch"), refused.output);
  CHECK_FALSE(contains(refused.output, "SDK ABI"));
  const auto off = test::run_command("MODELSLIM_SPIN_YIELD=0 " + bin + " --version");
  CHECK_MESSAGE(off.exit_code == 0, off.output);
}
