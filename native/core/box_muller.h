// Box–Muller on Philox words (MATH.md §6): the formula that the CPU's sixteen-lane
// normal_group (normals.cc) runs in SIMD lanes, its AVX-512 and AVX2 paths in lane types
// (lanes_x4.h: sixty-four, or on AVX2 sixteen, blocks at once), and the CUDA core one thread
// per Philox block. Radius sqrt(-2 log u1), u1 = ((a >> 8) + 1) 2^-24 in (0, 1];
// angle 2 pi u2, u2 = (b >> 8) 2^-24 in [0, 1); log, sin and cos from approx_math.h.
// (The int32 detour in the conversions lets the vectoriser use signed conversions.)
#pragma once
#include <cmath>
#include <cstdint>

#include "approx_math.h"
#include "hd.h"
#include "rng.h"

namespace condiff {

// The scalar forms of the helpers the template below needs (lanes_x4.h has the lane forms).
CONDIFF_HD int32_t to_signed(uint32_t u) { return static_cast<int32_t>(u); }
CONDIFF_HD float square_root(float x) { return std::sqrt(x); }

// On float, int32 and uint32 types F, I, U: scalars, or lanes_x4.h's lane types.
template <typename F, typename I, typename U>
CONDIFF_HD void box_muller_words(U a, U b, F* c, F* s) {
  const F u1 = to_float(to_signed((a >> 8) + 1u)) * 5.9604644775390625e-8f;
  const F u2 = to_float(to_signed(b >> 8)) * 5.9604644775390625e-8f;
  const F radius = square_root(-2.0f * log_approx<F, I>(u1));
  F sv, cv;
  sincos_turns_approx<F, I>(u2, &sv, &cv);
  *c = radius * cv;
  *s = radius * sv;
}

CONDIFF_HD void box_muller(uint32_t a, uint32_t b, float* c, float* s) {
  box_muller_words<float, int32_t, uint32_t>(a, b, c, s);
}

// The four normals of Philox block `block` (elements 4 block .. 4 block + 3): lanes 0, 1
// are the (cos, sin) pair of words 0, 1, lanes 2, 3 that of words 2, 3.
CONDIFF_HD void normal_block(const StreamKey& s, uint64_t block, float out[4]) {
  const Words4 w = block_for(s, block);
  box_muller(w.v[0], w.v[1], &out[0], &out[1]);
  box_muller(w.v[2], w.v[3], &out[2], &out[3]);
}

}  // namespace condiff
