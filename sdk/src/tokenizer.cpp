// tokenizer.json BPE: added-token split → normalizer → pre-tokenizer → BPE (merges by rank, byte fallback)
// → post-processor template, following the Hugging Face tokenizers pipeline.
#include "modelslim/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <variant>

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"
#include "modelslim/json_parse.hpp"
#include "tokenizer_regex.hpp"

namespace modelslim {
namespace {

using tokenizer_detail::Regex;
using json = nlohmann::json;

const char* kMetaspace = "\xE2\x96\x81";  // U+2581 ▁

// Matches GPT-2's pre-tokenization when a ByteLevel pre-tokenizer has use_regex = true.
const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;  // invalid lead byte: treat as one unit
}

std::vector<std::string> utf8_chars(std::string_view text) {
  std::vector<std::string> chars;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = std::min(utf8_length(static_cast<unsigned char>(text[i])), text.size() - i);
    chars.emplace_back(text.substr(i, n));
    i += n;
  }
  return chars;
}

std::string encode_utf8(int cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// GPT-2's reversible byte ↔ printable-character table.
struct ByteLevelTable {
  std::array<std::string, 256> byte_to_char;
  std::unordered_map<std::string, unsigned char> char_to_byte;
  ByteLevelTable() {
    std::array<int, 256> code{};
    code.fill(-1);
    for (int b = '!'; b <= '~'; ++b) code[b] = b;
    for (int b = 0xA1; b <= 0xAC; ++b) code[b] = b;
    for (int b = 0xAE; b <= 0xFF; ++b) code[b] = b;
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      if (code[b] < 0) code[b] = next++;
      byte_to_char[b] = encode_utf8(code[b]);
      char_to_byte[byte_to_char[b]] = static_cast<unsigned char>(b);
    }
  }
};
const ByteLevelTable& byte_level_table() {
  static const ByteLevelTable table;
  return table;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// ------------------------------------------------------------------------------------------ pipeline steps

struct Prepend {
  std::string prefix;
};
struct Replace {
  std::string from;
  std::string to;
  std::shared_ptr<Regex> regex;  // set for Regex patterns
};
struct Lowercase {};
using Normalizer = std::variant<Prepend, Replace, Lowercase>;

enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };
struct Split {
  std::shared_ptr<Regex> regex;
  SplitBehavior behavior = SplitBehavior::kIsolated;
};
struct ByteLevel {
  bool add_prefix_space = false;
  std::shared_ptr<Regex> gpt2;  // set when use_regex
};
struct Metaspace {
  std::string replacement = kMetaspace;
  std::string prepend_scheme = "always";  // always | first | never
  bool split = true;
};
struct Digits {
  bool individual = false;
};
using PreTokenizer = std::variant<Split, ByteLevel, Metaspace, Digits>;

}  // namespace

struct Tokenizer::Impl {
  std::string source;
  std::unordered_map<std::string, std::int64_t> vocab;
  std::vector<std::string> id_to_token;
  std::unordered_map<std::uint64_t, std::pair<std::int32_t, std::int64_t>> merges;  // (a,b) → (rank, merged)
  std::optional<std::int64_t> unk_id;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  std::array<std::int64_t, 256> byte_tokens{};

  struct Added {
    std::string content;
    std::int64_t id;
    bool special;
    bool lstrip;
    bool rstrip;
    bool single_word;
  };
  std::vector<Added> added;
  std::vector<bool> is_special;

  std::vector<Normalizer> normalizers;
  std::vector<PreTokenizer> pre_tokenizers;
  bool byte_level = false;
  std::vector<std::int64_t> template_prefix;
  std::vector<std::int64_t> template_suffix;
  bool decode_strip_leading_space = false;

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int64_t>> cache;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorCode::kInvalidModel, source + ": " + what,
                "modelslim reads BPE tokenizer.json files (SentencePiece-style or byte-level)");
  }

  void parse(const json& root);
  void parse_model(const json& model);
  void parse_normalizer(const json& node);
  void parse_pre_tokenizer(const json& node);
  void parse_post_processor(const json& node);
  std::int64_t token_id(const std::string& token, const char* where) const;
  std::int64_t checked_id(const json& id, const char* where, const std::string& token) const;

  std::string normalize(std::string text) const;
  std::vector<std::string> pre_tokenize(const std::string& text, bool first_segment) const;
  std::vector<std::int64_t> bpe(const std::string& word) const;
  void encode_segment(const std::string& text, bool first_segment, std::vector<std::int64_t>& ids) const;
};

