// Reweighting (MATH.md §3, §4) and the four resampling schemes (MATH.md §5, §5b) on the
// device, per run of a batch. Launches and memory only: the arithmetic is that of
// resampling_math.h, whose 64-bit fixed-point sums are exact, so these parallel scans
// give the CPU's cumulative weights and ancestors to the last bit. Built with -fmad=false.
//
// Work is split into tiles of kTile consecutive elements of one run (a run of n elements
// has ceil(n / kTile) tiles); each thread takes kPerThread consecutive elements. A tile
// kernel writes one partial per tile; a run kernel combines a run's partials in a fixed
// order. Every reduction has a fixed tree, so results are the same from run to run.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <cmath>

#include "context_impl.cuh"
#include "resampling_math.h"
#include "weights.h"

namespace condiff {
namespace cuda {
namespace {

constexpr int kPerThread = 8;
constexpr int64_t kTile = int64_t{kThreads} * kPerThread;
constexpr int kSearchCap = 4096;  // cumulative weights a search block can hold in shared memory

using BlockSumU64 = cub::BlockReduce<unsigned long long, kThreads>;
using BlockSumF64 = cub::BlockReduce<double, kThreads>;
using BlockScanU64 = cub::BlockScan<unsigned long long, kThreads>;

struct MaxOp {
  __device__ double operator()(double a, double b) const { return b > a ? b : a; }
};

// Tile t of a run with `length` elements: this thread's range [begin, end) within the run.
struct TileSlice {
  int64_t run, begin, end;
};
__device__ inline TileSlice tile_slice(int64_t tiles_per_run, int64_t length) {
  TileSlice s;
  s.run = blockIdx.x / tiles_per_run;
  const int64_t first = (blockIdx.x % tiles_per_run) * kTile + int64_t{threadIdx.x} * kPerThread;
  s.begin = first < length ? first : length;
  s.end = first + kPerThread < length ? first + kPerThread : length;
  return s;
}

__device__ inline bool active(const uint8_t* flags, const uint8_t* ok, int64_t r) {
  return (flags == nullptr || flags[r]) && (ok == nullptr || ok[r]);
}

// The words of a stream, reusing the last Philox block (consecutive elements share one).
struct WordCache {
  StreamKey s;
  uint64_t block = ~uint64_t{0};
  Words4 w;
  __device__ uint32_t at(uint64_t e) {
    if (e / 4 != block) {
      block = e / 4;
      w = block_for(s, block);
    }
    return w.v[e % 4];
  }
};

__device__ inline StreamKey run_stream(const StreamKey& s, const Batch& b, int64_t r) {
  return stream_for_run(s, b, r);
}

// ---- Reweighting: log_w <- log_w + increment, normalised per run ----

__global__ void rw_tile_max(Batch b, double* log_w, const double* inc, int64_t tiles_per_run, double* part_max,
                            unsigned long long* part_nan) {
  __shared__ typename BlockSumF64::TempStorage t1;
  __shared__ typename BlockSumU64::TempStorage t2;
  const TileSlice s = tile_slice(tiles_per_run, b.particles);
  double mx = -INFINITY;
  unsigned long long nan = 0;
  for (int64_t k = s.begin; k < s.end; ++k) {
    const int64_t i = s.run * b.particles + k;
    const double x = log_w[i] + inc[i];
    log_w[i] = x;
    if (x != x) nan = 1;
    if (x > mx) mx = x;
  }
  mx = BlockSumF64(t1).Reduce(mx, MaxOp());
  nan = BlockSumU64(t2).Sum(nan);
  if (threadIdx.x == 0) part_max[blockIdx.x] = mx, part_nan[blockIdx.x] = nan;
}

__global__ void rw_run_max(int64_t tiles_per_run, const double* part_max, const unsigned long long* part_nan,
                           double* mx, uint8_t* ok) {
  __shared__ typename BlockSumF64::TempStorage t1;
  __shared__ typename BlockSumU64::TempStorage t2;
  const int64_t r = blockIdx.x;
  double m = -INFINITY;
  unsigned long long nan = 0;
  for (int64_t t = threadIdx.x; t < tiles_per_run; t += kThreads) {
    m = MaxOp()(m, part_max[r * tiles_per_run + t]);
    nan += part_nan[r * tiles_per_run + t];
  }
  m = BlockSumF64(t1).Reduce(m, MaxOp());
  nan = BlockSumU64(t2).Sum(nan);
  if (threadIdx.x == 0) {
    mx[r] = m;
    ok[r] = (nan == 0 && m > -INFINITY && !isinf(m)) ? 1 : 0;  // MATH.md §4: reported, never uniform
  }
}

// mode 0: sum of exp(x - mx); mode 1: x <- x - lse, then the sum of exp(x)^2.
template <int kMode>
__global__ void rw_tile_sum(Batch b, double* log_w, int64_t tiles_per_run, const double* shift, const uint8_t* ok,
                            double* part) {
  __shared__ typename BlockSumF64::TempStorage t;
  const TileSlice s = tile_slice(tiles_per_run, b.particles);
  if (!ok[s.run]) return;
  const double c = shift[s.run];
  double sum = 0.0;
  for (int64_t k = s.begin; k < s.end; ++k) {
    const int64_t i = s.run * b.particles + k;
    if (kMode == 0) {
      sum += exp(log_w[i] - c);
    } else {
      const double x = log_w[i] - c;
      log_w[i] = x;
      const double w = exp(x);
      sum += w * w;
    }
  }
  sum = BlockSumF64(t).Sum(sum);
  if (threadIdx.x == 0) part[blockIdx.x] = sum;
}

__global__ void rw_run_lse(int64_t tiles_per_run, const double* part, const double* mx, const uint8_t* ok,
                           double* lse) {
  __shared__ typename BlockSumF64::TempStorage t;
  const int64_t r = blockIdx.x;
  if (!ok[r]) return;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < tiles_per_run; i += kThreads) sum += part[r * tiles_per_run + i];
  sum = BlockSumF64(t).Sum(sum);
  if (threadIdx.x == 0) lse[r] = mx[r] + log(sum);
}

__global__ void rw_run_finish(int64_t tiles_per_run, int64_t n, const double* part, const double* lse,
                              const uint8_t* ok, double tau, double* evidence, double* ess, uint8_t* flag) {
  __shared__ typename BlockSumF64::TempStorage t;
  const int64_t r = blockIdx.x;
  if (!ok[r]) return;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < tiles_per_run; i += kThreads) sum += part[r * tiles_per_run + i];
  sum = BlockSumF64(t).Sum(sum);
  if (threadIdx.x == 0) {
    evidence[r] = lse[r];
    ess[r] = 1.0 / sum;
    // tau = 1 means every step (the seed's filter), even when rounding puts ESS at exactly N.
    flag[r] = resample_wanted(ess[r], tau, n) ? 1 : 0;
  }
}

// ---- Fixed-point cumulative weights (resampling_math.h) ----

__global__ void rs_tile_max(Batch b, const double* log_w, const uint8_t* flags, int64_t tiles_per_run,
                            double* part_max) {
  __shared__ typename BlockSumF64::TempStorage t;
  const TileSlice s = tile_slice(tiles_per_run, b.particles);
  if (!active(flags, nullptr, s.run)) return;
  double mx = -INFINITY;
  for (int64_t k = s.begin; k < s.end; ++k) {
    const double x = log_w[s.run * b.particles + k];
    if (x > mx) mx = x;  // NaN compares false: never the max
  }
  mx = BlockSumF64(t).Reduce(mx, MaxOp());
  if (threadIdx.x == 0) part_max[blockIdx.x] = mx;
}

__global__ void rs_run_max(int64_t tiles_per_run, const double* part_max, const uint8_t* flags, double* mx,
                           uint8_t* ok) {
  __shared__ typename BlockSumF64::TempStorage t;
  const int64_t r = blockIdx.x;
  if (!active(flags, nullptr, r)) {
    if (threadIdx.x == 0) ok[r] = 1;
    return;
  }
  double m = -INFINITY;
  for (int64_t i = threadIdx.x; i < tiles_per_run; i += kThreads) m = MaxOp()(m, part_max[r * tiles_per_run + i]);
  m = BlockSumF64(t).Reduce(m, MaxOp());
  if (threadIdx.x == 0) {
    mx[r] = m;
    ok[r] = (m > -INFINITY && !isinf(m)) ? 1 : 0;
  }
}

// w_k = relative_weight into cdf (as double bits) and the coarse sums floor(w 2^32).
__global__ void rs_tile_coarse(Batch b, const double* log_w, const uint8_t* flags, const uint8_t* ok,
                               int64_t tiles_per_run, const double* mx, uint64_t* cdf, unsigned long long* part) {
  __shared__ typename BlockSumU64::TempStorage t;
  const TileSlice s = tile_slice(tiles_per_run, b.particles);
  if (!active(flags, ok, s.run)) return;
  unsigned long long sum = 0;
  for (int64_t k = s.begin; k < s.end; ++k) {
    const int64_t i = s.run * b.particles + k;
    const double w = relative_weight(log_w[i], mx[s.run]);
    sum += coarse_weight(w);
    cdf[i] = double_bits(w);
  }
  sum = BlockSumU64(t).Sum(sum);
  if (threadIdx.x == 0) part[blockIdx.x] = sum;
}

// The fine fixed-point weights q_k = floor(w_k 2^shift), shift from the run's coarse sum.
__global__ void rs_tile_fine(Batch b, const uint8_t* flags, const uint8_t* ok, int64_t tiles_per_run,
                             const unsigned long long* coarse, uint64_t* cdf, unsigned long long* part) {
  __shared__ typename BlockSumU64::TempStorage t;
  const TileSlice s = tile_slice(tiles_per_run, b.particles);
  if (!active(flags, ok, s.run)) return;
  const int shift = weight_shift(coarse[s.run], b.particles);
  unsigned long long sum = 0;
  for (int64_t k = s.begin; k < s.end; ++k) {
    const int64_t i = s.run * b.particles + k;
    const uint64_t q = fixed_weight(bits_double(cdf[i]), shift);
    cdf[i] = q;
    sum += q;
  }
  sum = BlockSumU64(t).Sum(sum);
  if (threadIdx.x == 0) part[blockIdx.x] = sum;
}

// Per run: the sum of its tile partials.
__global__ void run_sum_u64(int64_t tiles_per_run, const unsigned long long* part, const uint8_t* flags,
                            const uint8_t* ok, unsigned long long* total) {
  __shared__ typename BlockSumU64::TempStorage t;
  const int64_t r = blockIdx.x;
  if (!active(flags, ok, r)) return;
  unsigned long long sum = 0;
  for (int64_t i = threadIdx.x; i < tiles_per_run; i += kThreads) sum += part[r * tiles_per_run + i];
  sum = BlockSumU64(t).Sum(sum);
  if (threadIdx.x == 0) total[r] = sum;
}

// Per run: exclusive scan of the tile partials (in place) and the run's total.
__global__ void run_scan_u64(int64_t tiles_per_run, unsigned long long* part, const uint8_t* flags,
                             const uint8_t* ok, unsigned long long* total) {
  __shared__ typename BlockScanU64::TempStorage t;
  const int64_t r = blockIdx.x;
  if (!active(flags, ok, r)) return;
  unsigned long long carry = 0;
  for (int64_t base = 0; base < tiles_per_run; base += kThreads) {
    const int64_t i = base + threadIdx.x;
    const unsigned long long v = i < tiles_per_run ? part[r * tiles_per_run + i] : 0;
    unsigned long long prefix, chunk;
    BlockScanU64(t).ExclusiveSum(v, prefix, chunk);
    if (i < tiles_per_run) part[r * tiles_per_run + i] = carry + prefix;
    carry += chunk;
    __syncthreads();
  }
  if (threadIdx.x == 0) total[r] = carry;
}

// In place: a run's values become their inclusive prefix sums (tile offsets from run_scan_u64).
__global__ void tile_scan_u64(int64_t length, const uint8_t* flags, const uint8_t* ok, int64_t tiles_per_run,
                              const unsigned long long* offsets, uint64_t* values) {
  __shared__ typename BlockScanU64::TempStorage t;
  const int64_t r = blockIdx.x / tiles_per_run;
  if (!active(flags, ok, r)) return;
  const TileSlice s = tile_slice(tiles_per_run, length);
  uint64_t* v = values + r * length;
  uint64_t mine[kPerThread];  // this thread's values, read once
  unsigned long long local = 0;
  for (int i = 0; i < kPerThread; ++i) {
    mine[i] = s.begin + i < s.end ? v[s.begin + i] : 0;
    local += mine[i];
  }
  unsigned long long prefix;
  BlockScanU64(t).ExclusiveSum(local, prefix);
  unsigned long long run = offsets[blockIdx.x] + prefix;
  for (int i = 0; i < kPerThread && s.begin + i < s.end; ++i) {
    run += mine[i];
    v[s.begin + i] = run;
  }
}

// Fixed-point Exp(1) draws e_m, m = 0..count_r, of the run's stream (MATH.md §5,
// multinomial), laid out with stride n + 1 (zeros after count_r), and their tile partials.
__global__ void rs_tile_exp1(Batch b, StreamKey stream, const uint8_t* flags, const uint8_t* ok,
                             const int64_t* counts, int64_t tiles_per_run, uint64_t* draws,
                             unsigned long long* part) {
  __shared__ typename BlockSumU64::TempStorage t;
  const int64_t r = blockIdx.x / tiles_per_run;
  if (!active(flags, ok, r)) return;
  const int64_t count = counts ? counts[r] : b.particles;
  const TileSlice s = tile_slice(tiles_per_run, b.particles + 1);
  const int shift = exp_sum_shift(count + 1);
  WordCache words{run_stream(stream, b, r)};
  unsigned long long sum = 0;
  for (int64_t m = s.begin; m < s.end; ++m) {
    const uint64_t e = m <= count ? fixed_exp1(words.at(static_cast<uint64_t>(m)), shift) : 0;
    draws[r * (b.particles + 1) + m] = e;
    sum += e;
  }
  sum = BlockSumU64(t).Sum(sum);
  if (threadIdx.x == 0) part[blockIdx.x] = sum;
}

// Residual (MATH.md §5): per particle floor(N W_k) and its fractional part in fixed point.
__global__ void rs_tile_residual(Batch b, const uint8_t* flags, const uint8_t* ok, int64_t tiles_per_run,
                                 const uint64_t* cdf, const unsigned long long* totals, uint64_t* copies,
                                 uint64_t* fractions, unsigned long long* part_copies,
                                 unsigned long long* part_fractions) {
  __shared__ typename BlockSumU64::TempStorage t;
  const TileSlice s = tile_slice(tiles_per_run, b.particles);
  if (!active(flags, ok, s.run)) return;
  const uint64_t total = totals[s.run];
  unsigned long long sc = 0, sf = 0;
  for (int64_t k = s.begin; k < s.end; ++k) {
    const int64_t i = s.run * b.particles + k;
    const uint64_t q = cdf[i] - (k > 0 ? cdf[i - 1] : 0);
    uint64_t remainder = 0;
    const uint64_t c = residual_copies(q, b.particles, total, &remainder);
    const uint64_t f = residual_fraction(remainder, total);
    copies[i] = c;
    fractions[i] = f;
    sc += c;
    sf += f;
  }
  sc = BlockSumU64(t).Sum(sc);
  __syncthreads();
  sf = BlockSumU64(t).Sum(sf);
  if (threadIdx.x == 0) part_copies[blockIdx.x] = sc, part_fractions[blockIdx.x] = sf;
}

// ---- Targets: the m-th sorted fixed-point position of a run, scaled by its total ----

struct SystematicTargets {
  StreamKey stream;
  Batch b;
  const unsigned long long* totals;
  __device__ uint64_t operator()(int64_t r, int64_t m, WordCache&) const {
    const double u = uniform01_open_right_d(word_at(run_stream(stream, b, r), 0));
    const double inv_n = 1.0 / static_cast<double>(b.particles);
    return position_target(fixed_position((u + static_cast<double>(m)) * inv_n), totals[r]);
  }
};

struct StratifiedTargets {
  Batch b;
  const unsigned long long* totals;
  __device__ uint64_t operator()(int64_t r, int64_t m, WordCache& words) const {
    const double u = uniform01_open_right_d(words.at(static_cast<uint64_t>(m)));
    const double inv_n = 1.0 / static_cast<double>(b.particles);
    return position_target(fixed_position((u + static_cast<double>(m)) * inv_n), totals[r]);
  }
};

// Sorted uniforms S_m / S_count from the scanned Exp(1) draws (multinomial, residual remainder).
struct SortedTargets {
  Batch b;
  const uint64_t* sums;  // inclusive, stride n + 1
  const int64_t* counts;
  const unsigned long long* totals;
  __device__ uint64_t operator()(int64_t r, int64_t m, WordCache&) const {
    const uint64_t* s = sums + r * (b.particles + 1);
    const int64_t count = counts ? counts[r] : b.particles;
    return position_target(sorted_position(s[m], s[count]), totals[r]);
  }
};

// Residual's deterministic part: position m goes to the particle whose copies cover it.
struct CopyTargets {
  __device__ uint64_t operator()(int64_t, int64_t m, WordCache&) const { return static_cast<uint64_t>(m); }
};

// The smallest k in [lo, hi] with cdf[k] > t, else hi (the CPU sweep's rule, MATH.md §5).
__device__ inline int64_t upper_bound(const uint64_t* cdf, int64_t lo, int64_t hi, uint64_t t) {
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (cdf[mid] > t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// Ancestors of positions m in [0, count_r) of each active run, written at
// ancestors[r n + offset_r + m]. Each block takes kTile consecutive positions, finds the
// range of cumulative weights their targets span and, when it fits, searches it in
// shared memory.
template <typename Targets>
__global__ void search_kernel(Batch b, const uint64_t* cdf, const uint8_t* flags, const uint8_t* ok,
                              const int64_t* counts, const int64_t* offsets, int64_t tiles_per_run, StreamKey stream,
                              Targets targets, int32_t* ancestors) {
  __shared__ uint64_t window[kSearchCap];
  __shared__ int64_t range[2];
  const int64_t r = blockIdx.x / tiles_per_run, n = b.particles;
  if (!active(flags, ok, r)) return;
  const int64_t count = counts ? counts[r] : n;
  const int64_t first = (blockIdx.x % tiles_per_run) * kTile;
  if (first >= count) return;
  const int64_t last = (first + kTile < count ? first + kTile : count) - 1;
  const uint64_t* c = cdf + r * n;
  WordCache words{run_stream(stream, b, r)};
  if (threadIdx.x == 0) {
    WordCache w0{run_stream(stream, b, r)};
    range[0] = upper_bound(c, 0, n - 1, targets(r, first, w0));
    range[1] = upper_bound(c, range[0], n - 1, targets(r, last, w0));
  }
  __syncthreads();
  const int64_t lo = range[0], hi = range[1];
  const bool fits = hi - lo + 1 <= kSearchCap;
  if (fits)
    for (int64_t i = threadIdx.x; i <= hi - lo; i += kThreads) window[i] = c[lo + i];
  __syncthreads();
  const int64_t out = r * n + (offsets ? offsets[r] : 0);
  const int64_t begin = first + int64_t{threadIdx.x} * kPerThread;
  for (int64_t m = begin; m < begin + kPerThread && m <= last; ++m) {
    const uint64_t t = targets(r, m, words);
    const int64_t k = fits ? lo + upper_bound(window, 0, hi - lo, t) : upper_bound(c, lo, hi, t);
    ancestors[out + m] = static_cast<int32_t>(k);
  }
}

// Residual bookkeeping per run: copies out_r and the remaining count n - out_r.
__global__ void residual_counts(Batch b, const uint8_t* flags, const uint8_t* ok, const unsigned long long* copies,
                                int64_t* out, int64_t* remaining) {
  const int64_t r = global_thread();
  if (r >= b.runs || !active(flags, ok, r)) return;
  out[r] = static_cast<int64_t>(copies[r]);
  remaining[r] = b.particles - out[r];
}

// Runs that were not resampled keep their particles; resampled ones may get equal weights.
__global__ void rs_finish(Batch b, const uint8_t* flags, const uint8_t* ok, bool reset, double uniform,
                          double* log_w, int32_t* ancestors) {
  for (int64_t i = global_thread(); i < b.runs * b.particles; i += grid_stride()) {
    const int64_t r = i / b.particles;
    if (flags && !flags[r]) ancestors[i] = static_cast<int32_t>(i % b.particles);
    else if (reset && ok[r]) log_w[i] = uniform;
  }
}

// Bump allocation in the context's workspace, 256-byte aligned.
struct Carve {
  char* base;
  size_t used = 0;
  template <typename T>
  T* take(int64_t count) {
    T* p = reinterpret_cast<T*>(base + used);
    used += (static_cast<size_t>(count) * sizeof(T) + 255) / 256 * 256;
    return p;
  }
};

template <typename T>
size_t carve_bytes(int64_t count) {
  return (static_cast<size_t>(count) * sizeof(T) + 255) / 256 * 256;
}

}  // namespace

void Context::reweight(const Batch& b, double* log_w, const double* increment, double tau, double* log_evidence_inc,
                       double* ess, uint8_t* resample_flag, uint8_t* ok) {
  const Launch l = impl_->launch();
  const int64_t tpr = (b.particles + kTile - 1) / kTile, tiles = b.runs * tpr;
  const size_t bytes = carve_bytes<double>(tiles) * 2 + carve_bytes<double>(b.runs) * 2;
  Carve w{static_cast<char*>(scratch(bytes))};
  double* part = w.take<double>(tiles);
  unsigned long long* part_nan = w.take<unsigned long long>(tiles);
  double* mx = w.take<double>(b.runs);
  double* lse = w.take<double>(b.runs);
  const unsigned grid = static_cast<unsigned>(tiles), runs = static_cast<unsigned>(b.runs);
  rw_tile_max<<<grid, kThreads, 0, l.stream>>>(b, log_w, increment, tpr, part, part_nan);
  rw_run_max<<<runs, kThreads, 0, l.stream>>>(tpr, part, part_nan, mx, ok);
  rw_tile_sum<0><<<grid, kThreads, 0, l.stream>>>(b, log_w, tpr, mx, ok, part);
  rw_run_lse<<<runs, kThreads, 0, l.stream>>>(tpr, part, mx, ok, lse);
  rw_tile_sum<1><<<grid, kThreads, 0, l.stream>>>(b, log_w, tpr, lse, ok, part);
  rw_run_finish<<<runs, kThreads, 0, l.stream>>>(tpr, b.particles, part, lse, ok, tau, log_evidence_inc, ess,
                                                 resample_flag);
  check_launch("reweight");
}

void Context::resample(const Batch& b, ResamplingScheme scheme, const uint8_t* flags, const StreamKey& stream,
                       double* log_w, bool reset_weights, double uniform_log_weight, uint64_t* cdf,
                       int32_t* ancestors, uint8_t* ok) {
  const Launch l = impl_->launch();
  const int64_t n = b.particles, runs = b.runs;
  const int64_t tpr = (n + kTile - 1) / kTile, tiles = runs * tpr;
  const int64_t tpr_draws = (n + 1 + kTile - 1) / kTile, tiles_draws = runs * tpr_draws;
  const bool sorted = scheme == ResamplingScheme::kMultinomial || scheme == ResamplingScheme::kResidual;
  const bool residual = scheme == ResamplingScheme::kResidual;
  size_t bytes = carve_bytes<double>(tiles) * 2 + carve_bytes<double>(runs) * 4;
  if (sorted) bytes += carve_bytes<uint64_t>(runs * (n + 1)) + carve_bytes<uint64_t>(tiles_draws);
  if (residual) bytes += carve_bytes<uint64_t>(runs * n) * 2 + carve_bytes<uint64_t>(tiles) * 2 +
                         carve_bytes<int64_t>(runs) * 4;
  Carve w{static_cast<char*>(scratch(bytes))};
  double* part_max = w.take<double>(tiles);
  unsigned long long* part = w.take<unsigned long long>(tiles);
  double* mx = w.take<double>(runs);
  unsigned long long* coarse = w.take<unsigned long long>(runs);
  unsigned long long* totals = w.take<unsigned long long>(runs);
  unsigned long long* draw_totals = w.take<unsigned long long>(runs);
  const unsigned grid = static_cast<unsigned>(tiles), grid_runs = static_cast<unsigned>(runs);

  // C_k: max, coarse sums (the shift), fine weights, then the scan (resampling_math.h).
  rs_tile_max<<<grid, kThreads, 0, l.stream>>>(b, log_w, flags, tpr, part_max);
  rs_run_max<<<grid_runs, kThreads, 0, l.stream>>>(tpr, part_max, flags, mx, ok);
  rs_tile_coarse<<<grid, kThreads, 0, l.stream>>>(b, log_w, flags, ok, tpr, mx, cdf, part);
  run_sum_u64<<<grid_runs, kThreads, 0, l.stream>>>(tpr, part, flags, ok, coarse);
  rs_tile_fine<<<grid, kThreads, 0, l.stream>>>(b, flags, ok, tpr, coarse, cdf, part);
  run_scan_u64<<<grid_runs, kThreads, 0, l.stream>>>(tpr, part, flags, ok, totals);
  tile_scan_u64<<<grid, kThreads, 0, l.stream>>>(n, flags, ok, tpr, part, cdf);
  check_launch("resample (cumulative weights)");

  uint64_t* sums = nullptr;
  unsigned long long* part_draws = nullptr;
  if (sorted) {
    sums = w.take<uint64_t>(runs * (n + 1));
    part_draws = w.take<unsigned long long>(tiles_draws);
  }
  // Sorted uniforms for `counts` positions per run (null: n): draws, scan (MATH.md §5).
  auto sorted_draws = [&](const int64_t* counts) {
    rs_tile_exp1<<<static_cast<unsigned>(tiles_draws), kThreads, 0, l.stream>>>(b, stream, flags, ok, counts,
                                                                                 tpr_draws, sums, part_draws);
    run_scan_u64<<<grid_runs, kThreads, 0, l.stream>>>(tpr_draws, part_draws, flags, ok, draw_totals);
    tile_scan_u64<<<static_cast<unsigned>(tiles_draws), kThreads, 0, l.stream>>>(
        n + 1, flags, ok, tpr_draws, part_draws, sums);
  };
  switch (scheme) {
    case ResamplingScheme::kSystematic:
      search_kernel<<<grid, kThreads, 0, l.stream>>>(b, cdf, flags, ok, nullptr, nullptr, tpr, stream,
                                                     SystematicTargets{stream, b, totals}, ancestors);
      break;
    case ResamplingScheme::kStratified:
      search_kernel<<<grid, kThreads, 0, l.stream>>>(b, cdf, flags, ok, nullptr, nullptr, tpr, stream,
                                                     StratifiedTargets{b, totals}, ancestors);
      break;
    case ResamplingScheme::kMultinomial:
      sorted_draws(nullptr);
      search_kernel<<<grid, kThreads, 0, l.stream>>>(b, cdf, flags, ok, nullptr, nullptr, tpr, stream,
                                                     SortedTargets{b, sums, nullptr, totals}, ancestors);
      break;
    case ResamplingScheme::kResidual: {
      uint64_t* copies = w.take<uint64_t>(runs * n);
      uint64_t* fractions = w.take<uint64_t>(runs * n);
      unsigned long long* part_copies = w.take<unsigned long long>(tiles);
      unsigned long long* part_fractions = w.take<unsigned long long>(tiles);
      int64_t* out = w.take<int64_t>(runs);
      int64_t* remaining = w.take<int64_t>(runs);
      unsigned long long* copy_totals = reinterpret_cast<unsigned long long*>(w.take<int64_t>(runs));
      unsigned long long* fraction_totals = reinterpret_cast<unsigned long long*>(w.take<int64_t>(runs));
      rs_tile_residual<<<grid, kThreads, 0, l.stream>>>(b, flags, ok, tpr, cdf, totals, copies, fractions,
                                                        part_copies, part_fractions);
      run_scan_u64<<<grid_runs, kThreads, 0, l.stream>>>(tpr, part_copies, flags, ok, copy_totals);
      tile_scan_u64<<<grid, kThreads, 0, l.stream>>>(n, flags, ok, tpr, part_copies, copies);
      run_scan_u64<<<grid_runs, kThreads, 0, l.stream>>>(tpr, part_fractions, flags, ok, fraction_totals);
      tile_scan_u64<<<grid, kThreads, 0, l.stream>>>(n, flags, ok, tpr, part_fractions, fractions);
      residual_counts<<<blocks_for(runs), kThreads, 0, l.stream>>>(b, flags, ok, copy_totals, out, remaining);
      // floor(N W_k) copies: position m goes to the smallest k with cumulative copies > m.
      search_kernel<<<grid, kThreads, 0, l.stream>>>(b, copies, flags, ok, out, nullptr, tpr, stream, CopyTargets{},
                                                     ancestors);
      // The remainder: sorted uniforms on the fractional parts, after the copies.
      sorted_draws(remaining);
      search_kernel<<<grid, kThreads, 0, l.stream>>>(b, fractions, flags, ok, remaining, out, tpr, stream,
                                                     SortedTargets{b, sums, remaining, fraction_totals}, ancestors);
      break;
    }
  }
  if (flags || reset_weights)
    rs_finish<<<grid_for(runs * n, l.sms), kThreads, 0, l.stream>>>(b, flags, ok, reset_weights, uniform_log_weight,
                                                                     log_w, ancestors);
  check_launch("resample");
}

}  // namespace cuda
}  // namespace condiff
