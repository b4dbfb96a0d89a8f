// The text rewrites @huggingface/jinja applies before lexing (final newline, lstrip_blocks, trim_blocks, the
// transformers-specific {% generation %} tag), with each remaining byte's offset in the original source.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace modelslim::core::jinja {

struct MappedText {
  std::string text;
  std::vector<std::size_t> origin;  // origin[i]: offset in the original source of text[i]; one extra at end
};

MappedText preprocess(const std::string& source);

}  // namespace modelslim::core::jinja
