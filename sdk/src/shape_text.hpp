// "[2, 3]": a tensor shape as the SDK's error messages print it (internal to the SDK).
#pragma once

#include <c10/util/ArrayRef.h>

#include <cstdint>
#include <string>

namespace modelslim {

inline std::string shape_text(c10::IntArrayRef shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

}  // namespace modelslim
