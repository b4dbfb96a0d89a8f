#include "common/byte_level_tokenizer.hpp"

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"

namespace modelslim::tools {
namespace {

// GPT-2's reversible byte → printable-unicode mapping, used by byte-level BPE vocabularies.
std::vector<std::string> byte_level_symbols() {
  std::vector<int> printable;
  for (int b = '!'; b <= '~'; ++b) printable.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) printable.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) printable.push_back(b);
  std::vector<int> code(256, -1);
  for (const int b : printable) code[b] = b;
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    if (code[b] < 0) code[b] = next++;
  }
  std::vector<std::string> symbols;
  for (int b = 0; b < 256; ++b) {
    const int cp = code[b];
    std::string utf8;
    if (cp < 0x80) {
      utf8 += static_cast<char>(cp);
    } else {
      utf8 += static_cast<char>(0xC0 | (cp >> 6));
      utf8 += static_cast<char>(0x80 | (cp & 0x3F));
    }
    symbols.push_back(utf8);
  }
  return symbols;
}

}  // namespace

void write_byte_level_tokenizer(const std::filesystem::path& dir, std::int64_t vocab_size) {
  if (vocab_size < 257) {
    throw modelslim::Error(modelslim::ErrorCode::kInvalidModel,
                           "--byte-tokenizer needs vocab_size >= 257 (256 bytes + <|endoftext|>), got " +
                               std::to_string(vocab_size));
  }
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  const auto symbols = byte_level_symbols();
  for (int b = 0; b < 256; ++b) vocab[symbols[b]] = b;
  nlohmann::ordered_json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens",
       {{{"id", 256},
         {"content", "<|endoftext|>"},
         {"single_word", false},
         {"lstrip", false},
         {"rstrip", false},
         {"normalized", false},
         {"special", true}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}}},
      {"decoder",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", nlohmann::ordered_json::array()}}}};
  std::ofstream(dir / "tokenizer.json") << tokenizer.dump(2) << "\n";
  std::ofstream(dir / "tokenizer_config.json")
      << nlohmann::json({{"tokenizer_class", "PreTrainedTokenizerFast"},
                         {"eos_token", "<|endoftext|>"},
                         {"bos_token", "<|endoftext|>"},
                         {"model_max_length", 2048}})
             .dump(2)
      << "\n";
}

}  // namespace modelslim::tools
