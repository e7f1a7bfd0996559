// Whether a float array holds an Inf or NaN, in SIMD lanes: the exponent bits all ones.
// No early exit, so the loop vectorises; a per-element isfinite test with a branch ran at
// ~1 ns per float. Callers scan a block with this, then look for the index only on a hit.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace condiff {

// 1 when v is an Inf or NaN (its exponent bits all ones), else 0: an integer test, the same
// answer on every instruction set, that vectorises as an OR over a loop.
inline uint32_t not_finite_bit(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
}

// Defined in finite.cc, once per instruction set (the score and the fused steps scan every
// block they write; at baseline SSE2 the scan cost 8-10% of the isotropic score at D = 80).
bool any_non_finite(const float* x, int64_t n);

// The index of the first non-finite value of x[0, n), or -1.
inline int64_t first_non_finite(const float* x, int64_t n) {
  if (!any_non_finite(x, n)) return -1;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return i;
  return -1;
}

// Lowers `first` to `index` if that is smaller: the smallest index wins whichever worker
// finds it, so the result never depends on threads.
inline void note_min_index(std::atomic<int64_t>& first, int64_t index) {
  int64_t seen = first.load();
  while (index < seen && !first.compare_exchange_weak(seen, index)) {
  }
}

// For parallel scans: when x[begin, end) holds a non-finite value, lowers `first` to the
// index (begin-based offset `base` added) of the first one, if that is smaller.
inline void note_first_non_finite(const float* x, int64_t begin, int64_t end, int64_t base,
                                  std::atomic<int64_t>& first) {
  const int64_t i = first_non_finite(x + begin, end - begin);
  if (i >= 0) note_min_index(first, base + begin + i);
}

}  // namespace condiff
