#include "lexer.hpp"

#include <array>
#include <utility>

#include "errors.hpp"
#include "js_text.hpp"
#include "preprocess.hpp"

namespace modelslim::core::jinja {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The fixed-spelling tokens, in @huggingface/jinja's matching order.
const std::array<std::pair<const char*, TokenType>, 29> kTable = {{
    {"{%", TokenType::kOpenStatement},  {"%}", TokenType::kCloseStatement},
    {"{{", TokenType::kOpenExpression}, {"}}", TokenType::kCloseExpression},
    {"(", TokenType::kOpenParen},       {")", TokenType::kCloseParen},
    {"{", TokenType::kOpenCurly},       {"}", TokenType::kCloseCurly},
    {"[", TokenType::kOpenSquare},      {"]", TokenType::kCloseSquare},
    {",", TokenType::kComma},           {".", TokenType::kDot},
    {":", TokenType::kColon},           {"|", TokenType::kPipe},
    {"<=", TokenType::kComparison},     {">=", TokenType::kComparison},
    {"==", TokenType::kComparison},     {"!=", TokenType::kComparison},
    {"<", TokenType::kComparison},      {">", TokenType::kComparison},
    {"+", TokenType::kAdditive},        {"-", TokenType::kAdditive},
    {"~", TokenType::kAdditive},        {"**", TokenType::kPower},
    {"*", TokenType::kMultiplicative},  {"//", TokenType::kMultiplicative},
    {"/", TokenType::kMultiplicative},  {"%", TokenType::kMultiplicative},
    {"=", TokenType::kEquals},
}};

class Lexer {
 public:
  explicit Lexer(const std::string& source) : mapped_(preprocess(source)), src_(mapped_.text) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) step();
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error(const std::string& message) const { error_at(pos_, message); }
  [[noreturn]] void error_at(std::size_t at, const std::string& message) const {
    throw PositionedError(mapped_.origin[at < src_.size() ? at : src_.size()], message);
  }

  bool starts(const char* s) const { return src_.compare(pos_, std::char_traits<char>::length(s), s) == 0; }
  char at(std::size_t i) const { return i < src_.size() ? src_[i] : '\0'; }
  bool last_is(TokenType t) const { return !tokens_.empty() && tokens_.back().type == t; }

  void push(TokenType type, std::string value, std::size_t start) {
    tokens_.push_back({type, std::move(value), mapped_.origin[start]});
  }

  void step() {
    if (tokens_.empty() || last_is(TokenType::kCloseStatement) || last_is(TokenType::kCloseExpression) ||
        last_is(TokenType::kComment)) {
      if (text()) return;
    }
    if (starts("{#")) return comment();
    if (starts("{%-") || starts("{{-")) {
      strip_trailing_space();
      push(src_[pos_ + 1] == '%' ? TokenType::kOpenStatement : TokenType::kOpenExpression,
           src_.substr(pos_, 2), pos_);
      if (src_[pos_ + 1] == '{') curly_depth_ = 0;
      pos_ += 3;
      return;
    }
    consume_space();
    if (starts("-%}") || starts("-}}")) {
      push(src_[pos_ + 1] == '%' ? TokenType::kCloseStatement : TokenType::kCloseExpression,
           src_.substr(pos_ + 1, 2), pos_);
      pos_ += 3;
      skip_leading_space();
      return;
    }
    if (pos_ >= src_.size()) error("unexpected end of template inside a tag");
    if ((src_[pos_] == '-' || src_[pos_] == '+') && sign()) return;
    if (fixed()) return;
    const char c = src_[pos_];
    if (c == '\'' || c == '"') return string_literal(c);
    if (is_digit(c)) return number();
    if (is_word_char(c)) return word();
    error(std::string("unexpected character '") + c + "'");
  }

  bool text() {
    const std::size_t start = pos_;
    while (pos_ < src_.size() &&
           !(src_[pos_] == '{' && (at(pos_ + 1) == '%' || at(pos_ + 1) == '{' || at(pos_ + 1) == '#'))) {
      ++pos_;
    }
    if (pos_ == start) return false;
    push(TokenType::kText, src_.substr(start, pos_ - start), start);
    return true;
  }

  void comment() {
    const std::size_t start = pos_;
    pos_ += 2;
    const bool strip_before = at(pos_) == '-';
    if (strip_before) ++pos_;
    std::string body;
    while (at(pos_) != '#' || at(pos_ + 1) != '}') {
      if (pos_ + 2 >= src_.size()) error("missing end of comment tag '#}'");
      body += src_[pos_++];
    }
    const bool strip_after = !body.empty() && body.back() == '-';
    if (strip_after) body.pop_back();
    if (strip_before) strip_trailing_space();
    push(TokenType::kComment, body, start);
    pos_ += 2;
    if (strip_after) skip_leading_space();
  }