namespace {

// Far above any real vocabulary (the largest are ~260k); keeps the id -> token table allocation bounded.
constexpr std::int64_t kMaxTokenId = std::int64_t{1} << 22;

std::uint64_t pair_key(std::int64_t a, std::int64_t b) {
  return (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint64_t>(b);
}

std::string pattern_of(const json& pattern, const Tokenizer::Impl& impl, bool& is_regex) {
  if (pattern.contains("String")) {
    is_regex = false;
    return pattern["String"].get<std::string>();
  }
  if (pattern.contains("Regex")) {
    is_regex = true;
    return pattern["Regex"].get<std::string>();
  }
  impl.fail("pattern must have String or Regex");
}

}  // namespace

std::int64_t Tokenizer::Impl::token_id(const std::string& token, const char* where) const {
  const auto found = vocab.find(token);
  if (found == vocab.end()) fail(std::string(where) + ": token '" + token + "' is not in the vocabulary");
  return found->second;
}

// Ids index the id -> token table and the embedding: a negative or absurd id is a corrupt file.
std::int64_t Tokenizer::Impl::checked_id(const json& id, const char* where, const std::string& token) const {
  if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() >= kMaxTokenId) {
    fail(std::string(where) + ": token '" + token + "' has id " + id.dump() +
         "; ids must be integers in 0.." + std::to_string(kMaxTokenId - 1));
  }
  return id.get<std::int64_t>();
}

void Tokenizer::Impl::parse_model(const json& model) {
  if (!model.is_object()) fail("missing the 'model' object");
  const std::string type = model.value("type", "BPE");
  if (type != "BPE") fail("model type '" + type + "' is not supported (expected BPE)");
  if (!model.contains("vocab") || !model["vocab"].is_object()) fail("model.vocab must be an object");
  for (const auto& [token, id] : model["vocab"].items()) vocab[token] = checked_id(id, "model.vocab", token);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty()) {
      fail(std::string("model.") + key + " is not supported");
    }
  }
  fuse_unk = model.value("fuse_unk", false);
  byte_fallback = model.value("byte_fallback", false);
  ignore_merges = model.value("ignore_merges", false);
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    unk_id = token_id(model["unk_token"].get<std::string>(), "model.unk_token");
  }
  std::int32_t rank = 0;
  for (const auto& merge : model.value("merges", json::array())) {
    std::string left;
    std::string right;
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const auto space = text.find(' ', 1);
      if (space == std::string::npos) fail("merge '" + text + "' is not 'left right'");
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      fail("merges must be strings or pairs");
    }
    const auto a = vocab.find(left);
    const auto b = vocab.find(right);
    const auto merged = vocab.find(left + right);
    if (a != vocab.end() && b != vocab.end() && merged != vocab.end()) {
      merges.emplace(pair_key(a->second, b->second), std::make_pair(rank, merged->second));
    }
    ++rank;
  }
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", byte);
    const auto found = vocab.find(name);
    byte_tokens[byte] = found == vocab.end() ? -1 : found->second;
  }
}

void Tokenizer::Impl::parse_normalizer(const json& node) {
  if (node.is_null()) return;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const auto& child : node.at("normalizers")) parse_normalizer(child);
  } else if (type == "Prepend") {
    normalizers.emplace_back(Prepend{node.at("prepend").get<std::string>()});
  } else if (type == "Replace") {
    bool is_regex = false;
    Replace replace;
    const std::string pattern = pattern_of(node.at("pattern"), *this, is_regex);
    replace.to = node.at("content").get<std::string>();
    if (is_regex)
      replace.regex = std::make_shared<Regex>(pattern);
    else
      replace.from = pattern;
    normalizers.emplace_back(std::move(replace));
  } else if (type == "Lowercase") {
    normalizers.emplace_back(Lowercase{});
  } else if (type == "NFC") {
    // Text is taken as already NFC-composed (what editors and the web produce); see docs/tokenizer.md.
  } else {
    fail("normalizer '" + type + "' is not supported");
  }
}

