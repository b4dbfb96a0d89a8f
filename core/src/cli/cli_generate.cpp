#include <ATen/ATen.h>

#include <iostream>

#include "cli_commands.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/text_generator.hpp"
#include "modelslim/tokenizer.hpp"

namespace po = boost::program_options;

namespace modelslim::core {
namespace {

po::options_description generate_options() {
  po::options_description options(
      "modelslim generate --model_path DIR [--quant_path SAVED] --prompt TEXT [--max_new_tokens 200]");
  options.add_options()("help,h", "show this help")("model_path", po::value<std::string>(), "checkpoint")(
      "quant_path", po::value<std::string>(), "saved quantized model to run (deployed arithmetic)")(
      "prompt", po::value<std::string>(), "text to continue")(
      "max_new_tokens", po::value<std::int64_t>()->default_value(200), "most tokens to generate")(
      "temperature", po::value<double>()->default_value(0.0), "0 = greedy; > 0 samples")(
      "top_p", po::value<double>()->default_value(1.0), "nucleus sampling mass in (0, 1]")(
      "top_k", po::value<std::int64_t>()->default_value(0), "sample among the k most likely (0 = all)")(
      "seed", po::value<std::uint64_t>(), "sampling seed (same seed, same output)")(
      "stop", po::value<std::vector<std::string>>()->composing(), "stop before this text (repeatable)")(
      "model_type", po::value<std::string>()->default_value(""), "model type (default: config.json)");
  add_common_options(options);
  return options;
}

SamplingParams sampling_flags(const po::variables_map& values) {
  SamplingParams params;
  params.max_tokens = values["max_new_tokens"].as<std::int64_t>();
  params.temperature = values["temperature"].as<double>();
  params.top_p = values["top_p"].as<double>();
  params.top_k = values["top_k"].as<std::int64_t>();
  if (params.max_tokens < 0) throw UsageError("--max_new_tokens must be >= 0");
  if (!(params.temperature >= 0.0)) throw UsageError("--temperature must be >= 0 (0 = greedy)");
  if (!(params.top_p > 0.0 && params.top_p <= 1.0)) throw UsageError("--top_p must be in (0, 1]");
  if (params.top_k < 0) throw UsageError("--top_k must be >= 0 (0 = no limit)");
  if (values.count("seed")) params.seed = values["seed"].as<std::uint64_t>();
  if (values.count("stop")) params.stop = values["stop"].as<std::vector<std::string>>();
  return params;
}

}  // namespace

int run_generate_command(const std::vector<std::string>& args) {
  const po::options_description options = generate_options();
  const auto parsed = parse_command_line(args, options);
  if (!parsed) return 0;
  const po::variables_map& values = *parsed;
  require_flags(values, {"model_path", "prompt"});
  const SamplingParams params = sampling_flags(values);
  PluginRegistry registry;
  apply_common_options(values, registry);
  GeneratorOptions generator_options{values["model_path"].as<std::string>(), std::nullopt,
                                     values["model_type"].as<std::string>()};
  if (values.count("quant_path")) generator_options.quant_path = values["quant_path"].as<std::string>();
  const auto generator = open_text_generator(registry, generator_options);
  const std::vector<std::int64_t> ids = generator->tokenizer().encode(values["prompt"].as<std::string>());
  // The prompt as the tokenizer reads it back, then the continuation streamed as it is generated.
  std::cout << generator->tokenizer().decode(ids) << std::flush;
  const Generation generation = generator->generate(ids, params, [](const std::string& delta) {
    std::cout << delta << std::flush;
    return true;
  });
  std::cout << "\n";
  return 0;
}

}  // namespace modelslim::core
