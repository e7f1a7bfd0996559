// Numbers in error messages, printed as JavaScript would ("-1", "0.5", "1e-12"),
// so native and TypeScript messages read alike.
#pragma once
#include <cmath>
#include <cstdio>
#include <string>

namespace condiff {

inline std::string format_number(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", x);
  return buf;
}

}  // namespace condiff
