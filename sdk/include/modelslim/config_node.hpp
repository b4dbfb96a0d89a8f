// A YAML node that remembers where it came from (file, dotted field path, line:column), so that every
// validation error can name the exact field, e.g. "plan.yaml:7:15: spec.process.0.qconfig.act.scope: ...".
// Plugins validate their own configuration through this class when they are constructed.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "modelslim/error.hpp"
#include "modelslim/export.hpp"

namespace modelslim {

class MODELSLIM_SDK_API ConfigNode {
 public:
  ConfigNode(YAML::Node node, std::string path, std::string file);

  const YAML::Node& yaml() const { return node_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  bool defined() const { return node_.IsDefined() && !node_.IsNull(); }
  bool is_map() const { return node_.IsMap(); }
  bool is_sequence() const { return node_.IsSequence(); }
  bool has(const std::string& key) const;

  ConfigNode operator[](const std::string& key) const;  // child (possibly undefined)
  ConfigNode at(std::size_t index) const;
  std::size_t size() const;
  std::vector<ConfigNode> items() const;  // sequence elements
  std::vector<std::string> keys() const;  // mapping keys in file order

  // Errors (throw Error kSchemaValidate) that name file:line:col and the field path.
  [[noreturn]] void fail(const std::string& what) const;
  void require_map() const;
  void require_sequence() const;
  // Rejects keys not in `allowed` ("unknown key 'x' (allowed: a, b)").
  void check_keys(const std::vector<std::string>& allowed) const;

  // Scalar conversions with type errors naming the field.
  std::string as_string() const;
  double as_double() const;
  std::int64_t as_int() const;
  bool as_bool() const;  // accepts true/false/True/False only
  std::vector<std::string> as_string_list() const;

  // Optional fields: the fallback when absent or null.
  std::string get_string(const std::string& key, const std::string& fallback) const;
  double get_double(const std::string& key, double fallback) const;
  std::int64_t get_int(const std::string& key, std::int64_t fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::vector<std::string> get_string_list(const std::string& key,
                                           const std::vector<std::string>& fallback) const;
  // A string field restricted to a set of values.
  std::string get_choice(const std::string& key, const std::vector<std::string>& choices,
                         const std::string& fallback) const;

  std::string location() const;  // "file:line:col" (1-based), or the file alone when unknown

 private:
  YAML::Node node_;
  std::string path_;
  std::string file_;
  YAML::Mark mark_;
};

// Parses YAML text; syntax errors become Error(kSchemaValidate) naming file:line:col.
MODELSLIM_SDK_API ConfigNode parse_yaml_file(const std::string& file_path);
MODELSLIM_SDK_API ConfigNode parse_yaml_string(const std::string& text, const std::string& display_name);

}  // namespace modelslim
