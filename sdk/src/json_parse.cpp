#include "modelslim/json_parse.hpp"

#include <string>

namespace modelslim {
namespace {

bool within_depth_limit(int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
  if (depth > kMaxJsonDepth &&
      (event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start)) {
    throw nlohmann::json::parse_error::create(
        101, 0, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels", nullptr);
  }
  return true;
}

}  // namespace

nlohmann::json parse_json(std::string_view text) {
  return nlohmann::json::parse(text.begin(), text.end(), within_depth_limit);
}

nlohmann::json parse_json(std::istream& in) {
  return nlohmann::json::parse(in, within_depth_limit);
}

nlohmann::json try_parse_json(std::string_view text) {
  try {
    return nlohmann::json::parse(text.begin(), text.end(), within_depth_limit);
  } catch (const nlohmann::json::parse_error&) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
}

}  // namespace modelslim
