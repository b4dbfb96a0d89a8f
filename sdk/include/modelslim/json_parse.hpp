// nlohmann::json::parse with a nesting limit. Parsing itself is iterative, but dump(), comparisons and our
// own readers recurse, so a hostile file nested a million levels deep (two bytes per level) would overflow
// the stack long after it was accepted. Every reader of untrusted JSON parses through these.
#pragma once

#include <istream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "modelslim/export.hpp"

namespace modelslim {

// Deeper than any real config, tokenizer or header (they nest under 10 levels).
constexpr int kMaxJsonDepth = 128;

// Throw nlohmann::json::parse_error for every failure: syntax, nesting beyond kMaxJsonDepth, and numbers
// beyond double range (which nlohmann::json::parse reports as out_of_range).
MODELSLIM_SDK_API nlohmann::json parse_json(std::string_view text);
MODELSLIM_SDK_API nlohmann::json parse_json(std::istream& in);
// Returns a discarded value (is_discarded()) instead of throwing.
MODELSLIM_SDK_API nlohmann::json try_parse_json(std::string_view text);

}  // namespace modelslim
