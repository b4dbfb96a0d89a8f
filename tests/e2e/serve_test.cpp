// `modelslim serve` end to end: the real CLI and generator on a tiny random model, driven by curl and node's
// fetch (clients that are not ours) over real HTTP. The HTTP layer's hostile cases are in
// tests/unit/serve_http_test.cpp.
#include "support/doctest.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "modelslim/json_file.hpp"
#include "support/http_clients.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The KJV demo model (4 layers, hidden 192, byte tokenizer) with a chat template added. A trained model, so
// greedy text is readable UTF-8: a random model's bytes are often invalid UTF-8, which JSON answers carry as
// U+FFFD (as vLLM does) while `generate` prints the raw bytes.
fs::path serve_make_model(const test::TempDir& dir) {
  const fs::path model = dir / "model";
  fs::copy(test::source_dir() / "data/demo-model", model, fs::copy_options::recursive);
  json config = fs::exists(model / "tokenizer_config.json") ? read_json_file(model / "tokenizer_config.json")
                                                            : json::object();
  config["chat_template"] =
      "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}"
      "<assistant>{% endif %}";
  test::write_text(model / "tokenizer_config.json", config.dump());
  return model;
}

// A tiny random checkpoint (byte tokenizer, 2048 positions): long generations whose text does not matter.
fs::path make_random_model(const test::TempDir& dir) {
  const fs::path model = dir / "model";
  const auto result = test::run_command(
      (test::build_dir() / "bin" / "make_random_model").string() + " --config " +
      (test::source_dir() / "data/demo/config.json").string() +
      " --byte-tokenizer --scale 0.05 --set hidden_size=64 --set intermediate_size=128 --set "
      "num_hidden_layers=2"
      " --set num_attention_heads=4 --set num_key_value_heads=2 --set head_dim=16 --output " +
      model.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  return model;
}

// `modelslim serve` as a child process on a free port (--port 0; the port is read from its output).
class ServerProcess {
 public:
  ServerProcess(const std::string& args, const fs::path& log) : log_(log) {
    test::write_text(log_, "");  // exists before the child runs: the wait below reads it at once
    const std::string command =
        "exec " + test::modelslim_bin().string() + " serve --port 0 --served_model_name tiny " + args;
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 3000 && port_ == 0; ++i) {
      std::smatch match;
      const std::string text = test::read_text(log_);
      if (std::regex_search(text, match, listening)) port_ = std::stoi(match[1]);
      int status = 0;
      REQUIRE_MESSAGE(::waitpid(pid_, &status, WNOHANG) == 0, (std::string("serve exited: ") + text));
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    REQUIRE_MESSAGE(port_ != 0, test::read_text(log_));
  }
  ~ServerProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  // Sends `signal` and waits for the exit; returns the wait status and the seconds it took.
  int signal_and_wait(int signal, double& seconds) {
    const auto start = std::chrono::steady_clock::now();
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return status;
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string log() const { return test::read_text(log_); }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

json parse(const test::HttpReply& reply) {
  INFO(reply.body);
  REQUIRE(reply.status == 200);
  return json::parse(reply.body);
}

// The continuation `modelslim generate` prints for a prompt (greedy).
std::string generate_continuation(const fs::path& model, const std::string& prompt, int tokens,
                                  const std::string& extra = "") {
  const auto result = test::run_command(test::modelslim_bin().string() + " generate --model_path " +
                                        model.string() + " --prompt '" + prompt + "' --max_new_tokens " +
                                        std::to_string(tokens) + " " + extra + " 2>/dev/null");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  std::string text = result.output;
  if (!text.empty() && text.back() == '\n') text.pop_back();  // generate ends its output with a newline
  // It prints the prompt as the tokenizer reads it back (a BOS text may come first), then the continuation.
  const auto at = text.find(prompt);
  REQUIRE_MESSAGE(at != std::string::npos, text);
  return text.substr(at + prompt.size());
}

const char* const kConcurrentClients = R"(
  const [url, prompt, count] = process.argv.slice(2);
  const ask = () => fetch(url, {method: 'POST', headers: {'content-type': 'application/json'},
                                body: JSON.stringify({model: 'tiny', prompt, max_tokens: 24, temperature: 0})})
                      .then(async (r) => ({status: r.status, body: await r.json()}));
  const replies = await Promise.all(Array.from({length: Number(count)}, ask));
  console.log(JSON.stringify(replies.map((r) => r.status === 200 ? r.body.choices[0].text : 'HTTP ' + r.status)));
)";

}  // namespace

TEST_CASE("serve: greedy completions equal generate, for 16 concurrent node clients, whole and streamed") {
  test::TempDir dir("serve-e2e");
  const fs::path model = serve_make_model(dir);
  const std::string prompt = "And God said";
  const std::string expected = generate_continuation(model, prompt, 24);
  ServerProcess server("--model_path " + model.string(), dir / "serve.log");

  const json models = parse(test::curl(server.url("/v1/models")));
  CHECK(models["data"][0]["id"] == "tiny");

  const json request = {{"model", "tiny"}, {"prompt", prompt}, {"max_tokens", 24}, {"temperature", 0}};
  const json whole = parse(test::curl_post_json(server.url("/v1/completions"), request.dump(), dir));
  CHECK(whole["choices"][0]["text"] == expected);
  CHECK(whole["usage"]["completion_tokens"].get<int>() <= 24);

  const auto node =
      test::run_node(kConcurrentClients, dir, server.url("/v1/completions") + " '" + prompt + "' 16");
  REQUIRE_MESSAGE(node.exit_code == 0, node.output);
  const json texts = json::parse(node.output);
  REQUIRE(texts.size() == 16);
  for (const auto& text : texts) CHECK(text == expected);

  json stream_request = request;
  stream_request["stream"] = true;
  const auto streamed = test::curl_post_json(server.url("/v1/completions"), stream_request.dump(), dir, "-N");
  REQUIRE(streamed.status == 200);
  std::string concatenated;
  for (std::size_t at = 0; (at = streamed.body.find("data: {", at)) != std::string::npos; at += 6) {
    const auto end = streamed.body.find("\n\n", at);
    concatenated +=
        json::parse(streamed.body.substr(at + 6, end - at - 6))["choices"][0]["text"].get<std::string>();
  }
  CHECK(concatenated == expected);
  CHECK(streamed.body.size() >= 14);
  CHECK(streamed.body.substr(streamed.body.size() - 14) == "data: [DONE]\n\n");

  // Chat: the template's prompt (rendered here by hand) continued exactly as a completion of its token ids.
  const json chat = {{"model", "tiny"},
                     {"messages", {{{"role", "user"}, {"content", "Who?"}}}},
                     {"max_tokens", 12},
                     {"temperature", 0}};
  const json chat_reply = parse(test::curl_post_json(server.url("/v1/chat/completions"), chat.dump(), dir));
  const json as_completion = {{"prompt", "<user>Who?\n<assistant>"}, {"max_tokens", 12}, {"temperature", 0}};
  const json completion_reply =
      parse(test::curl_post_json(server.url("/v1/completions"), as_completion.dump(), dir));
  CHECK(chat_reply["choices"][0]["message"]["content"] == completion_reply["choices"][0]["text"]);

  // A hostile request in between does not disturb the next one.
  CHECK(test::curl_post_json(server.url("/v1/completions"), R"({"prompt": "x", "max_tokens": 1e9})", dir)
            .status == 400);
  CHECK(parse(test::curl_post_json(server.url("/v1/completions"), request.dump(),
                                   dir))["choices"][0]["text"] == expected);
}

TEST_CASE("serve: SIGTERM during a generation exits 0 within 2 s") {
  test::TempDir dir("serve-sigterm");
  const fs::path model = make_random_model(dir);
  ServerProcess server("--model_path " + model.string(), dir / "serve.log");
  // A long streamed generation in flight (the client only starts it; its result does not matter).
  const json request = {{"prompt", "In the beginning"}, {"max_tokens", 2000}, {"stream", true}};
  test::write_text(dir / "long.json", request.dump());
  const fs::path received = dir / "received.txt";
  std::thread client([&] {
    test::run_command("curl -sN -H 'Content-Type: application/json' --data-binary @" +
                      (dir / "long.json").string() + " " + server.url("/v1/completions") + " > " +
                      received.string());
  });
  // Wait until tokens flow, so the signal lands during the generation.
  for (int i = 0; i < 600 && (!fs::exists(received) || fs::file_size(received) < 200); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  double seconds = 0;
  const int status = server.signal_and_wait(SIGTERM, seconds);
  client.join();
  INFO(server.log());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(seconds < 2.0);
}

namespace {

// `modelslim eval`'s ppl of the one-text dataset `dataset` (float, or the saved artifact `quant`).
double serve_eval_ppl(const fs::path& model, const std::string& quant_flag, const fs::path& dataset,
                      const fs::path& report) {
  const auto result = test::run_command(test::modelslim_bin().string() + " eval --model_path " +
                                        model.string() + " " + quant_flag + " --dataset " + dataset.string() +
                                        " --metrics ppl --max_tokens 512 --json " + report.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const json measured = read_json_file(report);
  for (const auto& m : measured[quant_flag.empty() ? "float" : "quantized"]) {
    if (m["metric"] == "ppl") return m["value"].get<double>();
  }
  FAIL("no ppl in " << report);
  return 0.0;
}

// exp(-mean token log-prob after the first) from an echo + logprobs completion with no new tokens.
double served_ppl(const ServerProcess& server, const std::string& text, const test::TempDir& dir) {
  const json request = {{"prompt", text}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 0}};
  const json reply = parse(test::curl_post_json(server.url("/v1/completions"), request.dump(), dir));
  const json& logprobs = reply["choices"][0]["logprobs"]["token_logprobs"];
  REQUIRE(logprobs.size() >= 2);
  CHECK(logprobs[0].is_null());
  double sum = 0.0;
  for (std::size_t i = 1; i < logprobs.size(); ++i) sum += logprobs[i].get<double>();
  return std::exp(-sum / double(logprobs.size() - 1));
}

}  // namespace

TEST_CASE("serve: perplexity through echo + logprobs equals modelslim eval's (float and W8A8)") {
  test::TempDir dir("serve-ppl");
  const fs::path model = serve_make_model(dir);
  const std::string text = "In the beginning God created the heaven and the earth.";
  test::write_text(dir / "one.jsonl", json({{"inputs_pretokenized", text}}).dump() + "\n");
  test::write_text(dir / "w8a8.yaml", test::with_dataset(test::kW8A8Practice, dir / "one.jsonl"));
  const auto quant = test::run_command(test::modelslim_bin().string() + " quant --model_path " +
                                       model.string() + " --save_path " + (dir / "w8a8").string() +
                                       " --config_path " + (dir / "w8a8.yaml").string());
  REQUIRE_MESSAGE(quant.exit_code == 0, quant.output);
  std::vector<double> served;
  for (const std::string quant_flag : {std::string(), "--quant_path " + (dir / "w8a8").string()}) {
    CAPTURE(quant_flag);
    ServerProcess server("--model_path " + model.string() + " " + quant_flag, dir / "serve.log");
    served.push_back(served_ppl(server, text, dir));
    const double eval = serve_eval_ppl(model, quant_flag, dir / "one.jsonl", dir / "eval.json");
    MESSAGE("served ppl " << served.back() << ", eval ppl " << eval << ", relative difference "
                          << std::abs(served.back() - eval) / eval);
    CHECK(std::abs(served.back() - eval) / eval < 1e-6);
  }
  CHECK(served[0] != served[1]);  // the artifact is served with its own (quantized) arithmetic
}
