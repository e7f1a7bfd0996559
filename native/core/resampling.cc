// MATH.md §5 and §5b. Every scheme produces sorted fixed-point targets t_m < T and maps
// each to the smallest k with C_k > t_m by one merge-style sweep; the arithmetic is that
// of resampling_math.h, which the CUDA core evaluates in parallel to the same bits.
#include "resampling.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "parallel.h"
#include "philox_lanes.h"
#include "resampling_math.h"

namespace condiff {
namespace {

// Cloned per instruction set so the loops run in SIMD lanes. fp-contract=off: no clone
// fuses a multiply and an add (the AVX-512 and AVX2 ones could), so every clone rounds
// each operation as written and all agree bit for bit with each other and with the CUDA
// core (-fmad=false): resampling decisions never depend on the CPU.
#define CONDIFF_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "avx2", "default"), optimize("fp-contract=off")))

// The largest log-weight, or NaN when none is finite (every weight -inf/NaN, or one +inf).
double max_log_weight(const double* log_w, int64_t n) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < n; ++k)
    if (log_w[k] > mx) mx = log_w[k];  // NaN compares false: never the max
  if (!(mx > -std::numeric_limits<double>::infinity()) || std::isinf(mx)) return std::nan("");
  return mx;
}

// The fixed-point Exp(1) draws of stream elements [64 g, 64 g + 64): fixed_exp1 of each
// word (resampling_math.h), branch-free, so sixteen Philox blocks and their logs run in
// SIMD lanes per clone.
CONDIFF_CLONES void fixed_exp1_group(const StreamKey& s, uint64_t group, int shift, uint64_t* out) {
  constexpr int L = kPhiloxLanes;
  uint32_t w[4][L];
  philox_lanes(s, static_cast<uint32_t>(group * L), w);
  const double scale = pow2_d(shift);
  for (int i = 0; i < 4; ++i)
    for (int p = 0; p < L; ++p)
      out[4 * p + i] = static_cast<uint64_t>(exp1_from_word(w[i][p]) * scale);
}

// The words of stream elements [64 g, 64 g + 64) (word_at's values), sixteen Philox
// blocks in SIMD lanes.
CONDIFF_CLONES void word_group(const StreamKey& s, uint64_t group, uint32_t* out) {
  constexpr int L = kPhiloxLanes;
  uint32_t w[4][L];
  philox_lanes(s, static_cast<uint32_t>(group * L), w);
  for (int i = 0; i < 4; ++i)
    for (int p = 0; p < L; ++p) out[4 * p + i] = w[i][p];
}

// word_at(s, m) for m visited in increasing order, a group of 64 at a time: stratified
// resampling's one uniform per position, at a quarter of WordCursor's scalar Philox cost.
class WordGroupCursor {
 public:
  explicit WordGroupCursor(const StreamKey& s) : stream_(s) {}
  uint32_t at(uint64_t m) {
    const uint64_t group = m / 64;
    if (group != group_) {
      word_group(stream_, group, words_);
      group_ = group;
    }
    return words_[m % 64];
  }

 private:
  StreamKey stream_;
  uint64_t group_ = ~uint64_t{0};
  uint32_t words_[64];
};

// fixed_exp1(word_at(s, m), shift) for m visited in increasing order, a group at a time.
class Exp1Cursor {
 public:
  Exp1Cursor(const StreamKey& s, int shift) : stream_(s), shift_(shift) {}
  uint64_t at(uint64_t m) {
    const uint64_t group = m / 64;
    if (group != group_) {
      fixed_exp1_group(stream_, group, shift_, values_);
      group_ = group;
    }
    return values_[m % 64];
  }

 private:
  StreamKey stream_;
  int shift_;
  uint64_t group_ = ~uint64_t{0};
  uint64_t values_[64];
};

