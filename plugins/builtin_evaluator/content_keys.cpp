#include "content_keys.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>

#include <xxhash.h>

#include "modelslim/error.hpp"
#include "modelslim/safetensors.hpp"

namespace modelslim::eval {
namespace {

using HashState = std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)>;

HashState new_state() {
  HashState state(XXH3_createState(), &XXH3_freeState);
  if (!state || XXH3_128bits_reset(state.get()) == XXH_ERROR)
    throw Error(ErrorCode::kUnexpected, "xxHash: cannot create a hash state");
  return state;
}

std::string hex(const XXH128_hash_t& hash) {
  char buffer[33];
  std::snprintf(buffer, sizeof buffer, "%016llx%016llx", static_cast<unsigned long long>(hash.high64),
                static_cast<unsigned long long>(hash.low64));
  return buffer;
}

void update(XXH3_state_t* state, const std::string& text) {
  XXH3_128bits_update(state, text.data(), text.size());
  XXH3_128bits_update(state, "\x1f", 1);  // a separator, so "ab"+"c" and "a"+"bc" differ
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Files whose content is covered per tensor or per type, or that say nothing about the model.
bool skipped(const std::filesystem::path& dir, const std::filesystem::path& file) {
  const std::string name = file.filename().string();
  if (name.empty() || name[0] == '.') return true;
  if (file.parent_path() != dir) return false;
  return ends_with(name, ".safetensors") || ends_with(name, ".safetensors.index.json") ||
         name == "quant_model_description.json";
}

std::string files_text(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && !skipped(dir, entry.path())) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::string text;
  for (const auto& file : files)
    text += std::filesystem::relative(file, dir).string() + "=" + hash_file(file) + "\n";
  return text;
}

// The block a tensor belongs to: the longest "<block name>." prefix; -1 outside every block.
long block_of(const std::string& name, const std::map<std::string, std::size_t>& blocks) {
  for (std::size_t dot = name.rfind('.'); dot != std::string::npos && dot > 0;
       dot = name.rfind('.', dot - 1)) {
    const auto found = blocks.find(name.substr(0, dot));
    if (found != blocks.end()) return static_cast<long>(found->second);
  }
  return -1;
}

void hash_tensor(XXH3_state_t* state, const SafetensorsCheckpoint& tensors, const std::string& name,
                 const std::string& type) {
  const TensorInfo& info = tensors.info(name);
  std::string header = name + " " + info.dtype + " " + type;
  for (const auto size : info.shape) header += " " + std::to_string(size);
  update(state, header);
  const at::Tensor tensor = tensors.load(name).contiguous();
  XXH3_128bits_update(state, tensor.data_ptr(), static_cast<std::size_t>(tensor.nbytes()));
}

}  // namespace

std::string hash_text(const std::string& text) {
  return hex(XXH3_128bits(text.data(), text.size()));
}

std::string hash_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, file.string() + ": cannot be read to fingerprint it");
  const HashState state = new_state();
  std::vector<char> buffer(std::size_t{4} << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got > 0) XXH3_128bits_update(state.get(), buffer.data(), got);
  }
  if (in.bad()) throw Error(ErrorCode::kIo, file.string() + ": read error while fingerprinting it");
  return hex(XXH3_128bits_digest(state.get()));
}

ModelContent model_content(const std::filesystem::path& dir, const ModelAdapter& model,
                           const QuantDescription* description, const std::string& model_type) {
  std::map<std::string, std::size_t> block_index;
  for (std::size_t i = 0; i < model.num_blocks(); ++i) block_index[model.block_name(i)] = i;
  const HashState root = new_state();
  update(root.get(), "builtin-evaluator-states-v1 " + model_type);
  update(root.get(), files_text(dir));
  std::vector<HashState> blocks;
  for (std::size_t i = 0; i < model.num_blocks(); ++i) blocks.push_back(new_state());
  const SafetensorsCheckpoint tensors = SafetensorsCheckpoint::open_dir(dir);
  const auto type_of = [&](const std::string& name) {
    if (description == nullptr) return std::string("FLOAT");
    const auto found = description->find(name);
    return found == description->end() ? std::string("FLOAT") : found->second;
  };
  for (const std::string& name : tensors.names()) {
    const long block = block_of(name, block_index);
    hash_tensor(block < 0 ? root.get() : blocks[static_cast<std::size_t>(block)].get(), tensors, name,
                type_of(name));
  }
  // A quantized type saved for a tensor that is not stored still changes the compute: hash it too. (FLOAT
  // is what a missing entry means, so a float checkpoint and an all-FLOAT block hash the same.)
  if (description != nullptr) {
    for (const auto& [name, type] : *description) {
      if (type == "FLOAT" || tensors.contains(name)) continue;
      const long block = block_of(name, block_index);
      update(block < 0 ? root.get() : blocks[static_cast<std::size_t>(block)].get(),
             "type " + name + "=" + type);
    }
  }
  ModelContent content;
  content.root = hex(XXH3_128bits_digest(root.get()));
  for (const auto& block : blocks) content.blocks.push_back(hex(XXH3_128bits_digest(block.get())));
  return content;
}

std::vector<std::string> state_keys(const ModelContent& content, const std::string& ids_key) {
  std::vector<std::string> keys;
  std::string upstream = hash_text(content.root + "\n" + ids_key);
  for (const std::string& block : content.blocks) {
    upstream = hash_text(upstream + "\n" + block);
    keys.push_back(upstream);
  }
  return keys;
}

std::string ids_key(const std::vector<std::vector<std::int64_t>>& sequences) {
  const HashState state = new_state();
  for (const auto& ids : sequences) {
    const std::uint64_t size = ids.size();
    XXH3_128bits_update(state.get(), &size, sizeof size);
    XXH3_128bits_update(state.get(), ids.data(), ids.size() * sizeof(std::int64_t));
  }
  return hex(XXH3_128bits_digest(state.get()));
}

}  // namespace modelslim::eval
