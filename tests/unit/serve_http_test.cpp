// modelslim serve's HTTP layer over a scripted TextGenerator (the transport's test double; the real engine
// is served in tests/e2e/serve_test.cpp). Clients are curl, node and raw sockets, not our HTTP code.
#include "support/doctest.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "modelslim/core/serve.hpp"
#include "modelslim/core/text_generator.hpp"
#include "modelslim/tokenizer.hpp"
#include "serve/generation_queue.hpp"
#include "support/http_clients.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
using nlohmann::json;

namespace {

// Output token k of a prompt: a fixed function of the prompt's ids, so every answer can be predicted.
// `hold()` makes generate() wait (emitting nothing, asking the callback whether to go on) until release().
class ScriptedGenerator : public core::TextGenerator {
 public:
  ScriptedGenerator()
      : tokenizer_(Tokenizer::from_file(test::shared_dir() / "data/fake_llama/tokenizer.json")) {}

  const Tokenizer& tokenizer() const override { return tokenizer_; }
  std::int64_t context_length() const override { return 64; }
  std::string chat_template() const override { return template_source; }
  std::string bos_token() const override { return "<s>"; }
  std::string eos_token() const override { return "</s>"; }

  core::Generation generate(const std::vector<std::int64_t>& prompt_ids, const core::SamplingParams& params,
                            const core::TextCallback& on_text) override {
    active_ += 1;
    core::Generation generation = script(prompt_ids, params);
    if (!wait_while_held(on_text)) generation.finish = core::FinishReason::kCancelled;
    for (const char piece : generation.text) {  // streamed a character at a time
      if (generation.finish == core::FinishReason::kCancelled) break;
      if (on_text && !on_text(std::string(1, piece))) generation.finish = core::FinishReason::kCancelled;
    }
    last_finish_ = generation.finish;
    active_ -= 1;
    return generation;
  }

  // What generate() answers, without the callbacks.
  core::Generation script(const std::vector<std::int64_t>& prompt_ids,
                          const core::SamplingParams& params) const {
    core::Generation generation;
    generation.prompt_ids = prompt_ids;
    std::int64_t sum = 0;
    for (const auto id : prompt_ids) sum += id;
    for (std::int64_t k = 0; k < params.max_tokens; ++k) {
      const std::int64_t id = 3 + (sum + 5 * k) % (tokenizer_.vocab_size() - 3);
      const std::string text = generation.text + tokenizer_.decode({id});
      const auto stop = std::find_if(params.stop.begin(), params.stop.end(),
                                     [&](const std::string& s) { return text.find(s) != std::string::npos; });
      if (stop != params.stop.end()) {  // the text ends before the stop string
        generation.text = text.substr(0, text.find(*stop));
        generation.finish = core::FinishReason::kStop;
        break;
      }
      generation.output_ids.push_back(id);
      generation.text = text;
      if (params.logprobs)
        generation.output_logprobs.push_back({id, tokenizer_.decode({id}), -0.25 * (k + 1), {}});
    }
    if (params.echo) {
      for (std::size_t i = 0; i < prompt_ids.size(); ++i) {
        std::optional<double> logprob;
        if (i > 0) logprob = -1.0 - static_cast<double>(i);
        generation.prompt_logprobs.push_back(
            {prompt_ids[i], tokenizer_.decode({prompt_ids[i]}), logprob, {}});
      }
    }
    return generation;
  }

  void hold() {
    const std::lock_guard<std::mutex> lock(mutex_);
    held_ = true;
  }
  void release() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      held_ = false;
    }
    released_.notify_all();
  }
  int active() const { return active_; }
  std::string template_source;
  core::FinishReason last_finish() const { return last_finish_; }

 private:
  bool wait_while_held(const core::TextCallback& on_text) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (held_) {
      released_.wait_for(lock, std::chrono::milliseconds(10));
      if (on_text && !on_text("")) return false;
    }
    return true;
  }

  Tokenizer tokenizer_;
  std::mutex mutex_;
  std::condition_variable released_;
  bool held_ = false;
  std::atomic<int> active_{0};
  std::atomic<core::FinishReason> last_finish_{core::FinishReason::kLength};
};

