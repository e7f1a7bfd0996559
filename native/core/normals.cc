#include "normals.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "box_muller.h"
#include "isa.h"
#include "lanes_x4.h"
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

#if defined(__x86_64__)
// Box–Muller (MATH.md §6) on the Philox words of L blocks at once in lane types F, I, U
// (lanes_x4.h): lane q of w[k] is word k of a block, whose four normals go to
// out[4 q .. 4 q + 3]. The same formula, rounding for rounding, as box_muller_lanes above
// (box_muller.h box_muller_words). Instantiated in functions of each set's target below.
template <int L, typename F, typename I, typename U>
__attribute__((always_inline)) inline void box_muller_in_lanes(const uint32_t (&w)[4][L], float* out) {
  static_assert(sizeof(F) == L * sizeof(float) && sizeof(U) == L * sizeof(uint32_t), "one lane per block");
  alignas(64) float cs[2][L], sn[2][L];
  for (int pair = 0; pair < 2; ++pair) {
    F c, s;
    U a, b;
    std::memcpy(&a, w[2 * pair], sizeof a);
    std::memcpy(&b, w[2 * pair + 1], sizeof b);
    box_muller_words<F, I, U>(a, b, &c, &s);
    std::memcpy(cs[pair], &c, sizeof c);
    std::memcpy(sn[pair], &s, sizeof s);
  }
  for (int q = 0; q < L; ++q) {
    out[4 * q + 0] = cs[0][q];
    out[4 * q + 1] = sn[0][q];
    out[4 * q + 2] = cs[1][q];
    out[4 * q + 3] = sn[1][q];
  }
}
__attribute__((target("avx512f"), optimize("fp-contract=off"), flatten)) void box_muller_x4(
    const uint32_t (&w)[4][lanes::kLanes], float* out) {
  box_muller_in_lanes<lanes::kLanes, lanes::F4, lanes::I4, lanes::U4>(w, out);
}
__attribute__((target("avx2"), optimize("fp-contract=off"), flatten)) void box_muller_x4_avx2(
    const uint32_t (&w)[4][lanes::kLanes], float* out) {
  box_muller_in_lanes<lanes::kLanes, lanes_avx2::F8, lanes_avx2::I8, lanes_avx2::U8>(w, out);
}
// Sixteen blocks on AVX2, where GCC 12 leaves box_muller_lanes' loop scalar (it does not
// if-convert the selects for AVX2: 18-23 ns a normal against 1.5 in lanes, on a Xeon).
__attribute__((target("avx2"), optimize("fp-contract=off"), flatten)) void box_muller_lanes_avx2(
    const uint32_t (&w)[4][kPhiloxLanes], float* out) {
  box_muller_in_lanes<kPhiloxLanes, lanes_avx2::F2, lanes_avx2::I2, lanes_avx2::U2>(w, out);
}
#endif

// The normals of block `block` of the sixteen runs first_run + p: lane p's four into
// out[4 p .. 4 p + 3]. Attributes as normal_group's, so the bits are the same.
__attribute__((target_clones("avx512f", "default"), optimize("fp-contract=off"))) void normal_block_runs_cloned(
    const StreamKey& s, uint32_t first_run, uint64_t block, float* out) {
  uint32_t w[4][kPhiloxLanes];
  philox_lanes_runs(s, static_cast<uint32_t>(block), first_run, w);
  box_muller_lanes(w, out);
}
void normal_block_runs(const StreamKey& s, uint32_t first_run, uint64_t block, float* out) {
#if defined(__x86_64__)
  if (running_isa() == Isa::kAvx2Fma) {
    uint32_t w[4][kPhiloxLanes];
    philox_lanes_runs(s, static_cast<uint32_t>(block), first_run, w);
    box_muller_lanes_avx2(w, out);
    return;
  }
#endif
  normal_block_runs_cloned(s, first_run, block, out);
}

#if defined(__x86_64__)
// The counters of groups [group, group + 4) (elements [64 group, 64 group + 256)): four
// normal_group calls' blocks, in lanes.
__attribute__((always_inline)) inline void group_counters(const StreamKey& s, uint64_t group,
                                                          uint32_t (&w)[4][lanes::kLanes]) {
  const uint32_t first = static_cast<uint32_t>(group * kPhiloxLanes);
  for (int q = 0; q < lanes::kLanes; ++q) {
    w[0][q] = first + static_cast<uint32_t>(q);
    w[1][q] = s.run;
    w[2][q] = s.step;
    w[3][q] = s.purpose;
  }
}