  void strip_trailing_space() {
    if (!last_is(TokenType::kText)) return;
    tokens_.back().value = trim_end(tokens_.back().value);
    if (tokens_.back().value.empty()) tokens_.pop_back();
  }

  void skip_leading_space() {
    for (std::size_t n = 0; (n = space_at(src_, pos_)) > 0;) pos_ += n;
  }

  // consumeWhile(isWhitespace): reaching the end after consuming is an error, as in @huggingface/jinja.
  void consume_space() {
    for (std::size_t n = 0; (n = space_at(src_, pos_)) > 0;) {
      pos_ += n;
      if (pos_ >= src_.size()) error("unexpected end of template inside a tag");
    }
  }

  std::string digits() {
    std::string out;
    while (pos_ < src_.size() && is_digit(src_[pos_])) {
      out += src_[pos_++];
      if (pos_ >= src_.size()) error("unexpected end of template inside a tag");
    }
    return out;
  }

  // A '-' or '+' that is not a binary operator: a signed number or a unary operator.
  bool sign() {
    if (tokens_.empty() || last_is(TokenType::kText))
      error(std::string("unexpected character '") + src_[pos_] + "'");
    for (TokenType t : {TokenType::kIdentifier, TokenType::kNumber, TokenType::kString,
                        TokenType::kCloseParen, TokenType::kCloseSquare}) {
      if (last_is(t)) return false;
    }
    const std::size_t start = pos_;
    const char sign_char = src_[pos_++];
    std::string num = digits();
    if (!num.empty() && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
      ++pos_;
      num += "." + digits();
    }
    push(num.empty() ? TokenType::kUnary : TokenType::kNumber, std::string(1, sign_char) + num, start);
    return true;
  }

  bool fixed() {
    for (const auto& [seq, type] : kTable) {
      if (type == TokenType::kCloseExpression && curly_depth_ > 0) continue;
      if (!starts(seq)) continue;
      push(type, seq, pos_);
      if (type == TokenType::kOpenExpression) curly_depth_ = 0;
      if (type == TokenType::kOpenCurly) ++curly_depth_;
      if (type == TokenType::kCloseCurly) --curly_depth_;
      pos_ += std::char_traits<char>::length(seq);
      return true;
    }
    return false;
  }

  void escape(std::string& out) {
    ++pos_;
    if (pos_ >= src_.size()) error("unexpected end of template in a string literal");
    const char e = src_[pos_++];
    if (e == 'x' || e == 'u') {
      const std::size_t length = e == 'x' ? 2 : 4;
      unsigned cp = 0;
      for (std::size_t i = 0; i < length; ++i) {
        if (!is_hex(at(pos_ + i))) error(std::string("invalid \\") + e + " escape in a string literal");
        cp = cp * 16 + static_cast<unsigned>(std::stoi(std::string(1, src_[pos_ + i]), nullptr, 16));
      }
      pos_ += length;
      if (cp >= 0xD800 && cp <= 0xDFFF) error("surrogate \\u escapes are not supported");
      return append_utf8(out, cp);
    }
    static const std::string kFrom = "ntrbfv'\"\\";
    static const std::string kTo = "\n\t\r\b\f\v'\"\\";
    const std::size_t k = kFrom.find(e);
    if (k == std::string::npos) error(std::string("unknown escape \\") + e + " in a string literal");
    out += kTo[k];
  }

  void string_literal(char quote) {
    const std::size_t start = pos_++;
    std::string value;
    while (at(pos_) != quote || pos_ >= src_.size()) {
      if (pos_ >= src_.size()) error_at(start, "unterminated string literal");
      if (src_[pos_] == '\\') {
        escape(value);
        continue;
      }
      value += src_[pos_++];
      if (pos_ >= src_.size()) error_at(start, "unterminated string literal");
    }
    ++pos_;
    push(TokenType::kString, std::move(value), start);
  }

  void number() {
    const std::size_t start = pos_;
    std::string num = digits();
    if (!last_is(TokenType::kDot) && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
      ++pos_;
      num += "." + digits();
    }
    push(TokenType::kNumber, std::move(num), start);
  }

  void word() {
    const std::size_t start = pos_;
    while (pos_ < src_.size() && is_word_char(src_[pos_])) {
      ++pos_;
      if (pos_ >= src_.size()) error("unexpected end of template inside a tag");
    }
    push(TokenType::kIdentifier, src_.substr(start, pos_ - start), start);
  }

  MappedText mapped_;
  const std::string& src_;
  std::size_t pos_ = 0;
  int curly_depth_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) {
  return Lexer(source).run();
}

}  // namespace modelslim::core::jinja
