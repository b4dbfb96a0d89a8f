#include "modelslim/dataset.hpp"

#include <fstream>
#include <sstream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"
#include "modelslim/json_parse.hpp"

namespace modelslim {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void dataset_error(const fs::path& file, const std::string& what) {
  throw Error(ErrorCode::kInvalidDataset, file.string() + ": " + what,
              "a dataset is a .json array of strings or a .jsonl file with one sample per line "
              "({\"inputs_pretokenized\": ...} or plain text)");
}

// One sample is text for one forward pass; 8 MiB is a whole book, and a bigger "line" is a binary or
// mis-split file that would otherwise be tokenized whole.
constexpr std::size_t kMaxSampleBytes = std::size_t{8} << 20;

// The offset of the first byte that does not start or continue a well-formed UTF-8 sequence (no overlong
// forms, surrogates or code points above U+10FFFF), or npos.
std::size_t invalid_utf8_at(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;  // the allowed range of the second byte
    if (byte < 0x80) {
      length = 1;
    } else if (byte >= 0xC2 && byte <= 0xDF) {
      length = 2;
    } else if (byte >= 0xE0 && byte <= 0xEF) {
      length = 3;
      if (byte == 0xE0) low = 0xA0;
      if (byte == 0xED) high = 0x9F;
    } else if (byte >= 0xF0 && byte <= 0xF4) {
      length = 4;
      if (byte == 0xF0) low = 0x90;
      if (byte == 0xF4) high = 0x8F;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if (next < (k == 1 ? low : 0x80) || next > (k == 1 ? high : 0xBF)) return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

// `where` is "line 3" or "element 3".
void check_sample(const fs::path& file, const std::string& where, const std::string& sample) {
  if (sample.size() > kMaxSampleBytes) {
    dataset_error(file, where + " is " + std::to_string(sample.size()) + " bytes, above the limit of " +
                            std::to_string(kMaxSampleBytes) + " bytes for one sample; split it into samples");
  }
  const std::size_t bad = invalid_utf8_at(sample);
  if (bad != std::string_view::npos) {
    dataset_error(file, where + " is not valid UTF-8 (byte " + std::to_string(bad) +
                            "); datasets are UTF-8 text, is this a binary file?");
  }
}

bool is_blank(const std::string& text) {
  return text.find_first_not_of(" \t\r\n") == std::string::npos;
}

void strip_utf8_bom(std::string& text) {
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
}

std::vector<std::string> read_json_array(const fs::path& file, std::ifstream& in) {
  std::ostringstream content;
  content << in.rdbuf();
  std::string text = content.str();
  strip_utf8_bom(text);
  if (is_blank(text)) dataset_error(file, "contains no samples (the file is empty)");
  nlohmann::json value;
  try {
    value = parse_json(text);
  } catch (const nlohmann::json::parse_error& error) {
    dataset_error(file,
                  std::string("not valid JSON (") + error.what() + "); expected a JSON array of strings");
  }
  if (!value.is_array()) {
    dataset_error(file, std::string("expected a JSON array of strings, found a JSON ") + value.type_name());
  }
  std::vector<std::string> samples;
  samples.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) {
      dataset_error(file, "element " + std::to_string(i) + " is not a string (found a JSON " +
                              value[i].type_name() + "); expected a JSON array of strings");
    }
    samples.push_back(value[i].get<std::string>());
    check_sample(file, "element " + std::to_string(i), samples.back());
  }
  return samples;
}

// JSONL, as the reference reads it: a line that parses as a JSON object with "inputs_pretokenized"
// contributes that string. Every other non-blank line is taken verbatim as a sample: plain text, JSON that is
// not such an object (`{"other": 1}`, `42`), and text that merely looks like JSON (`{oops`) alike, since
// calibration text may legitimately start with a brace. Blank lines are skipped; CRLF endings are accepted.
std::vector<std::string> read_jsonl(const fs::path& file, std::ifstream& in) {
  std::vector<std::string> samples;
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line_number == 1) strip_utf8_bom(line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (is_blank(line)) continue;
    check_sample(file, "line " + std::to_string(line_number), line);
    const nlohmann::json value = try_parse_json(line);
    if (value.is_object() && value.contains("inputs_pretokenized")) {
      const auto& text = value["inputs_pretokenized"];
      if (!text.is_string()) {
        dataset_error(file, "line " + std::to_string(line_number) +
                                ": \"inputs_pretokenized\" must be a string, found a JSON " +
                                text.type_name());
      }
      samples.push_back(text.get<std::string>());
    } else {
      samples.push_back(line);
    }
  }
  if (in.bad()) dataset_error(file, "read failed after line " + std::to_string(line_number));
  return samples;
}

}  // namespace

std::vector<std::string> read_text_dataset(const fs::path& file) {
  std::error_code ignored;
  if (!fs::exists(file, ignored)) dataset_error(file, "dataset file not found");
  if (!fs::is_regular_file(file, ignored)) {
    dataset_error(file, "is not a regular file; expected a .json or .jsonl dataset file");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) dataset_error(file, "cannot be read");
  std::vector<std::string> samples =
      file.extension() == ".json" ? read_json_array(file, in) : read_jsonl(file, in);
  if (samples.empty()) dataset_error(file, "contains no samples");
  return samples;
}

std::filesystem::path resolve_dataset(const std::string& name_or_path,
                                      const std::vector<fs::path>& dataset_dirs) {
  const fs::path direct(name_or_path);
  std::error_code ignored;
  if (fs::exists(direct, ignored)) return direct;
  std::string searched = direct.string();
  if (!direct.is_absolute()) {
    for (const auto& dir : dataset_dirs) {
      const fs::path candidate = dir / name_or_path;
      if (fs::exists(candidate, ignored)) return candidate;
      searched += ", " + candidate.string();
    }
  }
  throw Error(ErrorCode::kInvalidDataset,
              "dataset '" + name_or_path + "' not found (looked for " + searched + ")",
              "give spec.dataset as an existing path or the name of a file in a dataset directory");
}

}  // namespace modelslim