// Sorted uniforms in O(count) (MATH.md §5, multinomial): normalised cumulative sums of
// count + 1 Exp(1) draws, stream elements 0..count, in fixed point. emit(m, position).
// The running sums need the total first: with `draws` (count + 1 words of scratch) the
// draws are kept from the first pass, else they are made again (no scratch).
template <typename Emit>
void sorted_positions(const StreamKey& s, int64_t count, uint64_t* draws, Emit&& emit) {
  const int shift = exp_sum_shift(count + 1);
  uint64_t total = 0;
  if (draws != nullptr) {
    uint64_t group[64];
    for (int64_t g = 0; g * 64 <= count; ++g) {
      const int64_t len = std::min<int64_t>(64, count + 1 - g * 64);
      uint64_t* out = len == 64 ? draws + g * 64 : group;
      fixed_exp1_group(s, static_cast<uint64_t>(g), shift, out);
      if (len < 64) std::memcpy(draws + g * 64, group, static_cast<size_t>(len) * sizeof(uint64_t));
      for (int64_t j = 0; j < len; ++j) total += draws[g * 64 + j];
    }
    uint64_t run = 0;
    for (int64_t m = 0; m < count; ++m) {
      run += draws[m];
      emit(m, sorted_position(run, total));
    }
    return;
  }
  Exp1Cursor first(s, shift), second(s, shift);
  for (int64_t m = 0; m <= count; ++m) total += first.at(static_cast<uint64_t>(m));
  uint64_t run = 0;
  for (int64_t m = 0; m < count; ++m) {
    run += second.at(static_cast<uint64_t>(m));
    emit(m, sorted_position(run, total));
  }
}

// Fixed blocks of the weights for the passes that may run on several threads.
constexpr int64_t kBlock = 8192;
constexpr int64_t kBlocksPerWorker = 2;  // 16k weights: about 30 µs of the slowest pass
constexpr int64_t kSweepBatch = 256;  // targets computed ahead of the merge

// From k (with cdf[k - 1] <= t), the first k' >= k with cdf[k'] > t, or n - 1: one step of
// the merge-style sweep. Four comparisons at a time, without branches: cdf is
// nondecreasing, so the true ones form a prefix and their count is the step. Every target
// is below the total cdf[n - 1] (position_target < T), so clamping the index to n - 1
// stops the step there without a bound test. The loop repeats only after four particles
// in a row with no offspring. A one-at-a-time `while` mispredicted about once per
// particle on uneven weights (~10 ns each at N = 10^6).
__attribute__((always_inline)) inline int64_t advance(const uint64_t* cdf, int64_t n, int64_t k, uint64_t t) {
  const int64_t last = n - 1;
  for (;;) {
    int64_t step = 0;
    if (k + 3 < last) {  // away from the end: four plain loads
      for (int64_t j = 0; j < 4; ++j) step += static_cast<int64_t>(cdf[k + j] <= t);
    } else {
      for (int64_t j = 0; j < 4; ++j) step += static_cast<int64_t>(cdf[std::min(k + j, last)] <= t);
    }
    k += step;
    if (step < 4) return k;
  }
}

// The first k with cdf[k] > t, or n - 1 when there is none below n - 1: where the serial
// sweep stands when it reaches target t.
int64_t sweep_start(const uint64_t* cdf, int64_t n, uint64_t t) {
  return std::upper_bound(cdf, cdf + (n - 1), t) - cdf;
}