void Tokenizer::Impl::parse_pre_tokenizer(const json& node) {
  if (node.is_null()) return;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const auto& child : node.at("pretokenizers")) parse_pre_tokenizer(child);
  } else if (type == "Split") {
    if (node.value("invert", false)) fail("Split with invert = true is not supported");
    bool is_regex = false;
    std::string pattern = pattern_of(node.at("pattern"), *this, is_regex);
    if (!is_regex) {
      std::string escaped;
      for (const char c : pattern) {
        if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) escaped += '\\';
        escaped += c;
      }
      pattern = escaped;
    }
    Split split{std::make_shared<Regex>(pattern), SplitBehavior::kIsolated};
    const std::string behavior = node.value("behavior", "Isolated");
    if (behavior == "Isolated")
      split.behavior = SplitBehavior::kIsolated;
    else if (behavior == "Removed")
      split.behavior = SplitBehavior::kRemoved;
    else if (behavior == "MergedWithPrevious")
      split.behavior = SplitBehavior::kMergedWithPrevious;
    else if (behavior == "MergedWithNext")
      split.behavior = SplitBehavior::kMergedWithNext;
    else if (behavior == "Contiguous")
      split.behavior = SplitBehavior::kContiguous;
    else
      fail("Split behavior '" + behavior + "' is not supported");
    pre_tokenizers.emplace_back(std::move(split));
  } else if (type == "ByteLevel") {
    ByteLevel step;
    step.add_prefix_space = node.value("add_prefix_space", false);
    if (node.value("use_regex", true)) step.gpt2 = std::make_shared<Regex>(kGpt2Pattern);
    byte_level = true;
    pre_tokenizers.emplace_back(std::move(step));
  } else if (type == "Metaspace") {
    Metaspace step;
    step.replacement = node.value("replacement", std::string(kMetaspace));
    if (node.contains("prepend_scheme"))
      step.prepend_scheme = node["prepend_scheme"].get<std::string>();
    else
      step.prepend_scheme = node.value("add_prefix_space", true) ? "always" : "never";
    step.split = node.value("split", true);
    decode_strip_leading_space = step.prepend_scheme != "never";
    pre_tokenizers.emplace_back(std::move(step));
  } else if (type == "Digits") {
    pre_tokenizers.emplace_back(Digits{node.value("individual_digits", false)});
  } else {
    fail("pre_tokenizer '" + type + "' is not supported");
  }
}

void Tokenizer::Impl::parse_post_processor(const json& node) {
  if (node.is_null()) return;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const auto& child : node.at("processors")) parse_post_processor(child);
  } else if (type == "ByteLevel") {
    // Offsets only; ids are unchanged.
  } else if (type == "TemplateProcessing") {
    bool seen_sequence = false;
    for (const auto& item : node.at("single")) {
      if (item.contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      if (!item.contains("SpecialToken"))
        fail("post_processor template item must be SpecialToken or Sequence");
      const std::string name = item.at("SpecialToken").at("id").get<std::string>();
      const auto& specials = node.at("special_tokens");
      if (!specials.contains(name))
        fail("post_processor template names unknown special token '" + name + "'");
      for (const auto& id : specials.at(name).at("ids")) {
        const std::int64_t checked = checked_id(id, "post_processor.special_tokens", name);
        if (static_cast<std::size_t>(checked) >= id_to_token.size())
          fail("post_processor special token '" + name + "' has id " + std::to_string(checked) +
               ", which is not in the vocabulary");
        (seen_sequence ? template_suffix : template_prefix).push_back(checked);
      }
    }
  } else {
    fail("post_processor '" + type + "' is not supported");
  }
}

