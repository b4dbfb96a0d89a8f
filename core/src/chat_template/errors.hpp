// Errors inside the template engine. EvalError carries no position: the renderer adds the position of the
// node being evaluated. ChatTemplate turns a PositionedError into modelslim::Error with line and column.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace modelslim::core::jinja {

struct EvalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct PositionedError : std::runtime_error {
  PositionedError(std::size_t at, const std::string& message) : std::runtime_error(message), offset(at) {}
  std::size_t offset;  // byte offset in the template source
};

// A template's own raise_exception(message).
struct RaisedError : PositionedError {
  using PositionedError::PositionedError;
};

[[noreturn]] inline void fail(const std::string& message) {
  throw EvalError(message);
}

}  // namespace modelslim::core::jinja

namespace modelslim::core::jinja {

// Thrown by raise_exception(); the renderer turns it into a RaisedError at the call's position.
struct RaiseSignal : EvalError {
  using EvalError::EvalError;
};

}  // namespace modelslim::core::jinja
