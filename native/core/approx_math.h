// Branch-free float approximations of log and sin/cos for the normal generator
// (MATH.md §6, Box–Muller). Plain scalar code with selects instead of branches, so the
// CPU's vectoriser runs it in SIMD lanes and the GPU can run it per thread: every path
// evaluates the same formula. Constants: Cephes Math Library (S. Moshier), logf.c,
// sinf.c, cosf.c.
#pragma once
#include <cstdint>
#include <cstring>

#include "hd.h"

namespace condiff {

// Conversions between float and int32, and a lane-wise choice. The formulas below are
// templates on the float and int types F and I: scalars here (the GPU, and the loops the
// CPU's vectoriser turns into SIMD), or the four-vector lanes of lanes_x4.h, whose
// overloads of these functions are found by argument-dependent lookup.
CONDIFF_HD float to_float(int32_t i) { return static_cast<float>(i); }
CONDIFF_HD int32_t to_int(float f) { return static_cast<int32_t>(f); }
CONDIFF_HD float select(bool c, float a, float b) { return c ? a : b; }
CONDIFF_HD int32_t select(bool c, int32_t a, int32_t b) { return c ? a : b; }

template <typename F, typename I>
CONDIFF_HD F bits_to_float(I bits) {
  F f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

template <typename I, typename F>
CONDIFF_HD I float_to_bits(F f) {
  I i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

// Natural log of x in (0, 1] (normal floats only, which is all Box–Muller sees:
// x >= 2^-24). x = 2^e m with m in [sqrt(1/2), sqrt(2)); log m by Cephes' logf polynomial.
template <typename F, typename I>
CONDIFF_HD F log_approx(F x) {
  I bits = float_to_bits<I>(x);
  I e = ((bits >> 23) & 0xff) - 126;           // x = 2^e * m, m in [0.5, 1)
  F m = bits_to_float<F>((bits & 0x007fffff) | 0x3f000000);
  // Move m to [sqrt(1/2), sqrt(2)): if m < sqrt(1/2), m <- 2m and e <- e - 1.
  const auto small = m < F{} + 0.707106781186547524f;
  e = select(small, e - 1, e);
  m = select(small, m + m - 1.0f, m - 1.0f);
  const F z = m * m;
  F y = F{} + 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  const F ef = to_float(e);
  y = y - 2.12194440e-4f * ef;
  y = y - 0.5f * z;
  return m + y + 0.693359375f * ef;
}

// sin and cos of 2 pi t for t in [0, 1): reduce to the nearest quarter turn, evaluate
// Cephes' minimax polynomials on [-pi/4, pi/4], then rotate by the quadrant.
template <typename F, typename I>
CONDIFF_HD void sincos_turns_approx(F t, F* s, F* c) {
  const F shifter = F{} + 12582912.0f;  // 1.5 * 2^23: round to nearest integer
  const F q = (t * 4.0f + shifter) - shifter;
  const F x = (t - q * 0.25f) * 6.28318530717958648f;  // in [-pi/4, pi/4]
  const F z = x * x;
  F sp = F{} - 1.9515295891e-4f;
  sp = sp * z + 8.3321608736e-3f;
  sp = sp * z - 1.6666654611e-1f;
  const F sx = sp * z * x + x;
  F cp = F{} + 2.443315711809948e-5f;
  cp = cp * z - 1.388731625493765e-3f;
  cp = cp * z + 4.166664568298827e-2f;
  const F cx = cp * z * z - 0.5f * z + 1.0f;
  const I quadrant = to_int(q) & 3;
  // quadrant 0: (s, c) = (sx, cx); 1: (cx, -sx); 2: (-sx, -cx); 3: (-cx, sx)
  const auto swap = (quadrant & 1) != 0;
  const F s0 = select(swap, cx, sx);
  const F c0 = select(swap, sx, cx);
  *s = select(quadrant >= 2, F{} - s0, s0);
  *c = select((quadrant == 1) | (quadrant == 2), F{} - c0, c0);
}

}  // namespace condiff