// The server on a free port, run on its own thread.
class TestServer {
 public:
  explicit TestServer(core::ServeOptions options = {}, const std::string& chat_template = "") {
    generator.template_source = chat_template;
    options.port = 0;
    options.served_model_name = "scripted";
    server_ = std::make_unique<core::OpenAiServer>(generator, options);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
  }
  ~TestServer() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    // A stop before the accept loop started is lost by httplib: repeat until run() returns.
    std::atomic<bool> done{false};
    std::thread stopper([&] {
      while (!done) {
        server_->stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
    thread_.join();
    done = true;
    stopper.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }

  ScriptedGenerator generator;

 private:
  std::unique_ptr<core::OpenAiServer> server_;
  std::thread thread_;
  int port_ = 0;
};

json serve_http_parse(const test::HttpReply& reply) {
  INFO(reply.body);
  return json::parse(reply.body);
}

void check_error(const test::HttpReply& reply, int status, const std::string& param = "") {
  INFO(reply.body);
  CHECK(reply.status == status);
  const json body = json::parse(reply.body, nullptr, false);
  REQUIRE(body.is_object());
  REQUIRE(body.contains("error"));
  for (const char* key : {"message", "type", "param", "code"}) CHECK(body["error"].contains(key));
  CHECK(body["error"]["type"] == (status >= 500 ? "server_error" : "invalid_request_error"));
  if (!param.empty()) CHECK(body["error"]["param"] == param);
}

// A normal request still answered correctly.
void check_still_serving(const TestServer& server, const test::TempDir& dir) {
  const auto reply =
      test::curl_post_json(server.url("/v1/completions"), R"({"prompt": "ab", "max_tokens": 3})", dir);
  REQUIRE(reply.status == 200);
  core::SamplingParams params;
  params.max_tokens = 3;
  const auto expected = server.generator.script(server.generator.tokenizer().encode("ab"), params);
  CHECK(serve_http_parse(reply)["choices"][0]["text"] == expected.text);
}

// A raw connection for what no well-behaved client does.
class RawSocket {
 public:
  explicit RawSocket(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  }
  ~RawSocket() { ::close(fd_); }
  bool send(const std::string& data) { return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) > 0; }
  // True when the server answered or closed within `limit` (a generous bound, not a measurement).
  bool answered_within(std::chrono::milliseconds limit, std::string& received) {
    pollfd fd{fd_, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(limit.count())) <= 0) return false;
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n > 0) received.assign(buffer, static_cast<std::size_t>(n));
    return true;
  }

 private:
  int fd_;
};

}  // namespace

TEST_CASE("completions: prompt forms, echo, logprobs, stop, usage") {
  test::TempDir dir("serve-completions");
  TestServer server;
  const auto& tokenizer = server.generator.tokenizer();
  core::SamplingParams params;
  params.max_tokens = 5;

  auto reply = test::curl_post_json(server.url("/v1/completions"),
                                    R"({"model": "scripted", "prompt": ["abc", "d"], "max_tokens": 5})", dir);
  REQUIRE(reply.status == 200);
  json body = serve_http_parse(reply);
  CHECK(body["object"] == "text_completion");
  CHECK(body["model"] == "scripted");
  REQUIRE(body["choices"].size() == 2);
  const auto abc = server.generator.script(tokenizer.encode("abc"), params);
  const auto d = server.generator.script(tokenizer.encode("d"), params);
  CHECK(body["choices"][0]["text"] == abc.text);
  CHECK(body["choices"][1]["text"] == d.text);
  CHECK(body["choices"][1]["index"] == 1);
  CHECK(body["choices"][0]["finish_reason"] == "length");
  const auto prompt_tokens = tokenizer.encode("abc").size() + tokenizer.encode("d").size();
  CHECK(body["usage"]["prompt_tokens"] == prompt_tokens);
  CHECK(body["usage"]["completion_tokens"] == 10);
  CHECK(body["usage"]["total_tokens"] == prompt_tokens + 10);

  // Token ids, echo and logprobs: the prompt's tokens first (the first without a log-prob).
  reply = test::curl_post_json(server.url("/v1/completions"),
                               R"({"prompt": [5, 6, 7], "max_tokens": 2, "echo": true, "logprobs": 0})", dir);
  REQUIRE(reply.status == 200);
  body = serve_http_parse(reply)["choices"][0];
  params.max_tokens = 2;
  const auto ids = server.generator.script({5, 6, 7}, params);
  CHECK(body["text"] == tokenizer.decode({5, 6, 7}) + ids.text);
  const json& logprobs = body["logprobs"];
  REQUIRE(logprobs["tokens"].size() == 5);
  CHECK(logprobs["token_logprobs"][0].is_null());
  CHECK(logprobs["token_logprobs"][1] == -2.0);
  CHECK(logprobs["token_logprobs"][3] == -0.25);
  CHECK(logprobs["text_offset"][0] == 0);

  // A stop string ends the text before it.
  params.max_tokens = 10;
  const auto full = server.generator.script(tokenizer.encode("abc"), params);
  const std::string stop = full.text.substr(4, 2);
  reply = test::curl_post_json(server.url("/v1/completions"),
                               json({{"prompt", "abc"}, {"max_tokens", 10}, {"stop", stop}}).dump(), dir);
  body = serve_http_parse(reply)["choices"][0];
  CHECK(body["finish_reason"] == "stop");
  CHECK(body["text"] == full.text.substr(0, full.text.find(stop)));

  reply = test::curl(server.url("/v1/models"));
  REQUIRE(reply.status == 200);
  CHECK(serve_http_parse(reply)["data"][0]["id"] == "scripted");
  CHECK(test::curl(server.url("/health")).status == 200);
}