void Tokenizer::Impl::parse(const json& root) {
  if (!root.is_object()) fail("not a JSON object");
  parse_model(root.value("model", json()));
  for (const auto& token : root.value("added_tokens", json::array())) {
    const std::string content = token.at("content").get<std::string>();
    Added entry{content,
                checked_id(token.at("id"), "added_tokens", content),
                token.value("special", false),
                token.value("lstrip", false),
                token.value("rstrip", false),
                token.value("single_word", false)};
    vocab[entry.content] = entry.id;
    added.push_back(std::move(entry));
  }
  // Longest first, so "<|im_start|>" wins over a shorter token that is its prefix.
  std::stable_sort(added.begin(), added.end(),
                   [](const Added& a, const Added& b) { return a.content.size() > b.content.size(); });
  std::int64_t max_id = -1;
  for (const auto& [token, id] : vocab) max_id = std::max(max_id, id);
  id_to_token.assign(static_cast<std::size_t>(max_id + 1), std::string());
  for (const auto& [token, id] : vocab) id_to_token[static_cast<std::size_t>(id)] = token;
  is_special.assign(id_to_token.size(), false);
  for (const auto& entry : added) {
    if (entry.special) is_special[static_cast<std::size_t>(entry.id)] = true;
  }
  parse_normalizer(root.value("normalizer", json()));
  parse_pre_tokenizer(root.value("pre_tokenizer", json()));
  parse_post_processor(root.value("post_processor", json()));
  // SentencePiece-style decoders strip the space the Prepend normalizer added.
  for (const auto& normalizer : normalizers) {
    if (std::holds_alternative<Prepend>(normalizer)) decode_strip_leading_space = true;
  }
}

std::string Tokenizer::Impl::normalize(std::string text) const {
  for (const auto& step : normalizers) {
    if (const auto* prepend = std::get_if<Prepend>(&step)) {
      if (!text.empty()) text = prepend->prefix + text;
    } else if (const auto* replace = std::get_if<Replace>(&step)) {
      if (replace->regex) {
        std::string out;
        std::size_t last = 0;
        for (const auto& [begin, end] : replace->regex->find_all(text)) {
          out += text.substr(last, begin - last) + replace->to;
          last = end;
        }
        text = out + text.substr(last);
      } else {
        text = replace_all(std::move(text), replace->from, replace->to);
      }
    } else {
      std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) {
        return c < 0x80 ? static_cast<char>(std::tolower(c)) : static_cast<char>(c);
      });
    }
  }
  return text;
}

namespace {

std::vector<std::string> split_pieces(const std::string& piece, const Regex& regex, SplitBehavior behavior) {
  std::vector<std::string> out;
  std::size_t last = 0;
  std::string pending;  // for MergedWithNext
  for (const auto& [begin, end] : regex.find_all(piece)) {
    const std::string gap = piece.substr(last, begin - last);
    const std::string match = piece.substr(begin, end - begin);
    switch (behavior) {
      case SplitBehavior::kIsolated:
        if (!gap.empty()) out.push_back(gap);
        out.push_back(match);
        break;
      case SplitBehavior::kRemoved:
        if (!gap.empty()) out.push_back(gap);
        break;
      case SplitBehavior::kMergedWithPrevious:
        out.push_back(gap + match);
        break;
      case SplitBehavior::kMergedWithNext:
        if (!gap.empty()) out.push_back(pending + gap), pending.clear();
        pending += match;
        break;
      case SplitBehavior::kContiguous:
        if (!gap.empty()) out.push_back(gap);
        if (!out.empty() && last == begin && !gap.empty())
          out.push_back(match);
        else if (!out.empty() && last == begin && begin != 0)
          out.back() += match;
        else
          out.push_back(match);
        break;
    }
    last = end;
  }
  const std::string tail = piece.substr(last);
  if (behavior == SplitBehavior::kMergedWithNext) {
    if (!pending.empty() || !tail.empty()) out.push_back(pending + tail);
  } else if (!tail.empty()) {
    out.push_back(tail);
  }
  return out;
}

}  // namespace

