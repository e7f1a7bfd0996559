// Philox4x32-R counter-based generator and the conversions of MATH.md §6.
// Constants: Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"
// (multipliers 0xD2511F53, 0xCD9E8D57; Weyl key increments 0x9E3779B9, 0xBB67AE85).
#pragma once
#include <cmath>
#include <cstdint>

#include "hd.h"

namespace condiff {

struct Words4 {
  uint32_t v[4];
};

CONDIFF_HD void mulhilo32(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

// One Philox4x32 block with `rounds` rounds (10 is the standard; 7 only for the KAT vectors).
CONDIFF_HD Words4 philox4x32(Words4 ctr, uint32_t k0, uint32_t k1, int rounds = 10) {
  for (int r = 0; r < rounds; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(0xD2511F53u, ctr.v[0], &hi0, &lo0);
    mulhilo32(0xCD9E8D57u, ctr.v[2], &hi1, &lo1);
    Words4 out;
    out.v[0] = hi1 ^ ctr.v[1] ^ k0;
    out.v[1] = lo1;
    out.v[2] = hi0 ^ ctr.v[3] ^ k1;
    out.v[3] = lo0;
    ctr = out;
  }
  return ctr;
}

// Uniform in [0, 1) with 24 bits (float): (x >> 8) * 2^-24. Never 1.
CONDIFF_HD float uniform01_open_right_f(uint32_t x) { return static_cast<float>(x >> 8) * 5.9604644775390625e-8f; }
// Uniform in [0, 1) as double: x * 2^-32. Never 1 (the systematic offset must not be 1).
CONDIFF_HD double uniform01_open_right_d(uint32_t x) { return static_cast<double>(x) * 2.3283064365386963e-10; }
// Uniform in (0, 1] as ((x >> 8) + 1) * 2^-24: safe inside log() (Box–Muller radius).
CONDIFF_HD float uniform01_open_left_f(uint32_t x) { return static_cast<float>((x >> 8) + 1u) * 5.9604644775390625e-8f; }
// Uniform in (0, 1] as double with 32 bits: (x + 1) * 2^-32.
CONDIFF_HD double uniform01_open_left_d(uint32_t x) { return (static_cast<double>(x) + 1.0) * 2.3283064365386963e-10; }

}  // namespace condiff
