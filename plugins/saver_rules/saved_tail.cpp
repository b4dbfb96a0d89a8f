#include "saved_tail.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>

namespace modelslim::saver_rules {
namespace {
constexpr const char* kEmbedding = "model.embed_tokens.weight";
constexpr const char* kHead = "lm_head.weight";

// The entry to repeat as lm_head.weight, or nullptr: tied, an embedding present and no head of its own.
template <typename Entry>
const Entry* tied_source(const std::vector<Entry>& entries, bool tied_head) {
  if (!tied_head) return nullptr;
  const auto named = [](const char* name) { return [name](const Entry& e) { return e.name == name; }; };
  if (std::any_of(entries.begin(), entries.end(), named(kHead))) return nullptr;
  const auto embedding = std::find_if(entries.begin(), entries.end(), named(kEmbedding));
  return embedding == entries.end() ? nullptr : &*embedding;
}
}  // namespace

std::vector<NamedTensor> saved_tail(const std::vector<NamedTensor>& parameters, at::ScalarType dtype,
                                    bool tied_head) {
  std::vector<NamedTensor> tail;
  for (const NamedTensor& parameter : parameters)
    tail.push_back({parameter.name, parameter.tensor.to(dtype).contiguous()});
  if (const NamedTensor* embedding = tied_source(parameters, tied_head))
    tail.push_back({kHead, embedding->tensor.to(dtype).contiguous()});
  return tail;
}

std::vector<TensorSpec> saved_tail_specs(const std::vector<TensorSpec>& parameters, at::ScalarType dtype,
                                         bool tied_head) {
  std::vector<TensorSpec> tail;
  for (const TensorSpec& parameter : parameters) tail.push_back({parameter.name, dtype, parameter.shape});
  if (const TensorSpec* embedding = tied_source(parameters, tied_head))
    tail.push_back({kHead, dtype, embedding->shape});
  return tail;
}

}  // namespace modelslim::saver_rules
