// Box–Muller on Philox words (MATH.md §6), one pair at a time: the scalar formula that the
// CPU's sixteen-lane normal_group (normals.cc) runs in SIMD lanes and the CUDA core runs
// one thread per Philox block. Radius sqrt(-2 log u1), u1 = ((a >> 8) + 1) 2^-24 in (0, 1];
// angle 2 pi u2, u2 = (b >> 8) 2^-24 in [0, 1); log, sin and cos from approx_math.h.
// (The int32 detour in the conversions lets the vectoriser use signed conversions.)
#pragma once
#include <cmath>
#include <cstdint>

#include "approx_math.h"
#include "hd.h"
#include "rng.h"

namespace condiff {

CONDIFF_HD void box_muller(uint32_t a, uint32_t b, float* c, float* s) {
  const float u1 = static_cast<float>(static_cast<int32_t>((a >> 8) + 1u)) * 5.9604644775390625e-8f;
  const float u2 = static_cast<float>(static_cast<int32_t>(b >> 8)) * 5.9604644775390625e-8f;
  const float radius = std::sqrt(-2.0f * log_approx<float, int32_t>(u1));
  float sv, cv;
  sincos_turns_approx<float, int32_t>(u2, &sv, &cv);
  *c = radius * cv;
  *s = radius * sv;
}

// The four normals of Philox block `block` (elements 4 block .. 4 block + 3): lanes 0, 1
// are the (cos, sin) pair of words 0, 1, lanes 2, 3 that of words 2, 3.
CONDIFF_HD void normal_block(const StreamKey& s, uint64_t block, float out[4]) {
  const Words4 w = block_for(s, block);
  box_muller(w.v[0], w.v[1], &out[0], &out[1]);
  box_muller(w.v[2], w.v[3], &out[2], &out[3]);
}

}  // namespace condiff