std::vector<std::string> Tokenizer::Impl::pre_tokenize(const std::string& text, bool first_segment) const {
  std::vector<std::string> pieces{text};
  for (const auto& step : pre_tokenizers) {
    std::vector<std::string> next;
    if (const auto* split = std::get_if<Split>(&step)) {
      for (const auto& piece : pieces) {
        for (auto& part : split_pieces(piece, *split->regex, split->behavior))
          next.push_back(std::move(part));
      }
    } else if (const auto* byte_level_step = std::get_if<ByteLevel>(&step)) {
      const auto& table = byte_level_table();
      for (std::string piece : pieces) {
        if (byte_level_step->add_prefix_space && !piece.empty() && piece[0] != ' ') piece = " " + piece;
        std::vector<std::string> parts =
            byte_level_step->gpt2 ? split_pieces(piece, *byte_level_step->gpt2, SplitBehavior::kIsolated)
                                  : std::vector<std::string>{piece};
        for (const auto& part : parts) {
          std::string mapped;
          for (const unsigned char byte : part) mapped += table.byte_to_char[byte];
          next.push_back(std::move(mapped));
        }
      }
    } else if (const auto* meta = std::get_if<Metaspace>(&step)) {
      for (std::size_t i = 0; i < pieces.size(); ++i) {
        std::string piece = replace_all(pieces[i], " ", meta->replacement);
        const bool prepend =
            meta->prepend_scheme == "always" || (meta->prepend_scheme == "first" && first_segment && i == 0);
        if (prepend && piece.compare(0, meta->replacement.size(), meta->replacement) != 0) {
          piece = meta->replacement + piece;
        }
        if (!meta->split) {
          next.push_back(std::move(piece));
          continue;
        }
        // Each word starts at a replacement character (MergedWithNext).
        std::size_t start = 0;
        for (std::size_t pos = piece.find(meta->replacement, 1); pos != std::string::npos;
             pos = piece.find(meta->replacement, pos + 1)) {
          next.push_back(piece.substr(start, pos - start));
          start = pos;
        }
        next.push_back(piece.substr(start));
      }
    } else if (const auto* digits = std::get_if<Digits>(&step)) {
      for (const auto& piece : pieces) {
        std::string current;
        bool current_digit = false;
        for (const char c : piece) {
          const bool digit = c >= '0' && c <= '9';
          if (!current.empty() && (digit != current_digit || (digit && digits->individual))) {
            next.push_back(current);
            current.clear();
          }
          current += c;
          current_digit = digit;
        }
        if (!current.empty()) next.push_back(current);
      }
    }
    pieces = std::move(next);
  }
  return pieces;
}

std::vector<std::int64_t> Tokenizer::Impl::bpe(const std::string& word) const {
  if (ignore_merges) {
    const auto whole = vocab.find(word);
    if (whole != vocab.end()) return {whole->second};
  }
  {
    const std::lock_guard<std::mutex> lock(cache_mutex);
    const auto cached = cache.find(word);
    if (cached != cache.end()) return cached->second;
  }
  std::vector<std::int64_t> symbols;
  bool previous_unk = false;
  for (const auto& ch : utf8_chars(word)) {
    const auto found = vocab.find(ch);
    if (found != vocab.end()) {
      symbols.push_back(found->second);
      previous_unk = false;
      continue;
    }
    if (byte_fallback) {
      bool all = true;
      for (const unsigned char byte : ch) all = all && byte_tokens[byte] >= 0;
      if (all) {
        for (const unsigned char byte : ch) symbols.push_back(byte_tokens[byte]);
        previous_unk = false;
        continue;
      }
    }
    if (unk_id) {
      if (!(fuse_unk && previous_unk)) symbols.push_back(*unk_id);
      previous_unk = true;
    }
  }
  // Merge the lowest-ranked adjacent pair (leftmost on ties) until none applies.
  while (symbols.size() > 1) {
    std::int32_t best_rank = INT32_MAX;
    std::size_t best_pos = 0;
    std::int64_t best_id = -1;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto merge = merges.find(pair_key(symbols[i], symbols[i + 1]));
      if (merge != merges.end() && merge->second.first < best_rank) {
        best_rank = merge->second.first;
        best_pos = i;
        best_id = merge->second.second;
      }
    }
    if (best_id < 0) break;
    symbols[best_pos] = best_id;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
  }
  const std::lock_guard<std::mutex> lock(cache_mutex);
  if (cache.size() > 200000) cache.clear();
  cache.emplace(word, symbols);
  return symbols;
}

void Tokenizer::Impl::encode_segment(const std::string& text, bool first_segment,
                                     std::vector<std::int64_t>& ids) const {
  if (text.empty()) return;
  for (const auto& word : pre_tokenize(normalize(text), first_segment)) {
    if (word.empty()) continue;
    for (const std::int64_t id : bpe(word)) ids.push_back(id);
  }
}

