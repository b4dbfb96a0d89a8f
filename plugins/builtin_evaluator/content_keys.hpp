// What a model's hidden states depend on, as content hashes (the evaluator's side of tune's fingerprints,
// modelslim/core/tune_fingerprint.hpp). The states after block k of an evaluation set are a function of the
// set's token ids, the adapter, everything outside the blocks (config.json, tokenizer and other files, the
// embedding and other non-block tensors) and the tensors and saved types of blocks 0..k — nothing else. So
// two models whose first k+1 blocks hash the same share those states bit for bit.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "modelslim/model_adapter.hpp"
#include "modelslim/quant_description.hpp"

namespace modelslim::eval {

struct ModelContent {
  std::string root;                 // files, non-block tensors and their types, model type
  std::vector<std::string> blocks;  // per block: its tensors (name, dtype, shape, bytes) and saved types
};

// Hashes the checkpoint directory the adapter was loaded from. `description` (a saved artifact's types) may
// be null: every tensor is FLOAT then, as DeployedArtifact::apply treats a tensor the description lacks.
// Files skipped (their content is hashed per tensor or per type): top-level *.safetensors,
// *.safetensors.index.json, quant_model_description.json, and names starting with '.' (output markers).
ModelContent model_content(const std::filesystem::path& dir, const ModelAdapter& model,
                           const QuantDescription* description, const std::string& model_type);

// The key of the states after block `index` of the sequences `ids_key` (chained: block k's key covers the
// root and blocks 0..k).
std::vector<std::string> state_keys(const ModelContent& content, const std::string& ids_key);

// A hash of token id sequences (their lengths and values).
std::string ids_key(const std::vector<std::vector<std::int64_t>>& sequences);

// 128-bit XXH3 of text, 32 hex digits.
std::string hash_text(const std::string& text);

// XXH3 of a file's bytes; throws Error(kIo) naming it.
std::string hash_file(const std::filesystem::path& file);

}  // namespace modelslim::eval
