// `modelslim serve`: load the model once, serve it over the OpenAI API until SIGINT/SIGTERM.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli_commands.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/serve.hpp"
#include "modelslim/core/text_generator.hpp"
#include "serve/stop_signals.hpp"

namespace po = boost::program_options;

namespace modelslim::core {
namespace {

// A shutdown that has not finished by then (a connection stuck in a long computation) ends the process
// anyway, so SIGTERM always exits 0 within 2 s.
constexpr std::chrono::milliseconds kShutdownDeadline{1500};

po::options_description serve_options() {
  po::options_description options(
      "modelslim serve --model_path DIR [--quant_path SAVED] [--host 127.0.0.1] [--port 8000]");
  options.add_options()("help,h", "show this help")("model_path", po::value<std::string>(),
                                                    "the float checkpoint (tokenizer, config.json)")(
      "quant_path", po::value<std::string>(), "a saved quantized model, run with the deployed arithmetic")(
      "model_type", po::value<std::string>()->default_value(""), "model type (default: config.json)")(
      "host", po::value<std::string>()->default_value("127.0.0.1"), "address to listen on")(
      "port", po::value<int>()->default_value(8000), "port to listen on (0: any free port, printed)")(
      "served_model_name", po::value<std::string>(),
      "the model name of the API (default: --model_path as given)")(
      "max_queue", po::value<std::size_t>()->default_value(32),
      "requests that may wait for the generator; more get 503")(
      "max_body_mb", po::value<double>()->default_value(8), "largest request body in MiB; larger get 413")(
      "read_timeout", po::value<double>()->default_value(15),
      "seconds a client has to send a whole request (408)")(
      "write_timeout", po::value<double>()->default_value(15), "seconds each write to a client may wait")(
      "keep_alive_timeout", po::value<double>()->default_value(5), "seconds an idle connection is kept");
  add_common_options(options);
  return options;
}

std::chrono::milliseconds seconds_flag(const po::variables_map& values, const char* flag) {
  const double seconds = values[flag].as<double>();
  if (!(seconds > 0 && seconds <= 86400)) {
    throw UsageError(std::string("--") + flag + " " + std::to_string(seconds) +
                     ": expected seconds in (0, 86400]");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

ServeOptions parse_serve_options(const po::variables_map& values) {
  ServeOptions options;
  options.host = values["host"].as<std::string>();
  options.port = values["port"].as<int>();
  if (options.port < 0 || options.port > 65535) throw UsageError("--port: expected 0 to 65535");
  options.served_model_name = values.count("served_model_name")
                                  ? values["served_model_name"].as<std::string>()
                                  : values["model_path"].as<std::string>();
  options.max_queue = values["max_queue"].as<std::size_t>();
  if (options.max_queue > 4096)
    throw UsageError("--max_queue: expected at most 4096 (each waiter holds a thread)");
  const double body_mb = values["max_body_mb"].as<double>();
  if (!(body_mb > 0 && body_mb <= 1024)) throw UsageError("--max_body_mb: expected (0, 1024] MiB");
  options.max_body_bytes = static_cast<std::size_t>(body_mb * (1 << 20));
  options.read_timeout = seconds_flag(values, "read_timeout");
  options.write_timeout = seconds_flag(values, "write_timeout");
  options.keep_alive_timeout = seconds_flag(values, "keep_alive_timeout");
  return options;
}

// Serves until a signal; the watcher stops the server (again, until run() has returned: a stop that lands
// before the accept loop starts would be lost) and ends the process if shutdown overruns the deadline.
void serve_until_signal(OpenAiServer& server) {
  std::atomic<bool> finished{false};
  serve::StopSignals signals([&] {
    spdlog::info("serve: stopping (signal): cancelling generations, closing connections");
    const auto deadline = std::chrono::steady_clock::now() + kShutdownDeadline;
    while (!finished) {
      server.stop();
      if (std::chrono::steady_clock::now() > deadline) {
        spdlog::warn("serve: connections still open after {} ms; exiting", kShutdownDeadline.count());
        std::cout.flush();
        std::_Exit(0);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  server.run();
  finished = true;
}

}  // namespace

int run_serve_command(const std::vector<std::string>& args) {
  const po::options_description options = serve_options();
  const auto parsed = parse_command_line(args, options);
  if (!parsed) return 0;
  const po::variables_map& values = *parsed;
  require_flags(values, {"model_path"});
  const ServeOptions serve = parse_serve_options(values);
  PluginRegistry registry;
  apply_common_options(values, registry);
  GeneratorOptions generator_options;
  generator_options.model_path = values["model_path"].as<std::string>();
  if (values.count("quant_path")) generator_options.quant_path = values["quant_path"].as<std::string>();
  generator_options.model_type = values["model_type"].as<std::string>();
  const auto generator = open_text_generator(registry, generator_options);
  OpenAiServer server(*generator, serve);
  const int port = server.bind();
  std::cout << "modelslim serve: listening on http://" << serve.host << ":" << port << " (model "
            << serve.served_model_name << ")" << std::endl;
  serve_until_signal(server);
  spdlog::info("serve: stopped");
  return 0;
}

}  // namespace modelslim::core
