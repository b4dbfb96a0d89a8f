#include <ATen/ATen.h>

#include <iostream>

#include "cli_commands.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/tokenizer.hpp"

namespace po = boost::program_options;

namespace modelslim::core {

int run_generate_command(const std::vector<std::string>& args) {
  po::options_description options("modelslim generate --model_path DIR --prompt TEXT [--max_new_tokens 200]");
  options.add_options()("help,h", "show this help")("model_path", po::value<std::string>(), "checkpoint")(
      "prompt", po::value<std::string>(), "text to continue")(
      "max_new_tokens", po::value<std::int64_t>()->default_value(200), "tokens to generate (greedy)")(
      "model_type", po::value<std::string>()->default_value(""), "model type (default: config.json)");
  add_common_options(options);
  po::variables_map values;
  po::store(po::command_line_parser(args).options(options).run(), values);
  po::notify(values);
  if (values.count("help")) {
    std::cout << options << "\n";
    return 0;
  }
  if (!values.count("model_path") || !values.count("prompt"))
    throw UsageError("--model_path and --prompt are required");
  PluginRegistry registry;
  apply_common_options(values, registry);
  const auto model =
      registry.load_model(values["model_path"].as<std::string>(), values["model_type"].as<std::string>());
  std::vector<std::int64_t> ids = model->tokenizer().encode(values["prompt"].as<std::string>());
  for (std::int64_t step = 0; step < values["max_new_tokens"].as<std::int64_t>(); ++step) {
    const at::Tensor logits = forward_logits(*model, at::tensor(ids, at::kLong).reshape({1, -1}));
    ids.push_back(logits[0][-1].argmax().item<std::int64_t>());
  }
  std::cout << model->tokenizer().decode(ids) << "\n";
  return 0;
}

}  // namespace modelslim::core
