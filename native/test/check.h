// The assertion both C++ test programs use: count every check, print each failure with
// its place and a printf-style message, keep going.
#pragma once
#include <cstdio>

struct CheckCounts {
  int checks = 0;
  int failures = 0;
};

#define CONDIFF_CHECK(counts, cond, ...)                          \
  do {                                                            \
    ++(counts).checks;                                            \
    if (!(cond)) {                                                \
      ++(counts).failures;                                        \
      std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::printf(__VA_ARGS__);                                   \
      std::printf("\n");                                          \
    }                                                             \
  } while (0)
