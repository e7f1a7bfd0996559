// Standard normals of MATH.md §6: Box–Muller on pairs of Philox4x32-10 words. Element e
// of a stream lives in Philox block e / 4: lanes 0, 1 give the (cos, sin) pair of one
// Box–Muller draw and lanes 2, 3 the next. Blocks are generated sixteen at a time in
// SIMD lanes (a "group" of 64 elements); every element, whichever call asks for it,
// comes out of the same group computation, so a value never depends on how a range
// was split (threads, batches).
#pragma once
#include <cstdint>

#include "isa.h"
#include "rng.h"

namespace condiff {

constexpr int kNormalGroup = 64;

// The 64 normals of elements [64 g, 64 g + 64).
void normal_group(const StreamKey& s, uint64_t group, float* out);

// Philox blocks [first, last) of a stream.
struct BlockRange {
  uint32_t first, last;
};

// Sequential access to one stream that reuses the last group it computed, so rows of
// a few coordinates each do not recompute a 64-element group per row.
// With AVX-512 or AVX2, runs of four whole groups are computed sixty-four blocks at a time
// (lanes_x4.h), the same values; `isa` is a test hook: kBaseline (or a set wider than the
// running one) keeps to sixteen blocks at a time.
class NormalCursor {
 public:
  explicit NormalCursor(const StreamKey& s, Isa isa = running_isa());
  // Normals of elements [begin, end) into out.
  void fill(uint64_t begin, uint64_t end, float* out);
  // The normals of the listed stretches of Philox blocks only (block b: elements 4 b ..
  // 4 b + 3), each clipped to [begin, end), into out[e − begin]; out's other elements are
  // left as they are. The values fill gives those elements: a caller that uses only some
  // coordinates of its rows (the latent ones) skips the blocks it would throw away.
  void fill_blocks(const BlockRange* ranges, int64_t n, uint64_t begin, uint64_t end, float* out);

 private:
  StreamKey stream_;
  Isa wide_;  // kBaseline: no wide path
  uint64_t cached_ = ~uint64_t{0};
  float cache_[kNormalGroup];
};

// The normals of elements [begin, end) of the streams of `runs` (<= 16) consecutive runs
// first_run, first_run + 1, ... (s otherwise): run p's into out + p * stride. The same
// values as fill_normals on each run's stream, but one sixteen-lane computation serves one
// block of every run, where fill_normals computes a whole 64-element group for each run:
// for a few coordinates per run (a context path's Y block, replacement's rows of small D)
// that group is mostly thrown away.
void fill_normals_runs(const StreamKey& s, uint32_t first_run, int runs, uint64_t begin, uint64_t end, float* out,
                       int64_t stride);
// The same, four blocks of the sixteen runs at a time on AVX-512 or AVX2 when isa is one of
// them (the test hook of NormalCursor).
void fill_normals_runs_on(Isa isa, const StreamKey& s, uint32_t first_run, int runs, uint64_t begin, uint64_t end,
                          float* out, int64_t stride);

// Box–Muller on given Philox words, a test hook for the vector paths on words a stream
// rarely gives: w holds 4 x width words (row k: word k of each block), out gets 4 x width
// normals (block q's four at 4 q). width 64: the wide path of isa (kAvx512 or kAvx2Fma);
// width 16: AVX2's lanes for kAvx2Fma, else the sixteen-block clones. False, with nothing
// written, for another width or a set the running one (isa.h) does not include.
bool box_muller_on(Isa isa, int width, const uint32_t* w, float* out);

inline void fill_normals(const StreamKey& s, uint64_t begin, uint64_t end, float* out) {
  NormalCursor(s).fill(begin, end, out);
}

inline float normal_at(const StreamKey& s, uint64_t element) {
  float x;
  fill_normals(s, element, element + 1, &x);
  return x;
}

}  // namespace condiff
