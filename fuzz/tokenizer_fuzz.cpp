// Fuzzes tokenizer.json parsing and encode/decode. The first byte picks the mode:
//   even: the rest is a tokenizer.json; a few fixed strings are encoded and decoded with it;
//   odd:  the rest is text, encoded and decoded with one of the real tokenizers in MODELSLIM_FUZZ_TOKENIZERS
//         (colon-separated tokenizer.json paths; scripts/fuzz.sh passes a SentencePiece and a byte-level
//         one).
#include <cstdlib>
#include <sstream>
#include <vector>

#include "fuzz_support.hpp"
#include "modelslim/tokenizer.hpp"

namespace {

const std::vector<modelslim::Tokenizer>& real_tokenizers() {
  static const std::vector<modelslim::Tokenizer> tokenizers = [] {
    std::vector<modelslim::Tokenizer> loaded;
    const char* list = std::getenv("MODELSLIM_FUZZ_TOKENIZERS");
    std::istringstream paths(list != nullptr ? list : "");
    for (std::string path; std::getline(paths, path, ':');) {
      if (!path.empty()) loaded.push_back(modelslim::Tokenizer::from_file(path));
    }
    return loaded;
  }();
  return tokenizers;
}

void round_trip(const modelslim::Tokenizer& tokenizer, std::string_view text) {
  const auto ids = tokenizer.encode(text);
  tokenizer.decode(ids, true);
  tokenizer.decode(ids, false);
  tokenizer.encode(text, false);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  real_tokenizers();  // loaded once, outside the measured iterations
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string rest = modelslim::fuzz::as_text(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    modelslim::fuzz::expect_clean([&] {
      const auto tokenizer = modelslim::Tokenizer::from_json_text(rest, "fuzz/tokenizer.json");
      for (const char* text : {"Hello world", " <s>in the beginning</s>\n\n", "caf\xc3\xa9 \xe2\x96\x81 42",
                               "\xff\xfe broken \xc3", ""}) {
        round_trip(tokenizer, text);
      }
      tokenizer.vocab_size();
      tokenizer.id_to_token(0);
      tokenizer.id_to_token(-1);
      tokenizer.token_to_id(rest.substr(0, 8));
      tokenizer.decode({0, 1, 2, -5, 1 << 30});
    });
    return 0;
  }
  // One tokenizer per input (picked by the mode byte), so a large vocabulary does not slow every execution.
  const auto& tokenizers = real_tokenizers();
  if (tokenizers.empty()) return 0;
  const auto& tokenizer = tokenizers[(data[0] >> 1) % tokenizers.size()];
  modelslim::fuzz::expect_clean([&] { round_trip(tokenizer, rest); });
  return 0;
}