TEST_CASE("stream: server-sent events concatenate to the whole answer and end with [DONE]") {
  test::TempDir dir("serve-stream");
  TestServer server;
  const std::string request = R"({"prompt": ["hello", "xy"], "max_tokens": 7, "stream": true,
                                  "stream_options": {"include_usage": true}})";
  const auto reply = test::curl_post_json(server.url("/v1/completions"), request, dir, "-N");
  REQUIRE(reply.status == 200);
  std::vector<std::string> texts(2);
  std::vector<std::string> finishes(2);
  std::vector<std::string> events;
  std::size_t at = 0;
  while ((at = reply.body.find("data: ", at)) != std::string::npos) {
    const auto end = reply.body.find("\n\n", at);
    REQUIRE(end != std::string::npos);
    events.push_back(reply.body.substr(at + 6, end - at - 6));
    at = end;
  }
  REQUIRE(events.size() >= 3);
  CHECK(events.back() == "[DONE]");
  const json usage = json::parse(events[events.size() - 2]);
  CHECK(usage["usage"]["completion_tokens"] == 14);
  for (std::size_t i = 0; i + 2 < events.size(); ++i) {
    const json chunk = json::parse(events[i])["choices"][0];
    texts[chunk["index"].get<std::size_t>()] += chunk["text"].get<std::string>();
    if (!chunk["finish_reason"].is_null())
      finishes[chunk["index"].get<std::size_t>()] = chunk["finish_reason"];
  }
  core::SamplingParams params;
  params.max_tokens = 7;
  CHECK(texts[0] == server.generator.script(server.generator.tokenizer().encode("hello"), params).text);
  CHECK(texts[1] == server.generator.script(server.generator.tokenizer().encode("xy"), params).text);
  CHECK(finishes == std::vector<std::string>{"length", "length"});
}

TEST_CASE("chat: messages rendered with the model's template, whole and streamed; template errors are 400") {
  test::TempDir dir("serve-chat");
  const std::string chat_template =
      "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system') }}"
      "{% endif %}[{{ m.role | upper }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}[A]{% endif "
      "%}";
  TestServer server({}, chat_template);
  const std::string url = server.url("/v1/chat/completions");
  const std::string messages =
      R"("messages": [{"role": "user", "content": "AB"}, {"role": "assistant", "content": [{"type": "text",
          "text": "C"}, {"type": "text", "text": "D"}]}, {"role": "user", "content": "E"}])";
  // Rendered by hand: the template writes the BOS itself, so the prompt is encoded without special tokens.
  const auto prompt_ids = server.generator.tokenizer().encode("<s>[USER]AB[ASSISTANT]CD[USER]E[A]", false);
  core::SamplingParams params;
  params.max_tokens = 6;
  const auto expected = server.generator.script(prompt_ids, params);

  auto reply = test::curl_post_json(url, "{" + messages + R"(, "max_tokens": 6, "logprobs": true})", dir);
  REQUIRE(reply.status == 200);
  json body = serve_http_parse(reply);
  CHECK(body["object"] == "chat.completion");
  CHECK(body["choices"][0]["message"]["role"] == "assistant");
  CHECK(body["choices"][0]["message"]["content"] == expected.text);
  CHECK(body["choices"][0]["logprobs"]["content"].size() == 6);
  CHECK(body["usage"]["prompt_tokens"] == prompt_ids.size());

  reply = test::curl_post_json(url, "{" + messages + R"(, "max_tokens": 6, "stream": true})", dir, "-N");
  REQUIRE(reply.status == 200);
  std::string streamed;
  std::size_t at = 0, chunks = 0;
  while ((at = reply.body.find("data: {", at)) != std::string::npos) {
    const json delta =
        json::parse(reply.body.substr(at + 6, reply.body.find("\n\n", at) - at - 6))["choices"][0]["delta"];
    if (chunks++ == 0) CHECK(delta["role"] == "assistant");
    streamed += delta.value("content", "");
    at += 6;
  }
  CHECK(streamed == expected.text);
  CHECK(reply.body.find("data: [DONE]\n\n") != std::string::npos);

  check_error(test::curl_post_json(url, R"({"messages": [{"role": "system", "content": "x"}]})", dir), 400,
              "messages");
  check_error(test::curl_post_json(url, R"({"messages": []})", dir), 400, "messages");
  check_error(test::curl_post_json(url, R"({"messages": [{"role": "user", "content": [{"type": 5}]}]})", dir),
              400);
  check_error(test::curl_post_json(url, R"({"messages": [{"content": "x"}]})", dir), 400, "messages");
  check_still_serving(server, dir);
}

