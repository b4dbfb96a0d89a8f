// doctest for tests that also see LibTorch: Debian's c10 logs through glog, whose CHECK/CHECK_EQ/... macros
// would silently replace doctest's (a failed check would abort instead of being reported). Include this
// instead of <doctest/doctest.h>.
#pragma once

#include <ATen/core/Tensor.h>

#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LE
#undef CHECK_LT
#undef CHECK_GE
#undef CHECK_GT

#include <doctest/doctest.h>

#include <sstream>

namespace doctest {
template <>
struct StringMaker<c10::ScalarType> {
  static String convert(c10::ScalarType type) { return c10::toString(type); }
};
template <>
struct StringMaker<c10::IntArrayRef> {
  static String convert(c10::IntArrayRef shape) {
    std::ostringstream out;
    out << shape;
    return out.str().c_str();
  }
};
}  // namespace doctest
