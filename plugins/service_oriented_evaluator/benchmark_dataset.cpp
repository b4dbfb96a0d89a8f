#include "benchmark_dataset.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "answer_extraction.hpp"
#include "modelslim/error.hpp"

namespace modelslim::service {
namespace {

using nlohmann::json;

struct Line {
  const NativeDataset& dataset;
  std::size_t number;
  const json& value;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorCode::kInvalidDataset,
                dataset.path + ":" + std::to_string(number) + ": " + what + " (task " + dataset.task + ")",
                "see docs/service-oriented.md for the JSONL layouts of each task");
  }
  bool has(const char* key) const { return value.contains(key) && !value[key].is_null(); }
  std::string text(const char* key) const {
    if (!has(key) || !value[key].is_string()) fail(std::string("needs a string field '") + key + "'");
    return value[key].get<std::string>();
  }
  std::string first_text(std::initializer_list<const char*> keys) const {
    for (const char* key : keys)
      if (has(key)) return text(key);
    std::string names;
    for (const char* key : keys) names += (names.empty() ? "'" : ", '") + std::string(key) + "'";
    fail("needs one of the fields " + names);
  }
};

std::string lettered(const std::string& question, const std::vector<std::string>& choices) {
  std::string prompt = question + "\n";
  for (std::size_t i = 0; i < choices.size(); ++i)
    prompt += std::string(1, static_cast<char>('A' + i)) + ". " + choices[i] + "\n";
  return prompt + "Answer:";
}

int label_of(const Line& line, const json& answer, std::size_t choices) {
  int label = -1;
  if (answer.is_number_integer()) label = answer.get<int>();
  if (answer.is_string() && answer.get<std::string>().size() == 1) label = answer.get<std::string>()[0] - 'A';
  if (label < 0 || static_cast<std::size_t>(label) >= choices)
    line.fail("the answer must be an option index or letter within the " + std::to_string(choices) +
              " options");
  return label;
}

// Options are kept as continuations of `context` (logprobs) and listed with letters in `prompt` (generate).
Sample multiple_choice(const Line& line) {
  Sample s;
  const json& v = line.value;
  std::vector<std::string> options;
  std::string question;
  if (line.has("inputs_pretokenized")) {  // lm-eval layout: the options continue the text as written
    question = s.context = line.text("inputs_pretokenized");
    if (!line.has("choices_pretokenized") || !v["choices_pretokenized"].is_array())
      line.fail("needs 'choices_pretokenized' (a list)");
    s.choices = v["choices_pretokenized"].get<std::vector<std::string>>();
    for (const auto& c : s.choices) options.push_back(c.size() > 1 && c[0] == ' ' ? c.substr(1) : c);
    s.label = label_of(line, v.value("label", json()), s.choices.size());
  } else {
    const bool cmmlu = line.has("Question");
    question = line.text(cmmlu ? "Question" : "question");
    if (line.has("choices")) {
      if (!v["choices"].is_array()) line.fail("'choices' must be a list of strings");
      options = v["choices"].get<std::vector<std::string>>();
    } else {
      for (const char* key : {"A", "B", "C", "D", "E", "F"})
        if (line.has(key)) options.push_back(line.text(key));
    }
    if (options.size() < 2) line.fail("needs the options as 'choices' or as fields A, B, C, D");
    s.label = label_of(line, cmmlu ? v.value("Answer", json()) : v.value("answer", json()), options.size());
    s.context = "Question: " + question + "\nAnswer:";
    for (const auto& option : options) s.choices.push_back(" " + option);
  }
  s.prompt = lettered(question, options);
  return s;
}

Sample sample_of(const Line& line) {
  const std::string& task = line.dataset.task;
  Sample s;
  if (task == "gsm8k") {
    s.prompt = "Question: " + line.text("question") + "\nAnswer:";
    const auto number = number_answer(line.text("answer"));
    if (!number) line.fail("'answer' has no number (gsm8k answers end with '#### <number>')");
    s.expected = *number;
  } else if (task == "boolq") {
    const std::string passage = line.has("passage") ? line.text("passage") + "\n" : "";
    s.prompt = passage + "Question: " + line.text("question") + "?\nAnswer (yes or no):";
    const json& a = line.value.value("answer", json());
    const auto yes = a.is_boolean()  ? std::optional<bool>(a.get<bool>())
                     : a.is_string() ? yes_no_answer(a.get<std::string>())
                                     : std::nullopt;
    if (!yes) line.fail("'answer' must be true/false or yes/no");
    s.expected = *yes ? "yes" : "no";
  } else if (task == "multiple_choice") {
    s = multiple_choice(line);
  } else if (task == "custom") {
    s.prompt = line.text("prompt");
    const json& a = line.has("answers") ? line.value["answers"] : line.value.value("answer", json());
    if (a.is_string()) s.answers = {a.get<std::string>()};
    if (a.is_array()) s.answers = a.get<std::vector<std::string>>();
    if (s.answers.empty()) line.fail("needs 'answers' (a list of strings) or 'answer'");
  } else {
    s.prompt = line.first_text({"text", "inputs_pretokenized", "prompt"});
  }
  return s;
}

}  // namespace

std::vector<Sample> load_samples(const NativeDataset& dataset) {
  std::ifstream in(dataset.path);
  if (!in) throw Error(ErrorCode::kInvalidDataset, "cannot read the dataset " + dataset.path);
  std::vector<Sample> samples;
  std::string text;
  for (std::size_t number = 1; std::getline(in, text); ++number) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const json value = json::parse(text, nullptr, false);
    const Line line{dataset, number, value};
    if (value.is_discarded() || !value.is_object()) line.fail("not a JSON object");
    try {
      samples.push_back(sample_of(line));
    } catch (const json::exception& error) {
      line.fail(std::string("a field has the wrong type: ") + error.what());
    }
    if (dataset.limit > 0 && samples.size() >= dataset.limit) break;
  }
  if (samples.empty()) throw Error(ErrorCode::kInvalidDataset, dataset.path + ": no samples");
  return samples;
}

}  // namespace modelslim::service
