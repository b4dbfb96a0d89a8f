// The syntax tree: one node type with a kind, as in @huggingface/jinja's ast.ts. Statements render to text;
// expressions evaluate to values; a template body is a list of either.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace modelslim::core::jinja {

enum class NodeKind {
  // statements
  kText,
  kComment,
  kIf,
  kFor,
  kSet,
  kMacro,
  kBreak,
  kContinue,
  // expressions
  kInteger,
  kFloat,
  kString,
  kIdentifier,
  kArray,
  kTuple,
  kObject,
  kBinary,
  kUnary,
  kFilter,
  kTest,
  kSelect,
  kTernary,
  kMember,
  kCall,
  kSlice,
  kKeyword,
  kSpread,
  kKeywordSpread
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  NodeKind kind;
  std::size_t offset;  // in the template source
  std::string text;    // identifier name, string value, operator, filter/test name
  double number = 0;
  bool flag = false;  // kMember: computed (a[b]); kTest: negated
  // Operands in a fixed order per kind (kBinary: left, right; kMember: object, property; kCall: callee,
  // args...; kFilter: operand, filter; kSlice: start, stop, step (null when absent); kIf: test; kFor: target,
  // iterable, [condition]; kSet: target, [value]; kObject: key, value, key, value...).
  std::vector<NodePtr> kids;
  Body body;       // kIf, kFor, kSet (block form), kMacro
  Body alternate;  // kIf else/elif, kFor else
};

inline NodePtr make_node(NodeKind kind, std::size_t offset) {
  auto node = std::make_unique<Node>();
  node->kind = kind;
  node->offset = offset;
  return node;
}

}  // namespace modelslim::core::jinja
