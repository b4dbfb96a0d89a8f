// Hugging Face tokenizer.json (BPE) in both styles used by Llama-family checkpoints:
// SentencePiece-style (normalizer prepend/replace "▁" or Metaspace pre-tokenizer, byte fallback <0xNN>)
// and byte-level (GPT-2 byte-to-unicode map with a regex split, as in Qwen and Llama 3), with added and
// special tokens and the TemplateProcessing post-processor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

class MODELSLIM_SDK_API Tokenizer {
 public:
  // Throws Error(kInvalidModel) naming the file and the unsupported/missing field.
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json);
  static Tokenizer from_json_text(const std::string& text, const std::string& display_name);

  // add_special_tokens applies the post-processor template (e.g. a leading <s>), as HF's encode() does.
  std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens = false) const;

  std::int64_t vocab_size() const;  // largest id + 1, added tokens included
  std::optional<std::int64_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(std::int64_t id) const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace modelslim
