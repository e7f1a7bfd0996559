// Subnormal floats as zero for the lifetime of a guard, on the calling thread only (MATH.md §7,
// "Subnormals in the score"). The mixture score's responsibilities of far components fall
// below the smallest normal float (exp of −87 over a sum up to J), and so do their products
// with the means; on Intel cores every such operand or result of a multiply-add takes a
// microcode assist of ~100 cycles, which made the isotropic score 7–11× slower on a Xeon
// (bench/RESULTS.md §7). What the flush can change is bounded in MATH.md §7: a responsibility
// below 2⁻¹²⁶ becomes 0, so its component's term r_j g_j leaves the sum.
// The caller's control bits are restored when the guard ends (the thread may be a caller's);
// the sticky exception flags the score raised are kept, as they would be without the guard.
#pragma once

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace condiff {

class FlushSubnormals {
 public:
#if defined(__SSE__) || defined(__x86_64__)
  // MXCSR bit 15 (FTZ: subnormal results become zero) and bit 6 (DAZ: subnormal operands
  // are read as zero); the SSE and AVX units share it.
  static constexpr unsigned kFlushBits = 0x8040u;
  FlushSubnormals() : saved_(_mm_getcsr()) {
    if ((saved_ & kFlushBits) != kFlushBits) _mm_setcsr(saved_ | kFlushBits);
  }
  // Bits 0-5 of MXCSR are the sticky exception flags, 6-15 the controls.
  static constexpr unsigned kFlags = 0x3Fu;
  ~FlushSubnormals() {
    if ((saved_ & kFlushBits) != kFlushBits) _mm_setcsr((saved_ & ~kFlags) | (_mm_getcsr() & kFlags));
  }

 private:
  unsigned saved_;
#else
  // Other CPUs compute subnormals as IEEE 754 says, at whatever speed they have.
  FlushSubnormals() = default;
#endif

 public:
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;
};

}  // namespace condiff
