#include "modelslim/core/chat_template.hpp"

#include "errors.hpp"
#include "interpreter.hpp"
#include "lexer.hpp"
#include "modelslim/error.hpp"
#include "parser.hpp"
#include "program.hpp"

namespace modelslim::core {
namespace {

// "chat_template line L column C: message" (1-based; columns count characters).
Error located(const std::string& source, const jinja::PositionedError& error,
              const std::string& prefix = "") {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < error.offset && i < source.size(); ++i) {
    if (source[i] == '\n') {
      ++line, column = 1;
    } else if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  return Error(ErrorCode::kSchemaValidate, "chat_template line " + std::to_string(line) + " column " +
                                               std::to_string(column) + ": " + prefix + error.what());
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source) {
  auto program = std::make_unique<jinja::Program>();
  program->source = source;
  try {
    program->body = jinja::parse(jinja::tokenize(source), source.size());
  } catch (const jinja::PositionedError& e) {
    throw located(source, e);
  }
  program_ = std::move(program);
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::json& variables) const {
  return render(nlohmann::ordered_json(variables));
}

std::string ChatTemplate::render(const nlohmann::ordered_json& variables) const {
  if (!variables.is_object()) {
    throw Error(ErrorCode::kSchemaValidate,
                "chat_template variables must be a JSON object, got " + std::string(variables.type_name()));
  }
  jinja::Scope globals;
  jinja::install_globals(globals);
  for (const auto& [name, value] : variables.items()) {
    if (globals.has_own(name)) {
      throw Error(ErrorCode::kSchemaValidate, "chat_template variable '" + name +
                                                  "' is a reserved name of the template language; rename it");
    }
    globals.set(name, jinja::from_json(value));
  }
  try {
    return jinja::Interpreter().render(program_->body, globals);
  } catch (const jinja::RaisedError& e) {
    throw located(program_->source, e, "raise_exception: ");
  } catch (const jinja::PositionedError& e) {
    throw located(program_->source, e);
  }
}

}  // namespace modelslim::core
