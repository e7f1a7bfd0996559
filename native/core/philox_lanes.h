// Philox4x32-10 (philox.h, the same rounds and constants) on sixteen consecutive blocks
// of one stream at once, written lane by lane so that the vectoriser turns each loop into
// one SIMD instruction stream in every target clone of the caller (normals.cc,
// resampling.cc). Block b of the stream (MATH.md §6) has counter (b, run, step, purpose).
#pragma once
#include <cstdint>

#include "rng.h"

namespace condiff {

constexpr int kPhiloxLanes = 16;

// The ten rounds on sixteen counters in place (lane p of w[i] is word i of counter p).
__attribute__((always_inline)) inline void philox_rounds(uint32_t k0, uint32_t k1, uint32_t (&w)[4][kPhiloxLanes]) {
  constexpr int L = kPhiloxLanes;
  uint32_t* c0 = w[0];
  uint32_t* c1 = w[1];
  uint32_t* c2 = w[2];
  uint32_t* c3 = w[3];
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    for (int p = 0; p < L; ++p) {
      const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0[p];
      const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2[p];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[p] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[p] ^ k1;
      c0[p] = n0;
      c1[p] = static_cast<uint32_t>(p1);
      c2[p] = n2;
      c3[p] = static_cast<uint32_t>(p0);
    }
  }
}

// Words of blocks [first, first + 16): lane p of w[i] is word i of block first + p.
__attribute__((always_inline)) inline void philox_lanes(const StreamKey& s, uint32_t first,
                                                         uint32_t (&w)[4][kPhiloxLanes]) {
  for (int p = 0; p < kPhiloxLanes; ++p) {
    w[0][p] = first + static_cast<uint32_t>(p);
    w[1][p] = s.run;
    w[2][p] = s.step;
    w[3][p] = s.purpose;
  }
  philox_rounds(s.key0, s.key1, w);
}

// Words of block `block` of the sixteen runs first_run + p (the stream s otherwise): lane p
// of w[i] is word i of that block of run first_run + p. For many short per-run streams,
// whose blocks would otherwise each cost a sixteen-block computation of their own.
__attribute__((always_inline)) inline void philox_lanes_runs(const StreamKey& s, uint32_t block, uint32_t first_run,
                                                              uint32_t (&w)[4][kPhiloxLanes]) {
  for (int p = 0; p < kPhiloxLanes; ++p) {
    w[0][p] = block;
    w[1][p] = first_run + static_cast<uint32_t>(p);
    w[2][p] = s.step;
    w[3][p] = s.purpose;
  }
  philox_rounds(s.key0, s.key1, w);
}

}  // namespace condiff
