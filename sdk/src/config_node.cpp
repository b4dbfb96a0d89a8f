#include "modelslim/config_node.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace modelslim {
namespace {

std::string join_path(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : parent + "." + child;
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

std::string describe_node(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

// Configs are walked recursively (validation, YAML::Clone, emitters, plugins' own readers). An alias inside
// its own anchor makes such a walk endless and nested aliases ("billion laughs") make it exponential, so
// both are refused when the file is read, with nesting beyond any real config.
constexpr std::size_t kMaxYamlDepth = 64;
constexpr std::size_t kMaxYamlNodes = 100000;

struct ShapeCheck {
  const std::string& file;
  std::vector<YAML::Node> path;
  std::size_t visited = 0;

  [[noreturn]] void fail(const YAML::Node& node, const std::string& what) const {
    const YAML::Mark mark = node.Mark();
    const std::string where =
        mark.is_null() ? file
                       : file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    throw Error(ErrorCode::kSchemaValidate, where + ": " + what,
                "write the values out instead of using aliases");
  }

  void visit(const YAML::Node& node) {
    if (++visited > kMaxYamlNodes) {
      fail(node, "the document expands to more than " + std::to_string(kMaxYamlNodes) +
                     " nodes through aliases of aliases (a 'billion laughs' document?)");
    }
    if (!node.IsMap() && !node.IsSequence()) return;
    for (const YAML::Node& ancestor : path) {
      if (ancestor.is(node)) fail(node, "an alias refers to its own anchor, so the document never ends");
    }
    if (path.size() >= kMaxYamlDepth) {
      fail(node, "nested deeper than " + std::to_string(kMaxYamlDepth) + " levels (through aliases?)");
    }
    path.push_back(node);
    for (const auto& entry : node) {
      if (node.IsMap()) {
        visit(entry.first);
        visit(entry.second);
      } else {
        visit(entry);
      }
    }
    path.pop_back();
  }
};

// Keys are names: a list, mapping or null used as a key ("{[a]: 1}") is a config error, not YAML's own
// conversion exception.
std::string key_text(const ConfigNode& map, const YAML::Node& key) {
  if (!key.IsScalar()) {
    ConfigNode(key, map.path(), map.file())
        .fail("a mapping key must be a plain name, got " + describe_node(key));
  }
  return key.Scalar();
}

}  // namespace

// A missing key of a const YAML node is an "invalid" node whose Type() throws YAML::InvalidNode; it is kept
// as a plain undefined node so that every accessor reports "expected ..., got nothing" naming the field.
ConfigNode::ConfigNode(YAML::Node node, std::string path, std::string file)
    : node_(node.IsDefined() ? std::move(node) : YAML::Node(YAML::NodeType::Undefined)),
      path_(std::move(path)),
      file_(std::move(file)) {
  if (node_.IsDefined()) mark_ = node_.Mark();
}

bool ConfigNode::has(const std::string& key) const {
  return node_.IsMap() && node_[key].IsDefined();
}

ConfigNode ConfigNode::operator[](const std::string& key) const {
  if (!node_.IsMap()) return ConfigNode(YAML::Node(YAML::NodeType::Undefined), join_path(path_, key), file_);
  ConfigNode child(node_[key], join_path(path_, key), file_);
  if (!child.node_.IsDefined()) child.mark_ = mark_;  // point missing fields at their parent
  return child;
}

ConfigNode ConfigNode::at(std::size_t index) const {
  return ConfigNode(node_[index], join_path(path_, std::to_string(index)), file_);
}

std::size_t ConfigNode::size() const {
  return node_.IsSequence() || node_.IsMap() ? node_.size() : 0;
}

std::vector<ConfigNode> ConfigNode::items() const {
  require_sequence();
  std::vector<ConfigNode> result;
  for (std::size_t i = 0; i < node_.size(); ++i) result.push_back(at(i));
  return result;
}

std::vector<std::string> ConfigNode::keys() const {
  std::vector<std::string> result;
  if (!node_.IsMap()) return result;
  for (const auto& entry : node_) result.push_back(key_text(*this, entry.first));
  return result;
}

std::string ConfigNode::location() const {
  if (mark_.line < 0) return file_;
  return file_ + ":" + std::to_string(mark_.line + 1) + ":" + std::to_string(mark_.column + 1);
}

void ConfigNode::fail(const std::string& what) const {
  const std::string field = path_.empty() ? "(top level)" : path_;
  throw Error(ErrorCode::kSchemaValidate, location() + ": " + field + ": " + what,
              "fix the field '" + field + "' in " + file_);
}

void ConfigNode::require_map() const {
  if (!node_.IsMap()) fail("expected a mapping, got " + describe_node(node_));
}

void ConfigNode::require_sequence() const {
  if (!node_.IsSequence()) fail("expected a list, got " + describe_node(node_));
}

void ConfigNode::check_keys(const std::vector<std::string>& allowed) const {
  require_map();
  for (const auto& entry : node_) {
    const std::string key = key_text(*this, entry.first);
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      ConfigNode child(entry.second, join_path(path_, key), file_);
      child.mark_ = entry.first.Mark();
      child.fail("unknown key '" + key + "' (allowed: " + join(allowed) + ")");
    }
  }
}

std::string ConfigNode::as_string() const {
  if (!node_.IsScalar()) fail("expected a string, got " + describe_node(node_));
  return node_.Scalar();
}

double ConfigNode::as_double() const {
  if (node_.IsScalar()) {
    const std::string text = node_.Scalar();
    std::istringstream in(text);
    double value = 0.0;
    in >> value;
    if (in && in.peek() == EOF) return value;
  }
  fail("expected a number, got " + describe_node(node_));
}

std::int64_t ConfigNode::as_int() const {
  if (node_.IsScalar()) {
    const std::string text = node_.Scalar();
    std::istringstream in(text);
    long long value = 0;
    in >> value;
    if (in && in.peek() == EOF) return value;
  }
  fail("expected an integer, got " + describe_node(node_));
}

bool ConfigNode::as_bool() const {
  if (node_.IsScalar()) {
    const std::string& text = node_.Scalar();
    if (text == "true" || text == "True") return true;
    if (text == "false" || text == "False") return false;
  }
  fail("expected true or false, got " + describe_node(node_));
}

std::vector<std::string> ConfigNode::as_string_list() const {
  if (node_.IsScalar()) fail("expected a list of strings, got " + describe_node(node_));
  std::vector<std::string> result;
  for (const ConfigNode& item : items()) result.push_back(item.as_string());
  return result;
}

std::string ConfigNode::get_string(const std::string& key, const std::string& fallback) const {
  const ConfigNode child = (*this)[key];
  return child.defined() ? child.as_string() : fallback;
}

double ConfigNode::get_double(const std::string& key, double fallback) const {
  const ConfigNode child = (*this)[key];
  return child.defined() ? child.as_double() : fallback;
}

std::int64_t ConfigNode::get_int(const std::string& key, std::int64_t fallback) const {
  const ConfigNode child = (*this)[key];
  return child.defined() ? child.as_int() : fallback;
}

bool ConfigNode::get_bool(const std::string& key, bool fallback) const {
  const ConfigNode child = (*this)[key];
  return child.defined() ? child.as_bool() : fallback;
}

std::vector<std::string> ConfigNode::get_string_list(const std::string& key,
                                                     const std::vector<std::string>& fallback) const {
  const ConfigNode child = (*this)[key];
  return child.defined() ? child.as_string_list() : fallback;
}

std::string ConfigNode::get_choice(const std::string& key, const std::vector<std::string>& choices,
                                   const std::string& fallback) const {
  const ConfigNode child = (*this)[key];
  if (!child.defined()) return fallback;
  const std::string value = child.as_string();
  if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
    child.fail("expected one of [" + join(choices) + "], got '" + value + "'");
  }
  return value;
}

ConfigNode parse_yaml_string(const std::string& text, const std::string& display_name) {
  try {
    YAML::Node root = YAML::Load(text);
    ShapeCheck{display_name, {}, 0}.visit(root);
    return ConfigNode(std::move(root), "", display_name);
  } catch (const YAML::Exception& error) {
    const std::string where = error.mark.is_null()
                                  ? display_name
                                  : display_name + ":" + std::to_string(error.mark.line + 1) + ":" +
                                        std::to_string(error.mark.column + 1);
    throw Error(ErrorCode::kSchemaValidate, where + ": malformed YAML: " + error.msg,
                "check the YAML syntax near that line");
  }
}

ConfigNode parse_yaml_file(const std::string& file_path) {
  std::ifstream in(file_path, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kSchemaValidate, file_path + ": cannot read the config file",
                "check that --config_path points to an existing YAML file");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_yaml_string(text.str(), file_path);
}

}  // namespace modelslim