TEST_CASE("a chat_template outside the supported subset: completions served, chat answers 400 saying why") {
  test::TempDir dir("serve-bad-template");
  TestServer server({}, "{% for m in messages %}{{ m.content }");
  const auto reply = test::curl_post_json(server.url("/v1/chat/completions"),
                                          R"({"messages": [{"role": "user", "content": "hi"}]})", dir);
  check_error(reply, 400, "messages");
  CHECK(serve_http_parse(reply)["error"]["message"].get<std::string>().find("chat_template") !=
        std::string::npos);
  check_still_serving(server, dir);
}

TEST_CASE("bad requests: an OpenAI error naming the field, and the server keeps serving") {
  test::TempDir dir("serve-bad");
  TestServer server;
  const std::string completions = server.url("/v1/completions");
  check_error(test::curl_post_json(completions, R"({"prompt": "ab", "max_tokens": )", dir), 400);
  check_error(test::curl_post_json(completions, R"([1, 2])", dir), 400);
  check_error(test::curl_post_json(completions, R"({"max_tokens": 3})", dir), 400, "prompt");
  check_error(test::curl_post_json(completions, R"({"prompt": 7})", dir), 400, "prompt");
  check_error(test::curl_post_json(completions, R"({"prompt": [1, 99999]})", dir), 400, "prompt");
  check_error(test::curl_post_json(completions, R"({"prompt": "a", "max_tokens": "5"})", dir), 400,
              "max_tokens");
  check_error(test::curl_post_json(completions, R"({"prompt": "a", "max_tokens": -1})", dir), 400,
              "max_tokens");
  check_error(test::curl_post_json(completions, R"({"prompt": "a", "max_tokens": 2.5})", dir), 400,
              "max_tokens");
  check_error(test::curl_post_json(completions, R"({"prompt": "a", "max_tokens": 1e300})", dir), 400,
              "max_tokens");
  auto reply =
      test::curl_post_json(completions, R"({"prompt": "a", "max_tokens": 9223372036854775807})", dir);
  check_error(reply, 400, "max_tokens");
  CHECK(serve_http_parse(reply)["error"]["code"] == "context_length_exceeded");
  check_error(test::curl_post_json(completions, R"({"prompt": "a", "max_tokens": 64})", dir), 400,
              "max_tokens");
  check_error(test::curl_post_json(completions, R"({"prompt": "a", "temperature": -1})", dir), 400,
              "temperature");
  check_error(test::curl_post_json(completions, R"({"prompt": "a", "top_p": 0})", dir), 400, "top_p");
  check_error(test::curl_post_json(completions, R"({"prompt": "a", "stop": [""]})", dir), 400, "stop");
  check_error(test::curl_post_json(completions, R"({"prompt": "a", "logprobs": 21})", dir), 400, "logprobs");
  check_error(test::curl_post_json(completions, R"({"prompt": "a", "n": 2})", dir), 400, "n");
  check_error(test::curl_post_json(completions, R"({"prompt": "a", "model": "other"})", dir), 404, "model");
  check_error(test::curl_post_json(server.url("/v1/chat/completions"),
                                   R"({"messages": [{"role": "user", "content": "hi"}]})", dir),
              400, "messages");
  check_error(test::curl_post_json(server.url("/v1/nothing"), "{}", dir), 404);
  check_error(test::curl(server.url("/v1/completions")), 405);
  check_error(test::curl("-X DELETE " + server.url("/v1/models")), 405);
  // Not HTTP at all.
  RawSocket garbage(server.port());
  garbage.send("\x16\x03\x01 not http\r\n\r\n");
  std::string received;
  CHECK(garbage.answered_within(std::chrono::seconds(30), received));
  check_still_serving(server, dir);
}

