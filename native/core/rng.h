// The random-number layout of MATH.md §6: every draw is a function of
// (seed, run, step, purpose, element) alone, so results do not depend on the
// thread count, on how runs are batched, or (later) on CPU versus GPU.
//   key     = (seed mod 2^32, seed / 2^32)
//   counter = (element / 4, run, step, purpose),   lane = element mod 4
#pragma once
#include <cstdint>

#include "philox.h"

namespace condiff {

// Purposes, numbered once. A purpose word is (kind << 16) | index, where the index
// separates repeated uses inside one step (corrector iteration, RePaint jump).
enum class Purpose : uint32_t {
  kInitial = 1,         // X_T ~ N(0, I)
  kContextPath = 2,     // forward noising of the Y block (MATH.md §3)
  kKernelNoise = 3,     // backward kernel noise sqrt(v) * xi (MATH.md §2)
  kResampling = 4,      // ancestors (MATH.md §5)
  kOutputChoice = 5,    // the particle a run contributes (MATH.md §3)
  kLangevin = 6,        // corrector step j (MATH.md §3, Algorithm 2)
  kRepaintNoise = 7,    // RePaint re-noising, jump u
  kRepaintKernel = 8,   // RePaint's repeated backward step, jump u
  kExactComponent = 9,  // exact posterior: mixture component (MATH.md §7)
  kExactNormal = 10,    // exact posterior: Gaussian draw
  kUser = 11,           // building blocks called directly by users
};

CONDIFF_HD uint32_t purpose_word(Purpose p, uint32_t index = 0) {
  return (static_cast<uint32_t>(p) << 16) | (index & 0xFFFFu);
}

struct StreamKey {
  uint32_t key0;
  uint32_t key1;
  uint32_t run;
  uint32_t step;
  uint32_t purpose;
};

// The four words of the block that holds `element` (elements 4b..4b+3 share block b).
CONDIFF_HD Words4 block_for(const StreamKey& s, uint64_t block) {
  Words4 c;
  c.v[0] = static_cast<uint32_t>(block);
  c.v[1] = s.run;
  c.v[2] = s.step;
  c.v[3] = s.purpose;
  return philox4x32(c, s.key0, s.key1, 10);
}

CONDIFF_HD uint32_t word_at(const StreamKey& s, uint64_t element) {
  return block_for(s, element >> 2).v[element & 3u];
}

// Standard normals: element 2m and 2m+1 are the cos/sin pair of Box–Muller
// applied to words (2m mod 4, 2m+1 mod 4) of block m/2. Lanes 0,1 feed one pair
// and lanes 2,3 the next, so one block gives four normals.
CONDIFF_HD float normal_at(const StreamKey& s, uint64_t element) {
  const Words4 w = block_for(s, element >> 2);
  const unsigned lane = static_cast<unsigned>(element & 3u);
  const unsigned first = lane & 2u;
  float n0, n1;
  box_muller(w.v[first], w.v[first + 1], &n0, &n1);
  return (lane & 1u) ? n1 : n0;
}

// Fills normals for elements [begin, end) into out[0 .. end-begin), one block per 4.
inline void fill_normals(const StreamKey& s, uint64_t begin, uint64_t end, float* out) {
  uint64_t e = begin;
  while (e < end) {
    const Words4 w = block_for(s, e >> 2);
    float n[4];
    box_muller(w.v[0], w.v[1], &n[0], &n[1]);
    box_muller(w.v[2], w.v[3], &n[2], &n[3]);
    for (unsigned lane = static_cast<unsigned>(e & 3u); lane < 4 && e < end; ++lane, ++e) *out++ = n[lane];
  }
}

}  // namespace condiff
