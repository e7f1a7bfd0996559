#include "normals.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "box_muller.h"
#include "philox_lanes.h"

namespace condiff {

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