TEST_CASE(
    "100 MB bodies are refused with 413 unread, by declared length and chunked; the server keeps serving") {
  test::TempDir dir("serve-big");
  TestServer server;
  const std::string url = server.url("/v1/completions");
  // Chunked (length unknown in advance): cut at the limit.
  check_error(test::curl("-X POST -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' "
                         "--data-binary @- '" +
                             url + "'",
                         "head -c 100000000 /dev/zero"),
              413);
  // Declared length with Expect: 100-continue (curl's default for big bodies): refused before it is sent.
  const auto big = dir / "big.json";
  test::run_command("truncate -s 100000000 " + big.string());
  check_error(test::curl("-X POST --data-binary @" + big.string() + " '" + url + "'"), 413);
  // Declared length without Expect (node's fetch): refused at the headers, the client still reads the answer.
  const auto node = test::run_node(R"(
    const response = await fetch(process.argv[2], {method: 'POST', body: Buffer.alloc(100000000, 32),
                                                   headers: {'content-type': 'application/json'}});
    console.log(response.status, await response.text());
  )",
                                   dir, url);
  INFO(node.output);
  CHECK(node.output.rfind("413 {\"error\"", 0) == 0);
  check_still_serving(server, dir);
}

TEST_CASE("slowloris: a request dribbled byte by byte is cut at --read_timeout while others are served") {
  test::TempDir dir("serve-slow");
  core::ServeOptions options;
  options.read_timeout = std::chrono::milliseconds(1000);
  TestServer server(options);
  RawSocket slow(server.port());
  REQUIRE(slow.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\n"));
  // Others are served meanwhile.
  check_still_serving(server, dir);
  // A byte every 100 ms restarts a per-read timeout forever; the whole-request deadline still ends it.
  bool cut = false;
  std::string received;
  for (int i = 0; i < 300 && !cut; ++i) {
    cut = !slow.send("X") || slow.answered_within(std::chrono::milliseconds(100), received);
  }
  CHECK(cut);
  if (!received.empty()) CHECK(received.rfind("HTTP/1.1 408", 0) == 0);
  check_still_serving(server, dir);
}

TEST_CASE("queue: one generation at a time, 503 beyond --max_queue, shutdown cancels in-flight requests") {
  test::TempDir dir("serve-queue");
  core::ServeOptions options;
  options.max_queue = 1;
  TestServer server(options);
  server.generator.hold();
  const std::string url = server.url("/v1/completions");
  test::HttpReply first, second;
  std::thread first_client(
      [&] { first = test::curl_post_json(url, R"({"prompt": "a", "max_tokens": 2})", dir); });
  while (server.generator.active() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::thread second_client(
      [&] { second = test::curl_post_json(url, R"({"prompt": "b", "max_tokens": 2})", dir); });
  // The second waits in the queue (the health answer says so); a third finds it full.
  while (serve_http_parse(test::curl(server.url("/health")))["waiting"] != 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  check_error(test::curl_post_json(url, R"({"prompt": "c", "max_tokens": 2})", dir), 503);
  CHECK(server.generator.active() == 1);
  server.stop();
  first_client.join();
  second_client.join();
  check_error(first, 503);
  check_error(second, 503);
  CHECK(server.generator.last_finish() == core::FinishReason::kCancelled);
}

TEST_CASE("a streaming client that leaves cancels its generation and frees the generator") {
  test::TempDir dir("serve-leave");
  TestServer server;
  server.generator.hold();
  const std::string request = R"({"prompt": "a", "max_tokens": 2, "stream": true})";
  std::thread client(
      [&] { test::curl_post_json(server.url("/v1/completions"), request, dir, "-N --max-time 1"); });
  client.join();
  // The held generation notices the closed connection at its next event and is cancelled.
  while (server.generator.active() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(server.generator.last_finish() == core::FinishReason::kCancelled);
  server.generator.release();
  check_still_serving(server, dir);
}

TEST_CASE("generation queue: first come first served, bounded") {
  core::serve::GenerationQueue queue(2);
  auto a = queue.try_enter();
  auto b = queue.try_enter();
  auto c = queue.try_enter();
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  CHECK_FALSE(queue.try_enter());
  CHECK(a->wait_turn());
  std::vector<char> order;
  std::mutex order_mutex;
  std::thread waiter_c([&] {
    c->wait_turn();
    const std::lock_guard<std::mutex> lock(order_mutex);
    order.push_back('c');
  });
  std::thread waiter_b([&] {
    b->wait_turn();
    {
      const std::lock_guard<std::mutex> lock(order_mutex);
      order.push_back('b');
    }
    b.reset();
  });
  a.reset();
  waiter_b.join();
  waiter_c.join();
  CHECK(order == std::vector<char>{'b', 'c'});
  c.reset();
  CHECK(queue.size() == 0);
}