Tokenizer Tokenizer::from_json_text(const std::string& text, const std::string& display_name) {
  auto impl = std::make_shared<Impl>();
  impl->source = display_name;
  json root;
  try {
    root = parse_json(text);
  } catch (const json::parse_error& error) {
    impl->fail(std::string("not valid JSON (") + error.what() + ")");
  }
  try {
    impl->parse(root);
  } catch (const json::exception& error) {
    impl->fail(std::string("unexpected structure (") + error.what() + ")");
  } catch (const std::runtime_error& error) {
    if (dynamic_cast<const Error*>(&error) != nullptr) throw;
    impl->fail(error.what());
  }
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& tokenizer_json) {
  std::ifstream in(tokenizer_json, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kInvalidModel, tokenizer_json.string() + ": missing or unreadable",
                "the model directory needs the tokenizer.json of the checkpoint");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return from_json_text(text.str(), tokenizer_json.string());
}

std::vector<std::int64_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& impl = *impl_;
  std::vector<std::int64_t> ids;
  if (add_special_tokens) ids = impl.template_prefix;
  const std::string input(text);
  std::size_t segment_start = 0;
  std::size_t pos = 0;
  bool first_segment = true;
  while (pos < input.size()) {
    const Impl::Added* match = nullptr;
    for (const auto& candidate : impl.added) {  // longest first
      if (input.compare(pos, candidate.content.size(), candidate.content) != 0) continue;
      if (candidate.single_word) {
        const auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
        const std::size_t end = pos + candidate.content.size();
        if ((pos > 0 && word_char(input[pos - 1])) || (end < input.size() && word_char(input[end]))) continue;
      }
      match = &candidate;
      break;
    }
    if (match == nullptr) {
      pos += utf8_length(static_cast<unsigned char>(input[pos]));
      continue;
    }
    std::size_t segment_end = pos;
    if (match->lstrip) {
      while (segment_end > segment_start && is_space(input[segment_end - 1])) --segment_end;
    }
    impl.encode_segment(input.substr(segment_start, segment_end - segment_start), first_segment, ids);
    ids.push_back(match->id);
    first_segment = false;
    pos += match->content.size();
    if (match->rstrip) {
      while (pos < input.size() && is_space(input[pos])) ++pos;
    }
    segment_start = pos;
  }
  impl.encode_segment(input.substr(segment_start), first_segment, ids);
  if (add_special_tokens) ids.insert(ids.end(), impl.template_suffix.begin(), impl.template_suffix.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens) const {
  const Impl& impl = *impl_;
  std::string text;
  const auto& table = byte_level_table();
  for (const std::int64_t id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= impl.id_to_token.size()) continue;
    if (skip_special_tokens && impl.is_special[static_cast<std::size_t>(id)]) continue;
    const std::string& token = impl.id_to_token[static_cast<std::size_t>(id)];
    const bool added =
        std::any_of(impl.added.begin(), impl.added.end(), [&](const auto& a) { return a.id == id; });
    if (added) {
      text += token;
    } else if (impl.byte_level) {
      for (const auto& ch : utf8_chars(token)) {
        const auto byte = table.char_to_byte.find(ch);
        text += byte == table.char_to_byte.end() ? ch : std::string(1, static_cast<char>(byte->second));
      }
    } else if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token.back() == '>' &&
               std::isxdigit(static_cast<unsigned char>(token[3])) &&
               std::isxdigit(static_cast<unsigned char>(token[4]))) {
      text += static_cast<char>(std::stoi(token.substr(3, 2), nullptr, 16));
    } else {
      text += replace_all(token, kMetaspace, " ");
    }
  }
  if (impl.decode_strip_leading_space && !text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

std::int64_t Tokenizer::vocab_size() const {
  return static_cast<std::int64_t>(impl_->id_to_token.size());
}

std::optional<std::int64_t> Tokenizer::token_to_id(std::string_view token) const {
  const auto found = impl_->vocab.find(std::string(token));
  if (found == impl_->vocab.end()) return std::nullopt;
  return found->second;
}

std::optional<std::string> Tokenizer::id_to_token(std::int64_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= impl_->id_to_token.size()) return std::nullopt;
  return impl_->id_to_token[static_cast<std::size_t>(id)];
}

}  // namespace modelslim