// The ancestor of each ascending target t_m, m in [m0, m1): the smallest k with C_k > t_m,
// by a merge-style sweep. The range is swept as kLanes interleaved sub-ranges that each
// start from a binary search: one sweep is a chain of dependent loads (k -> cdf[k] -> k),
// and independent chains let the core overlap them. Any split gives the ancestors of one
// serial sweep. make_target() gives each sub-range its own target(m), called for
// increasing m.
template <typename MakeTarget>
__attribute__((always_inline)) inline void sweep_range(const uint64_t* cdf, int64_t n, int64_t m0, int64_t m1,
                                                        MakeTarget&& make_target, int32_t* ancestors) {
  constexpr int kLanes = 4;
  uint64_t targets[kLanes][kSweepBatch];
  const int64_t lane_len = (m1 - m0 + kLanes - 1) / kLanes;
  int64_t lo[kLanes], hi[kLanes], k[kLanes];
  decltype(make_target()) target[kLanes] = {make_target(), make_target(), make_target(), make_target()};
  static_assert(kLanes == 4, "one target per lane above");
  for (int l = 0; l < kLanes; ++l) {
    lo[l] = std::min(m1, m0 + l * lane_len);
    hi[l] = std::min(m1, lo[l] + lane_len);
    k[l] = lo[l] < hi[l] ? sweep_start(cdf, n, target[l](lo[l])) : 0;
  }
  for (int64_t off = 0; off < lane_len; off += kSweepBatch) {
    const int64_t len = std::min(kSweepBatch, lane_len - off);
    int64_t lens[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      lens[l] = std::max<int64_t>(0, std::min(len, hi[l] - (lo[l] + off)));
      for (int64_t j = 0; j < lens[l]; ++j) targets[l][j] = target[l](lo[l] + off + j);
    }
    if (lens[kLanes - 1] == len) {  // every lane full: no per-lane test
      for (int64_t j = 0; j < len; ++j)
        for (int l = 0; l < kLanes; ++l) {
          k[l] = advance(cdf, n, k[l], targets[l][j]);
          ancestors[lo[l] + off + j] = static_cast<int32_t>(k[l]);
        }
    } else {
      for (int64_t j = 0; j < len; ++j)
        for (int l = 0; l < kLanes; ++l)
          if (j < lens[l]) {
            k[l] = advance(cdf, n, k[l], targets[l][j]);
            ancestors[lo[l] + off + j] = static_cast<int32_t>(k[l]);
          }
    }
  }
}

// Systematic targets (MATH.md §5): position (u + m) / N. Cloned so the AVX-512 clone
// converts double to uint64 in one instruction.
CONDIFF_CLONES void sweep_systematic(const uint64_t* cdf, int64_t n, uint64_t total, double u, int64_t m0, int64_t m1,
                                     int32_t* ancestors) {
  const double inv_n = 1.0 / static_cast<double>(n);
  sweep_range(
      cdf, n, m0, m1,
      [&] {
        return [&](int64_t m) { return position_target(fixed_position((u + static_cast<double>(m)) * inv_n), total); };
      },
      ancestors);
}

// Stratified targets: position (u_m + m) / N with u_m = the stream's word m.
CONDIFF_CLONES void sweep_stratified(const uint64_t* cdf, int64_t n, uint64_t total, const StreamKey& s, int64_t m0,
                                     int64_t m1, int32_t* ancestors) {
  const double inv_n = 1.0 / static_cast<double>(n);
  sweep_range(
      cdf, n, m0, m1,
      [&] {
        return [&, words = WordGroupCursor(s)](int64_t m) mutable {
          const double u = uniform01_open_right_d(words.at(static_cast<uint64_t>(m)));
          return position_target(fixed_position((u + static_cast<double>(m)) * inv_n), total);
        };
      },
      ancestors);
}

// `count` sorted multinomial targets against the CDF (total its last entry), in order
// inside the sweep: no buffer of positions (MATH.md §5, multinomial).
CONDIFF_CLONES void multinomial_sweep(const uint64_t* cdf, int64_t n, uint64_t total, const StreamKey& s,
                                      int64_t count, uint64_t* draws, int32_t* ancestors) {
  int64_t k = 0;
  sorted_positions(s, count, draws, [&](int64_t m, uint64_t p) {
    k = advance(cdf, n, k, position_target(p, total));
    ancestors[m] = static_cast<int32_t>(k);
  });
}

// Residual resampling's first part (MATH.md §5): floor(N W_k) copies of each k, exactly in
// integers (equal weights keep every particle once at any N), written from ancestors[0];
// the CDF becomes the cumulative fractional parts for the multinomial remainder. Returns
// how many copies were written.
CONDIFF_CLONES int64_t residual_copies_pass(uint64_t* cdf, int64_t n, uint64_t total, int32_t* ancestors) {
  int64_t out = 0;
  uint64_t prev = 0, residual_run = 0;
  for (int64_t k = 0; k < n; ++k) {
    const uint64_t q = cdf[k] - prev;
    prev = cdf[k];
    uint64_t remainder = 0;
    const uint64_t copies = residual_copies(q, n, total, &remainder);
    if (out + 4 <= n && copies <= 4) {
      // Usually 0, 1 or 2 copies: four unconditional stores (those past `copies` are
      // overwritten by what follows) instead of a loop that mispredicted its exit.
      for (int c = 0; c < 4; ++c) ancestors[out + c] = static_cast<int32_t>(k);
      out += static_cast<int64_t>(copies);
    } else {
      for (uint64_t c = 0; c < copies; ++c) ancestors[out++] = static_cast<int32_t>(k);
    }
    residual_run += residual_fraction(remainder, total);
    cdf[k] = residual_run;  // reuse the scratch for the residual CDF
  }
  return out;
}