// The counters of blocks [block, block + 4) of the sixteen runs first_run + p: lane 4 p + i
// holds block + i of run p, so run p's sixteen normals land in out[16 p .. 16 p + 15].
__attribute__((always_inline)) inline void runs_counters(const StreamKey& s, uint32_t first_run, uint32_t block,
                                                         uint32_t (&w)[4][lanes::kLanes]) {
  for (int q = 0; q < lanes::kLanes; ++q) {
    w[0][q] = block + static_cast<uint32_t>(q & 3);
    w[1][q] = first_run + static_cast<uint32_t>(q >> 2);
    w[2][q] = s.step;
    w[3][q] = s.purpose;
  }
}

// The counters of the sixty-four listed blocks of s's run: lane q holds blocks[q].
__attribute__((always_inline)) inline void list_counters(const StreamKey& s, const uint32_t* blocks,
                                                         uint32_t (&w)[4][lanes::kLanes]) {
  for (int q = 0; q < lanes::kLanes; ++q) {
    w[0][q] = blocks[q];
    w[1][q] = s.run;
    w[2][q] = s.step;
    w[3][q] = s.purpose;
  }
}

// Sixty-four blocks' normals on each wide set: four whole groups, four blocks of sixteen
// runs, or sixty-four listed blocks. Each set's Philox rounds inline into its own functions.
__attribute__((target("avx512f"))) void normal_groups_x4(const StreamKey& s, uint64_t group, float* out) {
  uint32_t w[4][lanes::kLanes];
  group_counters(s, group, w);
  philox_rounds_avx512_x4(s.key0, s.key1, w);
  box_muller_x4(w, out);
}
__attribute__((target("avx512f"))) void normal_blocks_runs_x4(const StreamKey& s, uint32_t first_run, uint32_t block,
                                                            float* out) {
  uint32_t w[4][lanes::kLanes];
  runs_counters(s, first_run, block, w);
  philox_rounds_avx512_x4(s.key0, s.key1, w);
  box_muller_x4(w, out);
}
__attribute__((target("avx512f"))) void normal_blocks_list_x4(const StreamKey& s, const uint32_t* blocks, float* out) {
  uint32_t w[4][lanes::kLanes];
  list_counters(s, blocks, w);
  philox_rounds_avx512_x4(s.key0, s.key1, w);
  box_muller_x4(w, out);
}
__attribute__((target("avx2"))) void normal_blocks_list_x4_avx2(const StreamKey& s, const uint32_t* blocks, float* out) {
  uint32_t w[4][lanes::kLanes];
  list_counters(s, blocks, w);
  philox_rounds_avx2_n<lanes::kLanes>(s.key0, s.key1, w);
  box_muller_x4_avx2(w, out);
}
__attribute__((target("avx2"))) void normal_groups_x4_avx2(const StreamKey& s, uint64_t group, float* out) {
  uint32_t w[4][lanes::kLanes];
  group_counters(s, group, w);
  philox_rounds_avx2_n<lanes::kLanes>(s.key0, s.key1, w);
  box_muller_x4_avx2(w, out);
}
__attribute__((target("avx2"))) void normal_blocks_runs_x4_avx2(const StreamKey& s, uint32_t first_run, uint32_t block,
                                                                float* out) {
  uint32_t w[4][lanes::kLanes];
  runs_counters(s, first_run, block, w);
  philox_rounds_avx2_n<lanes::kLanes>(s.key0, s.key1, w);
  box_muller_x4_avx2(w, out);
}
#endif

// The wide path asked for: isa itself where it is AVX-512 or AVX2 and not wider than the
// running set (isa.h), else kBaseline (none: sixteen blocks at a time).
Isa wide_lanes(Isa isa) {
#if defined(__x86_64__)
  if ((isa == Isa::kAvx512 || isa == Isa::kAvx2Fma) && isa >= running_isa()) return isa;
#else
  (void)isa;
#endif
  return Isa::kBaseline;
}

}  // namespace

