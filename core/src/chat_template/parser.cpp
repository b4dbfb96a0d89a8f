#include "parser.hpp"

#include <cstdlib>
#include <initializer_list>
#include <set>
#include <string>

#include "errors.hpp"

namespace modelslim::core::jinja {
namespace {

constexpr int kMaxDepth = 200;  // nesting of statements and expressions

const char* describe(TokenType type) {
  switch (type) {
    case TokenType::kText:
      return "text";
    case TokenType::kNumber:
      return "a number";
    case TokenType::kString:
      return "a string";
    case TokenType::kIdentifier:
      return "a name";
    case TokenType::kEquals:
      return "'='";
    case TokenType::kOpenParen:
      return "'('";
    case TokenType::kCloseParen:
      return "')'";
    case TokenType::kOpenStatement:
      return "'{%'";
    case TokenType::kCloseStatement:
      return "'%}'";
    case TokenType::kOpenExpression:
      return "'{{'";
    case TokenType::kCloseExpression:
      return "'}}'";
    case TokenType::kOpenSquare:
      return "'['";
    case TokenType::kCloseSquare:
      return "']'";
    case TokenType::kOpenCurly:
      return "'{'";
    case TokenType::kCloseCurly:
      return "'}'";
    case TokenType::kComma:
      return "','";
    case TokenType::kDot:
      return "'.'";
    case TokenType::kColon:
      return "':'";
    case TokenType::kPipe:
      return "'|'";
    case TokenType::kAdditive:
    case TokenType::kMultiplicative:
    case TokenType::kPower:
    case TokenType::kComparison:
    case TokenType::kUnary:
      return "an operator";
    case TokenType::kComment:
      return "a comment";
  }
  return "a token";
}

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, std::size_t end_offset)
      : tokens_(tokens), end_offset_(end_offset) {}

  Body run() {
    Body program;
    while (current_ < tokens_.size()) program.push_back(any());
    return program;
  }