// chunk(m0, m1) over fixed chunks of [0, count), on up to `threads` workers.
template <typename Chunk>
void parallel_chunks(int64_t count, const Threads& threads, Chunk&& chunk) {
  const int64_t chunks = (count + kBlock - 1) / kBlock;
  parallel_for(chunks, threads, kBlocksPerWorker, [&](int64_t begin, int64_t end, int) {
    for (int64_t c = begin; c < end; ++c) chunk(c * kBlock, std::min(count, (c + 1) * kBlock));
  });
}

// The block passes of the fixed-point CDF, cloned per instruction set so the weight loop
// (branch-free exp) runs in SIMD lanes; the arithmetic is IEEE-exact per operation (no
// contraction), so every clone agrees.

// The block's largest log-weight (NaN compares false, so it is never the max), and
// whether the block holds a NaN (in the same pass over memory, branch-free).
CONDIFF_CLONES double block_max(const double* log_w, int64_t n, char* has_nan) {
  double mx = -std::numeric_limits<double>::infinity();
  unsigned nan = 0;
  for (int64_t k = 0; k < n; ++k) {
    const double x = log_w[k];
    mx = x > mx ? x : mx;
    nan |= x != x ? 1u : 0u;
  }
  *has_nan = static_cast<char>(nan);
  return mx;
}

// Coarse pass (for the shift): the block's sum of coarse weights; the weights wait in
// cdf as double bits for the fine pass.
CONDIFF_CLONES uint64_t coarse_block(const double* log_w, int64_t n, double mx, uint64_t* cdf) {
  uint64_t coarse = 0;
  for (int64_t k = 0; k < n; ++k) {
    const double w = relative_weight(log_w[k], mx);
    coarse += coarse_weight(w);
    cdf[k] = double_bits(w);
  }
  return coarse;
}

// The block's sum of fixed weights, from the double bits the coarse pass left in cdf.
CONDIFF_CLONES uint64_t fixed_sum_block(const uint64_t* cdf, int64_t n, int shift) {
  uint64_t sum = 0;
  for (int64_t k = 0; k < n; ++k) sum += fixed_weight(bits_double(cdf[k]), shift);
  return sum;
}

// Fine pass: the double bits in cdf become the cumulative fixed weights, from `offset`.
CONDIFF_CLONES uint64_t fine_block(uint64_t* cdf, int64_t n, int shift, uint64_t offset) {
  uint64_t run = offset;
  for (int64_t k = 0; k < n; ++k) {
    run += fixed_weight(bits_double(cdf[k]), shift);
    cdf[k] = run;
  }
  return run;
}

}  // namespace