// Philox4x32-10 on sixteen blocks 16 g + lane (philox_lanes.h), then Box–Muller (MATH.md §6) in float with the approximations of
// approx_math.h: radius sqrt(-2 log u1), u1 = ((x >> 8) + 1) 2^-24 in (0, 1]; angle
// 2 pi u2, u2 = (x >> 8) 2^-24 in [0, 1). Each loop runs over the sixteen lanes with
// scalar code the vectoriser turns into one SIMD instruction stream per clone (on AVX2,
// lane types instead: box_muller_lanes_avx2).
// fp-contract=off: no clone fuses a multiply and an add (AVX-512 would), so every clone
// and the CUDA core (box_muller.h, built with -fmad=false) give the same bits; it costs
// about 5% of this function's time (measured on an EPYC with AVX-512).
namespace {
__attribute__((target_clones("avx512f", "default"), optimize("fp-contract=off"))) void normal_group_cloned(
    const StreamKey& s, uint64_t group, float* out) {
  constexpr int L = kPhiloxLanes;
  uint32_t w[4][L];
  philox_lanes(s, static_cast<uint32_t>(group * L), w);
  box_muller_lanes(w, out);
}
}  // namespace

void normal_group(const StreamKey& s, uint64_t group, float* out) {
#if defined(__x86_64__)
  if (running_isa() == Isa::kAvx2Fma) {
    uint32_t w[4][kPhiloxLanes];
    philox_lanes(s, static_cast<uint32_t>(group * kPhiloxLanes), w);
    box_muller_lanes_avx2(w, out);
    return;
  }
#endif
  normal_group_cloned(s, group, out);
}

namespace {
__attribute__((target_clones("avx512f", "default"), optimize("fp-contract=off"))) void box_muller_lanes_cloned(
    const uint32_t (&w)[4][kPhiloxLanes], float* out) {
  box_muller_lanes(w, out);
}
}  // namespace

bool box_muller_on(Isa isa, int width, const uint32_t* w, float* out) {
  if (isa < running_isa()) return false;
#if defined(__x86_64__)
  if (width == lanes::kLanes && isa != Isa::kBaseline) {
    uint32_t words[4][lanes::kLanes];
    std::memcpy(words, w, sizeof words);
    if (isa == Isa::kAvx512) {
      box_muller_x4(words, out);
    } else {
      box_muller_x4_avx2(words, out);
    }
    return true;
  }
#endif
  if (width != kPhiloxLanes) return false;
  uint32_t words[4][kPhiloxLanes];
  std::memcpy(words, w, sizeof words);
#if defined(__x86_64__)
  if (isa == Isa::kAvx2Fma) {
    box_muller_lanes_avx2(words, out);
    return true;
  }
#endif
  box_muller_lanes_cloned(words, out);
  return true;
}

void fill_normals_runs(const StreamKey& s, uint32_t first_run, int runs, uint64_t begin, uint64_t end, float* out,
                       int64_t stride) {
  fill_normals_runs_on(running_isa(), s, first_run, runs, begin, end, out, stride);
}

void fill_normals_runs_on(Isa isa, const StreamKey& s, uint32_t first_run, int runs, uint64_t begin, uint64_t end,
                          float* out, int64_t stride) {
  float block[4 * kPhiloxLanes];
#if defined(__x86_64__)
  const Isa wide = wide_lanes(isa);
  float four[16 * kPhiloxLanes];
#else
  (void)isa;
#endif
  for (uint64_t b = begin / 4; 4 * b < end;) {
#if defined(__x86_64__)
    if (wide != Isa::kBaseline && 4 * b >= begin && 4 * b + 16 <= end) {
      // Four whole blocks: each run's sixteen normals in one 64-byte copy.
      if (wide == Isa::kAvx512) {
        normal_blocks_runs_x4(s, first_run, static_cast<uint32_t>(b), four);
      } else {
        normal_blocks_runs_x4_avx2(s, first_run, static_cast<uint32_t>(b), four);
      }
      for (int p = 0; p < runs; ++p)
        std::memcpy(out + p * stride + static_cast<int64_t>(4 * b - begin), four + 16 * p, 64);
      b += 4;
      continue;
    }
#endif
    normal_block_runs(s, first_run, b, block);
    const uint64_t lo = std::max(begin, 4 * b), hi = std::min(end, 4 * b + 4);
    if (hi - lo == 4) {
      // A whole block: each run's four normals in one 16-byte copy.
      for (int p = 0; p < runs; ++p) std::memcpy(out + p * stride + static_cast<int64_t>(lo - begin), block + 4 * p, 16);
    } else {
      for (int p = 0; p < runs; ++p)
        for (uint64_t e = lo; e < hi; ++e) out[p * stride + static_cast<int64_t>(e - begin)] = block[4 * p + (e - 4 * b)];
    }
    ++b;
  }
}

