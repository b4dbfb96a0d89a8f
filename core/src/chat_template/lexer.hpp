// Template source -> tokens, following @huggingface/jinja's lexer (with trim_blocks and lstrip_blocks, as
// transformers renders chat templates). Every token keeps its byte offset in the original source.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace modelslim::core::jinja {

enum class TokenType {
  kText,
  kNumber,
  kString,
  kIdentifier,
  kEquals,
  kOpenParen,
  kCloseParen,
  kOpenStatement,
  kCloseStatement,
  kOpenExpression,
  kCloseExpression,
  kOpenSquare,
  kCloseSquare,
  kOpenCurly,
  kCloseCurly,
  kComma,
  kDot,
  kColon,
  kPipe,
  kAdditive,
  kMultiplicative,
  kPower,
  kComparison,
  kUnary,
  kComment
};

struct Token {
  TokenType type;
  std::string value;
  std::size_t offset;  // in the original source
};

// Throws PositionedError on a lexical error.
std::vector<Token> tokenize(const std::string& source);

}  // namespace modelslim::core::jinja