 private:
  // Depth guard for the recursive descent (hostile input must not overflow the stack).
  struct Nest {
    explicit Nest(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxDepth) parser.error_here("template nested more than 200 levels deep");
    }
    ~Nest() { --parser.depth_; }
    Parser& parser;
  };

  [[noreturn]] void error_here(const std::string& message) const {
    throw PositionedError(current_ < tokens_.size() ? tokens_[current_].offset : end_offset_, message);
  }

  const Token& peek(std::size_t ahead = 0) const {
    if (current_ + ahead >= tokens_.size()) error_here("unexpected end of template");
    return tokens_[current_ + ahead];
  }
  const Token& next() {
    const Token& t = peek();
    ++current_;
    return t;
  }
  bool is(TokenType type, std::size_t ahead = 0) const {
    return current_ + ahead < tokens_.size() && tokens_[current_ + ahead].type == type;
  }
  bool is_name(const char* name, std::size_t ahead = 0) const {
    return is(TokenType::kIdentifier, ahead) && tokens_[current_ + ahead].value == name;
  }
  bool is_statement(std::initializer_list<const char*> names) const {
    if (!is(TokenType::kOpenStatement) || !is(TokenType::kIdentifier, 1)) return false;
    for (const char* name : names) {
      if (tokens_[current_ + 1].value == name) return true;
    }
    return false;
  }
  const Token& expect(TokenType type, const char* what) {
    if (!is(type)) {
      error_here(std::string("expected ") + what + ", found " +
                 (current_ < tokens_.size() ? describe(tokens_[current_].type) : "the end of the template"));
    }
    return next();
  }
  void expect_name(const char* name) {
    if (!is_name(name)) error_here(std::string("expected '") + name + "'");
    ++current_;
  }
  // {% <name> %} closing a block.
  void end_tag(const char* name) {
    expect(TokenType::kOpenStatement, "'{%'");
    expect_name(name);
    expect(TokenType::kCloseStatement, "'%}'");
  }
  // Statements up to (not including) one of the {% names %}.
  Body block_until(std::initializer_list<const char*> names, const char* closing) {
    Body body;
    while (!is_statement(names)) {
      if (current_ >= tokens_.size())
        error_here(std::string("unexpected end of template: missing {% ") + closing + " %}");
      body.push_back(any());
    }
    return body;
  }

  NodePtr any() {
    Nest nest(*this);
    const Token& t = peek();
    switch (t.type) {
      case TokenType::kComment:
        ++current_;
        return make_node(NodeKind::kComment, t.offset);
      case TokenType::kText: {
        auto node = make_node(NodeKind::kText, t.offset);
        node->text = next().value;
        return node;
      }
      case TokenType::kOpenStatement:
        return statement();
      case TokenType::kOpenExpression: {
        ++current_;
        auto node = expression();
        expect(TokenType::kCloseExpression, "'}}'");
        return node;
      }
      default:
        error_here(std::string("unexpected ") + describe(t.type) + " outside {{ }} and {% %}");
    }
  }

  NodePtr statement() {
    expect(TokenType::kOpenStatement, "'{%'");
    if (!is(TokenType::kIdentifier)) error_here("expected a statement name after '{%'");
    const Token& name = next();
    if (name.value == "set") return set_statement(name.offset);
    if (name.value == "if") {
      auto node = if_statement(name.offset);
      end_tag("endif");
      return node;
    }
    if (name.value == "for") {
      auto node = for_statement(name.offset);
      end_tag("endfor");
      return node;
    }
    if (name.value == "macro") {
      auto node = macro_statement(name.offset);
      end_tag("endmacro");
      return node;
    }
    if (name.value == "break" || name.value == "continue") {
      expect(TokenType::kCloseStatement, "'%}'");
      return make_node(name.value == "break" ? NodeKind::kBreak : NodeKind::kContinue, name.offset);
    }
    --current_;
    error_here("unsupported statement '" + name.value +
               "' (supported: set, if/elif/else, for/else, macro, break, continue)");
  }

  NodePtr set_statement(std::size_t offset) {
    auto node = make_node(NodeKind::kSet, offset);
    node->kids.push_back(sequence(false));
    if (is(TokenType::kEquals)) {
      ++current_;
      node->kids.push_back(sequence(false));
    } else {
      expect(TokenType::kCloseStatement, "'=' or '%}'");
      node->body = block_until({"endset"}, "endset");
      expect(TokenType::kOpenStatement, "'{%'");
      expect_name("endset");
    }
    expect(TokenType::kCloseStatement, "'%}'");
    return node;
  }

  NodePtr if_statement(std::size_t offset) {
    Nest nest(*this);
    auto node = make_node(NodeKind::kIf, offset);
    node->kids.push_back(expression());
    expect(TokenType::kCloseStatement, "'%}'");
    node->body = block_until({"elif", "else", "endif"}, "endif");
    if (is_statement({"elif"})) {
      const std::size_t elif_offset = tokens_[current_ + 1].offset;
      current_ += 2;
      node->alternate.push_back(if_statement(elif_offset));
    } else if (is_statement({"else"})) {
      current_ += 2;
      expect(TokenType::kCloseStatement, "'%}'");
      node->alternate = block_until({"endif"}, "endif");
    }
    return node;
  }

  NodePtr macro_statement(std::size_t offset) {
    auto node = make_node(NodeKind::kMacro, offset);
    if (!is(TokenType::kIdentifier)) error_here("expected the macro's name");
    node->text = next().value;
    node->kids = arguments(true);
    expect(TokenType::kCloseStatement, "'%}'");
    node->body = block_until({"endmacro"}, "endmacro");
    return node;
  }

  NodePtr for_statement(std::size_t offset) {
    auto node = make_node(NodeKind::kFor, offset);
    auto target = sequence(true);
    if (target->kind != NodeKind::kIdentifier && target->kind != NodeKind::kTuple) {
      error_here("expected a name or a tuple of names as the loop variable");
    }
    node->kids.push_back(std::move(target));
    if (!is_name("in")) error_here("expected 'in' after the loop variable");
    ++current_;
    node->kids.push_back(expression());
    expect(TokenType::kCloseStatement, "'%}'");
    node->body = block_until({"endfor", "else"}, "endfor");
    if (is_statement({"else"})) {
      current_ += 2;
      expect(TokenType::kCloseStatement, "'%}'");
      node->alternate = block_until({"endfor"}, "endfor");
    }
    return node;
  }

  // expr or expr, expr, ... (a tuple); `primary`: primary expressions only (loop targets).
  NodePtr sequence(bool primary) {
    const std::size_t offset = peek().offset;
    NodePtr first = primary ? primary_expression() : expression();
    if (!is(TokenType::kComma)) return first;
    auto tuple = make_node(NodeKind::kTuple, offset);
    tuple->kids.push_back(std::move(first));
    while (is(TokenType::kComma)) {
      ++current_;
      tuple->kids.push_back(primary ? primary_expression() : expression());
    }
    return tuple;
  }

  NodePtr expression() {
    Nest nest(*this);
    return if_expression();
  }

  NodePtr if_expression() {
    auto a = or_expression();
    if (!is_name("if")) return a;
    const std::size_t offset = next().offset;
    auto test = or_expression();
    if (is_name("else")) {
      ++current_;
      auto node = make_node(NodeKind::kTernary, offset);
      node->kids.push_back(std::move(test));
      node->kids.push_back(std::move(a));
      Nest nest(*this);
      node->kids.push_back(if_expression());
      return node;
    }
    auto node = make_node(NodeKind::kSelect, offset);
    node->kids.push_back(std::move(a));
    node->kids.push_back(std::move(test));
    return node;
  }

  NodePtr binary(NodePtr left, const std::string& op, std::size_t offset, NodePtr right) {
    auto node = make_node(NodeKind::kBinary, offset);
    node->text = op;
    node->kids.push_back(std::move(left));
    node->kids.push_back(std::move(right));
    return node;
  }

  NodePtr or_expression() {
    auto left = and_expression();
    while (is_name("or")) {
      const Token& op = next();
      left = binary(std::move(left), "or", op.offset, and_expression());
    }
    return left;
  }

  NodePtr and_expression() {
    auto left = not_expression();
    while (is_name("and")) {
      const Token& op = next();
      left = binary(std::move(left), "and", op.offset, not_expression());
    }
    return left;
  }

  NodePtr not_expression() {
    if (!is_name("not")) return comparison();
    Nest nest(*this);
    auto node = make_node(NodeKind::kUnary, next().offset);
    node->text = "not";
    node->kids.push_back(not_expression());
    return node;
  }

  NodePtr comparison() {
    auto left = additive();
    while (true) {
      std::string op;
      const std::size_t offset = current_ < tokens_.size() ? tokens_[current_].offset : end_offset_;
      if (is_name("not") && is_name("in", 1)) {
        op = "not in", current_ += 2;
      } else if (is_name("in") || is(TokenType::kComparison)) {
        op = next().value;
      } else {
        return left;
      }
      left = binary(std::move(left), op, offset, additive());
    }
  }

  NodePtr additive() {
    auto left = multiplicative();
    while (is(TokenType::kAdditive)) {
      const Token& op = next();
      left = binary(std::move(left), op.value, op.offset, multiplicative());
    }
    return left;
  }

  NodePtr multiplicative() {
    auto left = power();
    while (is(TokenType::kMultiplicative)) {
      const Token& op = next();
      left = binary(std::move(left), op.value, op.offset, power());
    }
    return left;
  }

  NodePtr power() {
    auto left = test_expression();
    while (is(TokenType::kPower)) {
      const Token& op = next();
      left = binary(std::move(left), op.value, op.offset, test_expression());
    }
    return left;
  }

  NodePtr test_expression() {
    auto operand = filter_expression();
    while (is_name("is")) {
      const std::size_t offset = next().offset;
      const bool negate = is_name("not");
      if (negate) ++current_;
      auto name = primary_expression();
      if (name->kind != NodeKind::kIdentifier) error_here("expected a test name after 'is'");
      auto node = make_node(NodeKind::kTest, offset);
      node->text = name->text;
      node->flag = negate;
      node->kids.push_back(std::move(operand));
      operand = std::move(node);
    }
    return operand;
  }

  NodePtr filter_expression() {
    auto operand = unary_sign();
    while (is(TokenType::kPipe)) {
      const std::size_t offset = next().offset;
      auto filter = primary_expression();
      if (filter->kind != NodeKind::kIdentifier) error_here("expected a filter name after '|'");
      if (is(TokenType::kOpenParen)) filter = call(std::move(filter));
      auto node = make_node(NodeKind::kFilter, offset);
      node->kids.push_back(std::move(operand));
      node->kids.push_back(std::move(filter));
      operand = std::move(node);
    }
    return operand;
  }

  NodePtr unary_sign() {
    if ((is(TokenType::kUnary) || is(TokenType::kAdditive)) && (peek().value == "-" || peek().value == "+")) {
      Nest nest(*this);
      auto node = make_node(NodeKind::kUnary, peek().offset);
      node->text = next().value;
      node->kids.push_back(unary_sign());
      return node;
    }
    auto member_node = member(primary_expression());
    return is(TokenType::kOpenParen) ? call(std::move(member_node)) : std::move(member_node);
  }

  NodePtr call(NodePtr callee) {
    Nest nest(*this);
    auto node = make_node(NodeKind::kCall, callee->offset);
    node->kids.push_back(std::move(callee));
    for (auto& arg : arguments(false)) node->kids.push_back(std::move(arg));
    node = member(std::move(node));
    return is(TokenType::kOpenParen) ? call(std::move(node)) : std::move(node);
  }

  // ( args ) in a call, or ( params ) of a macro.
  std::vector<NodePtr> arguments(bool parameters) {
    expect(TokenType::kOpenParen, "'('");
    std::vector<NodePtr> args;
    std::set<std::string> names;
    bool saw_keyword = false;
    bool saw_spread = false;
    while (!is(TokenType::kCloseParen)) {
      const std::size_t offset = peek().offset;
      const bool keyword_spread = is(TokenType::kPower);
      const bool spread = is(TokenType::kMultiplicative) && peek().value == "*";
      if (parameters && (keyword_spread || spread)) error_here("argument unpacking in a macro's parameters");
      if (keyword_spread) {
        ++current_;
        auto node = make_node(NodeKind::kKeywordSpread, offset);
        node->kids.push_back(expression());
        args.push_back(std::move(node));
        if (is(TokenType::kComma)) ++current_;
        if (!is(TokenType::kCloseParen)) error_here("'**' must be applied to the final argument");
        break;
      }
      NodePtr arg;
      if (spread) {
        if (saw_spread) error_here("only one '*' argument unpacking is allowed");
        saw_spread = true;
        ++current_;
        arg = make_node(NodeKind::kSpread, offset);
        arg->kids.push_back(expression());
      } else {
        arg = expression();
        if (is(TokenType::kEquals)) {
          ++current_;
          if (arg->kind != NodeKind::kIdentifier) error_here("expected a name before '='");
          auto keyword = make_node(NodeKind::kKeyword, offset);
          keyword->text = arg->text;
          keyword->kids.push_back(expression());
          arg = std::move(keyword);
        }
        if (parameters) {
          if (arg->kind != NodeKind::kIdentifier && arg->kind != NodeKind::kKeyword) {
            error_here("expected a parameter name");
          }
          if (!names.insert(arg->text).second) error_here("duplicate parameter name '" + arg->text + "'");
        }
        if (arg->kind == NodeKind::kKeyword) {
          saw_keyword = true;
        } else if (saw_keyword) {
          error_here(parameters ? "non-default parameter after a default one"
                                : "positional argument after a keyword argument");
        } else if (saw_spread) {
          error_here("positional argument after '*' unpacking");
        }
      }
      args.push_back(std::move(arg));
      if (is(TokenType::kComma)) ++current_;
    }
    expect(TokenType::kCloseParen, "')'");
    return args;
  }

  // [index] or [start:stop:step] after the '['.
  NodePtr subscript(std::size_t offset) {
    std::vector<NodePtr> parts;
    bool is_slice = false;
    while (!is(TokenType::kCloseSquare)) {
      if (is(TokenType::kColon)) {
        parts.push_back(nullptr);
        ++current_;
        is_slice = true;
      } else {
        parts.push_back(expression());
        if (is(TokenType::kColon)) {
          ++current_;
          is_slice = true;
        }
      }
    }
    if (parts.empty()) error_here("expected an index or a slice inside '[ ]'");
    if (!is_slice) return std::move(parts[0]);
    if (parts.size() > 3) error_here("a slice has at most 3 parts");
    auto node = make_node(NodeKind::kSlice, offset);
    parts.resize(3);
    node->kids = std::move(parts);
    return node;
  }

  NodePtr member(NodePtr object) {
    while (is(TokenType::kDot) || is(TokenType::kOpenSquare)) {
      Nest nest(*this);
      const Token& op = next();
      const bool computed = op.type == TokenType::kOpenSquare;
      NodePtr property;
      if (computed) {
        property = subscript(op.offset);
        expect(TokenType::kCloseSquare, "']'");
      } else {
        property = primary_expression();
        if (property->kind != NodeKind::kIdentifier && property->kind != NodeKind::kInteger) {
          error_here("expected a name after '.'");
        }
      }
      auto node = make_node(NodeKind::kMember, op.offset);
      node->flag = computed;
      node->kids.push_back(std::move(object));
      node->kids.push_back(std::move(property));
      object = std::move(node);
    }
    return object;
  }

  NodePtr primary_expression() {
    Nest nest(*this);
    const Token& t = next();
    switch (t.type) {
      case TokenType::kNumber: {
        auto node = make_node(t.value.find('.') != std::string::npos ? NodeKind::kFloat : NodeKind::kInteger,
                              t.offset);
        node->number = std::strtod(t.value.c_str(), nullptr);
        return node;
      }
      case TokenType::kString: {
        auto node = make_node(NodeKind::kString, t.offset);
        node->text = t.value;
        while (is(TokenType::kString)) node->text += next().value;
        return node;
      }
      case TokenType::kIdentifier: {
        auto node = make_node(NodeKind::kIdentifier, t.offset);
        node->text = t.value;
        return node;
      }
      case TokenType::kOpenParen: {
        auto node = sequence(false);
        expect(TokenType::kCloseParen, "')'");
        return node;
      }
      case TokenType::kOpenSquare:
        return array_literal(t.offset);
      case TokenType::kOpenCurly:
        return object_literal(t.offset);
      default:
        --current_;
        error_here(std::string("unexpected ") + describe(t.type) + " in an expression");
    }
  }

  NodePtr array_literal(std::size_t offset) {
    auto node = make_node(NodeKind::kArray, offset);
    while (!is(TokenType::kCloseSquare)) {
      node->kids.push_back(expression());
      if (is(TokenType::kComma)) ++current_;
    }
    ++current_;
    return node;
  }

  NodePtr object_literal(std::size_t offset) {
    auto node = make_node(NodeKind::kObject, offset);
    while (!is(TokenType::kCloseCurly)) {
      node->kids.push_back(expression());
      expect(TokenType::kColon, "':' between a key and its value");
      node->kids.push_back(expression());
      if (is(TokenType::kComma)) ++current_;
    }
    ++current_;
    return node;
  }

  const std::vector<Token>& tokens_;
  std::size_t end_offset_;
  std::size_t current_ = 0;
  int depth_ = 0;
};

}  // namespace

Body parse(const std::vector<Token>& tokens, std::size_t end_offset) {
  return Parser(tokens, end_offset).run();
}

}  // namespace modelslim::core::jinja
