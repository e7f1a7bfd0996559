#include "normals.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "box_muller.h"
#include "philox_lanes.h"

namespace condiff {

namespace {

// Box–Muller (MATH.md §6) on sixteen Philox blocks in lanes: lane p's four normals into
// out[4 p .. 4 p + 3] (words 0, 1 give the first (cos, sin) pair, words 2, 3 the second).
// Inlined into the fp-contract=off clones below.
__attribute__((always_inline)) inline void box_muller_lanes(const uint32_t (&w)[4][kPhiloxLanes], float* out) {
  constexpr int L = kPhiloxLanes;
  const uint32_t *c0 = w[0], *c1 = w[1], *c2 = w[2], *c3 = w[3];
  float cs[2][L], sn[2][L];
  for (int pair = 0; pair < 2; ++pair) {
    const uint32_t* a = pair == 0 ? c0 : c2;
    const uint32_t* b = pair == 0 ? c1 : c3;
    for (int p = 0; p < L; ++p) box_muller(a[p], b[p], &cs[pair][p], &sn[pair][p]);
  }
  for (int p = 0; p < L; ++p) {
    out[4 * p + 0] = cs[0][p];
    out[4 * p + 1] = sn[0][p];
    out[4 * p + 2] = cs[1][p];
    out[4 * p + 3] = sn[1][p];
  }
}

// The normals of block `block` of the sixteen runs first_run + p: lane p's four into
// out[4 p .. 4 p + 3]. Attributes as normal_group's, so the bits are the same.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off"))) void normal_block_runs(
    const StreamKey& s, uint32_t first_run, uint64_t block, float* out) {
  uint32_t w[4][kPhiloxLanes];
  philox_lanes_runs(s, static_cast<uint32_t>(block), first_run, w);
  box_muller_lanes(w, out);
}

}  // namespace

// Philox4x32-10 on sixteen blocks 16 g + lane (philox_lanes.h), then Box–Muller (MATH.md §6) in float with the approximations of
// approx_math.h: radius sqrt(-2 log u1), u1 = ((x >> 8) + 1) 2^-24 in (0, 1]; angle
// 2 pi u2, u2 = (x >> 8) 2^-24 in [0, 1). Each loop runs over the sixteen lanes with
// scalar code the vectoriser turns into one SIMD instruction stream per clone.
// fp-contract=off: no clone fuses a multiply and an add (AVX-512 would), so every clone
// and the CUDA core (box_muller.h, built with -fmad=false) give the same bits; it costs
// about 5% of this function's time (measured on an EPYC with AVX-512).
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off"))) void normal_group(
    const StreamKey& s, uint64_t group, float* out) {
  constexpr int L = kPhiloxLanes;
  uint32_t w[4][L];
  philox_lanes(s, static_cast<uint32_t>(group * L), w);
  box_muller_lanes(w, out);
}

void fill_normals_runs(const StreamKey& s, uint32_t first_run, int runs, uint64_t begin, uint64_t end, float* out,
                       int64_t stride) {
  float block[4 * kPhiloxLanes];
  for (uint64_t b = begin / 4; 4 * b < end; ++b) {
    normal_block_runs(s, first_run, b, block);
    const uint64_t lo = std::max(begin, 4 * b), hi = std::min(end, 4 * b + 4);
    if (hi - lo == 4) {
      // A whole block: each run's four normals in one 16-byte copy.
      for (int p = 0; p < runs; ++p) std::memcpy(out + p * stride + static_cast<int64_t>(lo - begin), block + 4 * p, 16);
      continue;
    }
    for (int p = 0; p < runs; ++p)
      for (uint64_t e = lo; e < hi; ++e) out[p * stride + static_cast<int64_t>(e - begin)] = block[4 * p + (e - 4 * b)];
  }
}

void NormalCursor::fill(uint64_t begin, uint64_t end, float* out) {
  uint64_t e = begin;
  while (e < end) {
    const uint64_t group = e / kNormalGroup, start = group * kNormalGroup;
    const uint64_t stop = std::min(end, start + kNormalGroup);
    if (e == start && stop == start + kNormalGroup && cached_ != group) {
      normal_group(stream_, group, out);  // a whole group: straight into the output
    } else {
      if (cached_ != group) {
        normal_group(stream_, group, cache_);
        cached_ = group;
      }
      std::memcpy(out, cache_ + (e - start), (stop - e) * sizeof(float));
    }
    out += stop - e;
    e = stop;
  }
}

}  // namespace condiff
