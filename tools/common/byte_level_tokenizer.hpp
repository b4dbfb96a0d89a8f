// Writes a byte-level BPE tokenizer.json (HF format): ids 0..255 are the bytes through GPT-2's
// byte-to-unicode map, id 256 is <|endoftext|>. Used by the demo model and random test models.
#pragma once

#include <cstdint>
#include <filesystem>

namespace modelslim::tools {

inline constexpr std::int64_t kEndOfText = 256;

void write_byte_level_tokenizer(const std::filesystem::path& dir, std::int64_t vocab_size);

}  // namespace modelslim::tools
