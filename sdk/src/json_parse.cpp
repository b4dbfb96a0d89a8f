#include "modelslim/json_parse.hpp"

#include <string>

namespace modelslim {
namespace {

bool within_depth_limit(int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
  if (depth > kMaxJsonDepth && (event == nlohmann::json::parse_event_t::object_start ||
                                event == nlohmann::json::parse_event_t::array_start)) {
    throw nlohmann::json::parse_error::create(
        101, 0, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels", nullptr);
  }
  return true;
}

// nlohmann reports a number beyond double range (1e99999) as out_of_range, which readers that catch
// parse_error let escape; every failure to parse is a parse_error here.
template <typename Parse>
nlohmann::json as_parse_error(Parse&& parse) {
  try {
    return parse();
  } catch (const nlohmann::json::parse_error&) {
    throw;
  } catch (const nlohmann::json::exception& error) {
    throw nlohmann::json::parse_error::create(101, 0, error.what(), nullptr);
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text) {
  return as_parse_error([&] { return nlohmann::json::parse(text.begin(), text.end(), within_depth_limit); });
}

nlohmann::json parse_json(std::istream& in) {
  return as_parse_error([&] { return nlohmann::json::parse(in, within_depth_limit); });
}

nlohmann::json try_parse_json(std::string_view text) {
  try {
    return parse_json(text);
  } catch (const nlohmann::json::parse_error&) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
}

}  // namespace modelslim
