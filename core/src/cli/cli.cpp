#include "modelslim/core/cli.hpp"

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/program_options.hpp>

#include "cli_commands.hpp"
#include "modelslim/error.hpp"
#include "modelslim/version.hpp"

namespace modelslim::core {
namespace {

const char* kUsage = R"(modelslim — post-training quantization for Hugging Face LLMs

usage: modelslim <command> [options]

commands:
  quant     quantize a model with a practice config or a --quant_type best practice
  eval      evaluate a model and its saved quantized artifact (perplexity, accuracy, fidelity)
  analyze   rank linears or decoder blocks by quantization sensitivity
  tune      search fallback layers and outlier suppression until an accuracy demand is met
  generate  greedy text generation from a checkpoint
  serve     serve a model (float or quantized) over the OpenAI HTTP API
  plugins   list the loaded plugins and the types they provide
  version   print versions

Run 'modelslim <command> --help' for the options of a command.
)";

}  // namespace

int run_cli(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "quant") return run_quant_command(args);
    if (command == "plugins") return run_plugins_command(args);
    if (command == "eval") return run_eval_command(args);
    if (command == "generate") return run_generate_command(args);
    if (command == "analyze") return run_analyze_command(args);
    if (command == "tune") return run_tune_command(args);
    if (command == "serve") return run_serve_command(args);
    if (command == "version" || command == "--version") {
      std::cout << "modelslim " << kVersion << " (SDK ABI " << kSdkAbiMajor << "." << kSdkAbiMinor
                << ", LibTorch " << host_torch_version() << ")\n";
      return 0;
    }
    if (command == "help" || command == "--help" || command == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << "modelslim: unknown command '" << command << "'\n\n" << kUsage;
    return 2;
  } catch (const UsageError& error) {
    std::cerr << "modelslim " << command << ": " << error.what() << "\nRun 'modelslim " << command
              << " --help' for usage.\n";
    return 2;
  } catch (const boost::program_options::error& error) {
    std::cerr << "modelslim " << command << ": " << error.what() << "\nRun 'modelslim " << command
              << " --help' for usage.\n";
    return 2;
  } catch (const Error& error) {
    spdlog::error("{}", describe(error));
    return 1;
  } catch (const std::exception& error) {
    spdlog::error("UnexpectedError (500): {}", error.what());
    return 1;
  }
}

}  // namespace modelslim::core
