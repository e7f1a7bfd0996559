// Numbers in error messages, printed as JavaScript would ("-1", "0.5", "1e-12"),
// so native and TypeScript messages read alike.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace condiff {

// The shortest of %.15g, %.16g, %.17g that reads back as x (JavaScript prints the shortest
// round-trip digits too), with the exponent written as JavaScript writes it (1e-7, 1e+21).
inline std::string format_number(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  std::string s = buf;
  const size_t e = s.find('e');
  if (e != std::string::npos) {
    size_t digit = e + 2;  // after the sign
    while (digit + 1 < s.size() && s[digit] == '0') s.erase(digit, 1);
  }
  return s;
}

}  // namespace condiff