uint64_t fixed_cumulative_weights(const double* log_w, int64_t n, uint64_t* cdf, const Threads& threads,
                                  int64_t* first_nan) {
  if (first_nan != nullptr) *first_nan = -1;
  if (n <= 0) return 0;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  auto span = [&](int64_t i) { return std::min(kBlock, n - i * kBlock); };
  std::vector<double> maxima(blocks);
  std::vector<uint64_t> sums(blocks);
  std::vector<char> nans(blocks);
  parallel_for(blocks, threads, kBlocksPerWorker, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) maxima[i] = block_max(log_w + i * kBlock, span(i), &nans[i]);
  });
  if (first_nan != nullptr)
    for (int64_t i = 0; i < blocks; ++i)
      if (nans[i])
        for (int64_t k = i * kBlock;; ++k)
          if (log_w[k] != log_w[k]) {
            *first_nan = k;
            return 0;
          }
  double mx = -std::numeric_limits<double>::infinity();
  for (double m : maxima) mx = m > mx ? m : mx;
  // Nothing to draw from: every weight -inf/NaN, or one +inf.
  if (!(mx > -std::numeric_limits<double>::infinity()) || std::isinf(mx)) return 0;
  parallel_for(blocks, threads, kBlocksPerWorker, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) sums[i] = coarse_block(log_w + i * kBlock, span(i), mx, cdf + i * kBlock);
  });
  uint64_t coarse = 0;
  for (uint64_t c : sums) coarse += c;
  const int shift = weight_shift(coarse, n);
  if (threads.count <= 1 || blocks < 2 * kBlocksPerWorker) {
    uint64_t run = 0;
    for (int64_t i = 0; i < blocks; ++i) run = fine_block(cdf + i * kBlock, span(i), shift, run);
    return run;
  }
  // In parallel: each block's sum, their exclusive prefix (exact integers), then the fill.
  parallel_for(blocks, threads, kBlocksPerWorker, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) sums[i] = fixed_sum_block(cdf + i * kBlock, span(i), shift);
  });
  uint64_t total = 0;
  for (uint64_t& c : sums) {
    const uint64_t block_sum = c;
    c = total;
    total += block_sum;
  }
  parallel_for(blocks, threads, kBlocksPerWorker, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) fine_block(cdf + i * kBlock, span(i), shift, sums[i]);
  });
  return total;
}

bool resample_run(ResamplingScheme scheme, const double* log_w, int64_t n, const StreamKey& s, uint64_t* cdf,
                  int32_t* ancestors, const Threads& threads, uint64_t* draws, int64_t* first_nan) {
  if (first_nan != nullptr) *first_nan = -1;
  if (n <= 0) return false;
  const uint64_t total = fixed_cumulative_weights(log_w, n, cdf, threads, first_nan);
  if (total == 0) return false;
  switch (scheme) {
    case ResamplingScheme::kSystematic: {
      const double u = uniform01_open_right_d(word_at(s, 0));
      parallel_chunks(n, threads, [&](int64_t m0, int64_t m1) { sweep_systematic(cdf, n, total, u, m0, m1, ancestors); });
      return true;
    }
    case ResamplingScheme::kStratified: {
      parallel_chunks(n, threads, [&](int64_t m0, int64_t m1) { sweep_stratified(cdf, n, total, s, m0, m1, ancestors); });
      return true;
    }
    case ResamplingScheme::kMultinomial:
      multinomial_sweep(cdf, n, total, s, n, draws, ancestors);
      return true;
    case ResamplingScheme::kResidual: {
      const int64_t out = residual_copies_pass(cdf, n, total, ancestors);
      const int64_t remaining = n - out;
      if (remaining == 0) return true;
      // remaining > 0 leaves a fractional part of at least 1/N somewhere, so the residual
      // total is positive (resampling_math.h); its targets never reach a zero residual.
      multinomial_sweep(cdf, n, cdf[n - 1], s, remaining, draws, ancestors + out);
      return true;
    }
  }
  return false;
}

int64_t draw_one(const double* log_w, int64_t n, const StreamKey& s) {
  if (n <= 0) return -1;
  const double mx = max_log_weight(log_w, n);
  if (mx != mx) return -1;
  uint64_t coarse = 0;
  for (int64_t k = 0; k < n; ++k) coarse += coarse_weight(relative_weight(log_w[k], mx));
  const int shift = weight_shift(coarse, n);
  uint64_t total = 0;
  for (int64_t k = 0; k < n; ++k) total += fixed_weight(relative_weight(log_w[k], mx), shift);
  const uint64_t t = position_target(fixed_position(uniform01_open_right_d(word_at(s, 0))), total);
  uint64_t run = 0;
  for (int64_t k = 0; k < n - 1; ++k) {
    run += fixed_weight(relative_weight(log_w[k], mx), shift);
    if (run > t) return k;
  }
  return n - 1;
}

}  // namespace condiff
