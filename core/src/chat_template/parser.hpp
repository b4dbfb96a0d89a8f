// Tokens -> syntax tree, following @huggingface/jinja's parser (precedence, statements, argument lists).
#pragma once

#include <vector>

#include "ast.hpp"
#include "lexer.hpp"

namespace modelslim::core::jinja {

// Throws PositionedError naming the offending token; `end_offset` is used for "unexpected end".
Body parse(const std::vector<Token>& tokens, std::size_t end_offset);

}  // namespace modelslim::core::jinja