NormalCursor::NormalCursor(const StreamKey& s, Isa isa) : stream_(s), wide_(wide_lanes(isa)) {}

void NormalCursor::fill(uint64_t begin, uint64_t end, float* out) {
  uint64_t e = begin;
  while (e < end) {
    const uint64_t group = e / kNormalGroup, start = group * kNormalGroup;
#if defined(__x86_64__)
    if (wide_ != Isa::kBaseline && e == start && end - e >= 4 * kNormalGroup) {
      // Four whole groups: straight into the output.
      if (wide_ == Isa::kAvx512) {
        normal_groups_x4(stream_, group, out);
      } else {
        normal_groups_x4_avx2(stream_, group, out);
      }
      out += 4 * kNormalGroup;
      e += 4 * kNormalGroup;
      continue;
    }
#endif
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

void NormalCursor::fill_blocks(const BlockRange* ranges, int64_t n, uint64_t begin, uint64_t end, float* out) {
#if defined(__x86_64__)
  if (wide_ != Isa::kBaseline) {
    // Sixty-four blocks at a time, taken from the stretches in order; a last, shorter list
    // repeats its last block. Each stretch's part of a list is one copy out.
    constexpr int64_t L = lanes::kLanes;
    alignas(64) float normals[4 * L];
    uint32_t list[L];
    struct Piece {
      int64_t lane;
      uint64_t e0, e1;  // elements of the piece's blocks
    } pieces[L];
    int64_t lanes_used = 0, n_pieces = 0;
    auto flush = [&]() {
      for (int64_t q = lanes_used; q < L; ++q) list[q] = list[lanes_used - 1];
      // Sixty-four consecutive blocks inside [begin, end) go straight into out.
      const bool whole = n_pieces == 1 && lanes_used == L && pieces[0].e0 >= begin && pieces[0].e1 <= end;
      float* to = whole ? out + (pieces[0].e0 - begin) : normals;
      if (wide_ == Isa::kAvx512) {
        normal_blocks_list_x4(stream_, list, to);
      } else {
        normal_blocks_list_x4_avx2(stream_, list, to);
      }
      if (whole) n_pieces = 0;
      for (int64_t k = 0; k < n_pieces; ++k) {
        const Piece& pc = pieces[k];
        const uint64_t lo = std::max(begin, pc.e0), hi = std::min(end, pc.e1);
        if (lo >= hi) continue;
        // A few dozen floats: a loop, where memcpy's call and size dispatch cost as much.
        float* to = out + (lo - begin);
        const float* from = normals + 4 * pc.lane + (lo - pc.e0);
        for (uint64_t i = 0; i < hi - lo; ++i) to[i] = from[i];
      }
      lanes_used = n_pieces = 0;
    };
    for (int64_t r = 0; r < n; ++r) {
      for (uint32_t b = ranges[r].first; b < ranges[r].last;) {
        const int64_t take = std::min<int64_t>(L - lanes_used, ranges[r].last - b);
        for (int64_t q = 0; q < take; ++q) list[lanes_used + q] = b + static_cast<uint32_t>(q);
        pieces[n_pieces++] = {lanes_used, uint64_t{b} * 4, (uint64_t{b} + static_cast<uint64_t>(take)) * 4};
        lanes_used += take;
        b += static_cast<uint32_t>(take);
        if (lanes_used == L) flush();
      }
    }
    if (lanes_used > 0) flush();
    return;
  }
#endif
  // Sixteen blocks at a time: each stretch from its groups, which the cursor keeps.
  for (int64_t r = 0; r < n; ++r) {
    const uint64_t lo = std::max(begin, uint64_t{ranges[r].first} * 4), hi = std::min(end, uint64_t{ranges[r].last} * 4);
    if (lo < hi) fill(lo, hi, out + (lo - begin));
  }
}

}  // namespace condiff
