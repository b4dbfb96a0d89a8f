// The samples of a native benchmark, read from JSONL in the common layouts:
//   gsm8k            {question, answer: "... #### 72"}
//   boolq            {question, passage?, answer: true | "yes"}
//   multiple_choice  MMLU {question, choices: [...], answer: 2 | "C"}; C-Eval {question, A, B, C, D, answer};
//                    CMMLU {Question, A, B, C, D, Answer}; lm-eval {inputs_pretokenized,
//                    choices_pretokenized, label}
//   custom           {prompt, answers: [...] | answer}
//   perplexity       {text} | {inputs_pretokenized} | {prompt}
#pragma once

#include <string>
#include <vector>

#include "service_config.hpp"

namespace modelslim::service {

struct Sample {
  std::string prompt;                // what is sent (generation), or the scored text (perplexity)
  std::string context;               // multiple choice by logprobs: the text each choice continues
  std::vector<std::string> choices;  // multiple choice options (logprobs: continuations of `context`)
  int label = -1;                    // the right option
  std::string expected;              // gsm8k: the number; boolq: "yes"/"no"
  std::vector<std::string> answers;  // custom
};

// Throws Error(kInvalidDataset) naming the file, the line and the missing or wrong field.
std::vector<Sample> load_samples(const NativeDataset& dataset);

}  // namespace modelslim::service
