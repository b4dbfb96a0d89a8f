// Parsing of the native runner's settings (evaluation.evaluation.type: native).
#include "evaluation_config.hpp"

namespace modelslim::service {
namespace {

const std::vector<std::string> kTasks = {"gsm8k", "boolq", "multiple_choice", "custom", "perplexity"};

int default_max_tokens(const std::string& task) {
  if (task == "boolq") return 4;
  if (task == "multiple_choice") return 8;
  if (task == "custom") return 32;
  return 256;
}

NativeDataset parse_dataset(const std::string& name, const ConfigNode& d, const DatasetFinder& finder) {
  d.require_map();
  d.check_keys({"path", "task", "method", "api", "match", "max_tokens", "limit", "stop"});
  NativeDataset out;
  out.name = name;
  if (!d.has("path")) d.fail("missing required field 'path' (a JSONL file, or a dataset name)");
  try {
    out.path = finder.find(d["path"].as_string());
  } catch (const Error& error) {
    d["path"].fail(error.what());
  }
  if (!d.has("task"))
    d.fail("missing required field 'task' (gsm8k, boolq, multiple_choice, custom, perplexity)");
  out.task = d.get_choice("task", kTasks, "");
  out.method = d.get_choice("method", {"generate", "logprobs"}, out.method);
  if (d.has("method") && out.task != "multiple_choice")
    d["method"].fail("applies to task multiple_choice only");
  out.api = d.get_choice("api", {"completions", "chat"}, out.api);
  out.match = d.get_choice("match", {"contains", "prefix", "exact"}, out.match);
  out.max_tokens = static_cast<int>(d.get_int("max_tokens", default_max_tokens(out.task)));
  if (out.max_tokens <= 0) d["max_tokens"].fail("must be > 0");
  const auto limit = d.get_int("limit", 0);
  if (limit < 0) d["limit"].fail("must be >= 0 (0: every sample)");
  out.limit = static_cast<std::size_t>(limit);
  out.stop = d.get_string_list("stop", {});
  return out;
}

}  // namespace

NativeSettings parse_native(const ConfigNode& evaluation, const DatasetFinder& finder) {
  NativeSettings s;
  s.concurrency = static_cast<int>(evaluation.get_int("concurrency", s.concurrency));
  if (s.concurrency <= 0) evaluation["concurrency"].fail("must be > 0");
  s.request_timeout = evaluation.get_double("request_timeout", s.request_timeout);
  if (s.request_timeout <= 0) evaluation["request_timeout"].fail("must be a positive number of seconds");
  s.retry = static_cast<int>(evaluation.get_int("retry", s.retry));
  if (s.retry < 0) evaluation["retry"].fail("must be >= 0");
  const ConfigNode datasets = evaluation["datasets"];
  if (!datasets.defined()) evaluation.fail("missing required field 'datasets' ({name: {path, task}})");
  datasets.require_map();
  for (const std::string& name : datasets.keys())
    s.datasets.push_back(parse_dataset(name, datasets[name], finder));
  if (s.datasets.empty()) datasets.fail("needs at least one dataset");
  return s;
}

}  // namespace modelslim::service
