// The parsed template: its source (for line and column in errors) and its syntax tree.
#pragma once

#include <string>

#include "ast.hpp"

namespace modelslim::core::jinja {

struct Program {
  std::string source;
  Body body;
};

}  // namespace modelslim::core::jinja
