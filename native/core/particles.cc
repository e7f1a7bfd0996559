#include "particles.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "finite.h"
#include "isa.h"
#include "kernels.h"
#include "parallel.h"
#include "philox_lanes.h"
#include "particle_math.h"
#include "weights.h"

namespace condiff {
namespace {

// Work below these sizes per worker stays on one thread: handing a chunk to another worker
// costs microseconds (tens when a thread must be started, worker_pool.h), and moving a
// small working set into the other core's cache costs more than the split saves
// (measured: a 200k-element kernel mean takes 28 µs on one thread, 67 µs on two).
constexpr int64_t kElementGrain = int64_t{1} << 18;  // floats per worker, elementwise ops
// Floats per non-finite scan (finite.h): small enough to stay in L1 after it was written.
constexpr int64_t kFiniteBlock = 1024;
// Rows per worker for per-row operations (a few ns per element, normals included).
int64_t row_grain(int64_t dim) { return std::max<int64_t>(64, (kElementGrain / 4) / std::max<int64_t>(1, dim)); }
// Runs per worker for per-run reductions (about 2^16 particles each).
int64_t run_grain(int64_t particles) { return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, particles)); }

// Normals per call of the row loop below: a block of rows, in L1 with its rows' outputs.
constexpr int64_t kRowBlockElements = 2048;

// Runs whose normals all fit in this many elements are drawn sixteen runs at a time
// (fill_normals_runs): below it a run's own 64-element groups are mostly thrown away
// (replacement has one particle per run: at D = 8, 56 of the 64 normals of each group).
constexpr int64_t kRunsInLanesElements = 256;

// Whether rows_with_normals draws sixteen runs at a time; its ranges must then hold whole
// runs. Consecutive run words only: with per-run keys each run draws from its own key.
bool runs_in_lanes(const Batch& b, bool draw) {
  return draw && b.particles * b.dim <= kRunsInLanesElements && b.run_keys == nullptr;
}

// Floats of scratch rows_with_normals needs.
int64_t row_normals_floats(const Batch& b, bool draw) {
  if (!draw) return 0;
  if (runs_in_lanes(b, draw)) return kPhiloxLanes * b.particles * b.dim;
  return std::max<int64_t>(1, kRowBlockElements / std::max<int64_t>(1, b.dim)) * b.dim;
}

// Elements [begin, end) of a run's stream into out[e − begin] through its cursor: with
// `blocks` (latent_blocks), only the latent stretches' elements, up to 64 stretches a call.
void draw_run_normals(NormalCursor& cursor, const LatentBlocks& blocks, uint64_t begin, uint64_t end, float* out) {
  if (blocks.empty()) {
    cursor.fill(begin, end, out);
    return;
  }
  BlockRange list[64];
  int64_t n = 0;
  for_latent_stretches(blocks, begin / 4, (end + 3) / 4, [&](BlockRange r) {
    list[n++] = r;
    if (n == 64) cursor.fill_blocks(list, n, begin, end, out), n = 0;
  });
  if (n > 0) cursor.fill_blocks(list, n, begin, end, out);
}

// Elements [0, per_run) of `runs` consecutive runs' streams (fill_normals_runs), run p's into
// out + p per_run: with `blocks`, only the latent stretches' elements.
void draw_runs_normals(StreamKey stream, uint32_t first_run, int runs, int64_t per_run, const LatentBlocks& blocks,
                       float* out) {
  if (blocks.empty()) {
    fill_normals_runs(stream, first_run, runs, 0, static_cast<uint64_t>(per_run), out, per_run);
    return;
  }
  for_latent_stretches(blocks, 0, static_cast<uint64_t>(per_run + 3) / 4, [&](BlockRange r) {
    const uint64_t lo = uint64_t{r.first} * 4, hi = std::min<uint64_t>(static_cast<uint64_t>(per_run), uint64_t{r.last} * 4);
    fill_normals_runs(stream, first_run, runs, lo, hi, out + lo, per_run);
  });
}

// Runs fn(row, run, normals) over rows [begin, end) on the calling thread, with the row's
// normals of MATH.md §6 when `draw` is set (else normals is null); xi: row_normals_floats
// of scratch. Every row gets the same normals however the batch's rows are split. With
// `blocks` (latent_blocks), only the latent coordinates' normals are drawn: fn must
// read no other (the observed coordinates are set, not drawn).
template <typename RowFn>
void rows_with_normals(const Batch& b, StreamKey stream, bool draw, const LatentBlocks& blocks,
                       int64_t begin, int64_t end, float* xi, RowFn&& fn) {
  if (runs_in_lanes(b, draw)) {
    const int64_t per_run = b.particles * b.dim, run_end = end / b.particles;
    for (int64_t r0 = begin / b.particles; r0 < run_end; r0 += kPhiloxLanes) {
      const int n = static_cast<int>(std::min<int64_t>(kPhiloxLanes, run_end - r0));
      draw_runs_normals(stream, b.run_offset + static_cast<uint32_t>(r0), n, per_run, blocks, xi);
      for (int p = 0; p < n; ++p)
        for (int64_t k = 0; k < b.particles; ++k) fn((r0 + p) * b.particles + k, r0 + p, xi + p * per_run + k * b.dim);
    }
    return;
  }
  // A run's consecutive rows take their normals in one call per block of rows: whole
  // 64-element groups go straight into the block, and only the block's ends go through the
  // cursor's cache (a call per row cost ~14 ns a row at D = 8, more than its normals).
  const int64_t block_rows = std::max<int64_t>(1, kRowBlockElements / std::max<int64_t>(1, b.dim));
  NormalCursor cursor(stream);
  int64_t cursor_run = -1;
  for (int64_t row = begin; row < end;) {
    const int64_t r = row / b.particles, k = row % b.particles;
    const int64_t stop = std::min({end, (r + 1) * b.particles, row + block_rows});
    if (draw) {
      if (r != cursor_run) {
        cursor = NormalCursor(stream_for_run(stream, b, r));
        cursor_run = r;
      }
      const uint64_t d = static_cast<uint64_t>(b.dim);
      draw_run_normals(cursor, blocks, static_cast<uint64_t>(k) * d, static_cast<uint64_t>(k + stop - row) * d, xi);
    }
    for (int64_t q = row; q < stop; ++q) fn(q, r, draw ? xi + (q - row) * b.dim : nullptr);
    row = stop;
  }
}

// Runs fn(row, run, normals) over every row of the batch in parallel (rows_with_normals),
// drawing only the latent coordinates' normals of c: fn reads no other.
template <typename RowFn>
void for_each_row(const Batch& b, const Coordinates& c, StreamKey stream, bool draw, Threads threads, RowFn&& fn) {
  const LatentBlocks blocks = draw ? latent_blocks(c, b.dim) : LatentBlocks{};
  const bool lanes = runs_in_lanes(b, draw);
  // In lanes: parallel over groups of sixteen runs; else over rows.
  const int64_t unit = lanes ? kPhiloxLanes * b.particles : 1;
  const int64_t rows = b.runs * b.particles;
  const int64_t grain = lanes ? std::max<int64_t>(1, row_grain(b.dim) / unit) : row_grain(b.dim);
  parallel_for((rows + unit - 1) / unit, threads, grain, [&](int64_t begin, int64_t end, int) {
    std::vector<float> xi(row_normals_floats(b, draw));
    rows_with_normals(b, stream, draw, blocks, begin * unit, std::min(rows, end * unit), xi.data(), fn);
  });
}

// The Y block of one row: its run's context value y (d_Y floats).
void set_observed(const Coordinates& c, const float* y, float* zr) {
  for (int64_t j = 0; j < c.n_observed; ++j) zr[c.observed[j]] = y[j];
}

}  // namespace

std::vector<Span> latent_spans(const Coordinates& c) {
  std::vector<Span> spans;
  for (int64_t j = 0; j < c.n_latent; ++j) {
    const int32_t x = c.latent[j];
    if (!spans.empty() && spans.back().end == x) {
      ++spans.back().end;
    } else {
      spans.push_back({x, x + 1});
    }
  }
  return spans;
}

namespace {

// One row of the move (MATH.md §2): X from the mean row m, plus scale xi when xi is given;
// Y from the run's context y. latent and observed partition the row (the binding checks
// it), so the whole row is moved in one loop the vectoriser runs at full width (a loop per
// span of X cost more than the values at small D) and Y then overwrites its coordinates.
inline void move_row(const Coordinates& c, int64_t dim, const float* m, float scale, const float* xi, const float* y,
                     float* zr) {
  if (xi) {
    for (int64_t x = 0; x < dim; ++x) zr[x] = propagate_value(m[x], scale, xi[x]);
  } else {
    std::memcpy(zr, m, static_cast<size_t>(dim) * sizeof(float));
  }
  set_observed(c, y, zr);
}

}  // namespace

void init_state(const Batch& b, const Coordinates& c, const float* y_per_run, StreamKey stream, float* z,
                Threads threads) {
  const std::vector<Span> spans = latent_spans(c);
  for_each_row(b, c, stream, true, threads, [&](int64_t row, int64_t r, const float* xi) {
    float* zr = z + row * b.dim;
    for (const Span& s : spans)
      for (int32_t x = s.begin; x < s.end; ++x) zr[x] = xi[x];
    set_observed(c, y_per_run + r * c.n_observed, zr);
  });
}

// out[j] = context_step(a, sd, before[j], xi[j]) for j < n: the context path's arithmetic in
// double, cloned per instruction set (the same bits in every clone: isa.h). At baseline
// SSE2 (two doubles a vector, with spills) it was ~35% of the path's time at d_Y = 20.
namespace {
CONDIFF_ROW_CLONES void context_steps(double a, double sd, const float* before, const float* xi, int64_t n,
                                      float* out) {
  for (int64_t j = 0; j < n; ++j) out[j] = context_step(a, sd, before[j], xi[j]);
}
}  // namespace

void forward_context_segment(const float* start, int64_t d_obs, int64_t runs, uint32_t run_offset, int64_t first,
                             int64_t count, const double* alpha_ts, const double* sigma2_ts, StreamKey stream,
                             float* out, Threads threads, const uint32_t* run_keys) {
  // Slices of runs x d_Y floats, the context of every run at one grid time contiguous. Each
  // worker's stretch of runs goes step by step, so that a step reads and writes one
  // contiguous stretch of two slices: a run at a time through every step jumped a slice per
  // write, which at d_Y = 2 cost ~4 ns an element.
  const int64_t stride = runs * d_obs;
  // The slice before out's q-th: the start, or out's previous one.
  auto previous = [&](int64_t q) { return q == 0 ? start : out + (q - 1) * stride; };
  if (run_keys != nullptr) {
    // Each run its own key: one run at a time within a step.
    parallel_for(runs, threads, 1, [&](int64_t begin, int64_t end, int) {
      std::vector<float> xi(d_obs);
      for (int64_t q = 0; q < count; ++q) {
        const int64_t i = first + 1 + q;
        const double a = alpha_ts[i - 1], sd = std::sqrt(sigma2_ts[i - 1]);
        const float* before = previous(q);
        float* p = out + q * stride;
        for (int64_t r = begin; r < end; ++r) {
          StreamKey s = stream_for_run(stream, run_keys, run_offset, r);
          s.step = static_cast<uint32_t>(i);
          fill_normals(s, 0, static_cast<uint64_t>(d_obs), xi.data());
          context_steps(a, sd, before + r * d_obs, xi.data(), d_obs, p + r * d_obs);
        }
      }
    });
    return;
  }
  // Sixteen runs at a time (fill_normals_runs, consecutive run words): each run-step needs
  // only d_Y normals.
  const int64_t groups = (runs + kPhiloxLanes - 1) / kPhiloxLanes;
  parallel_for(groups, threads, 1, [&](int64_t begin, int64_t end, int) {
    std::vector<float> xi(kPhiloxLanes * d_obs);
    StreamKey s = stream;
    for (int64_t q = 0; q < count; ++q) {
      const int64_t i = first + 1 + q;
      s.step = static_cast<uint32_t>(i);
      const double a = alpha_ts[i - 1], sd = std::sqrt(sigma2_ts[i - 1]);
      for (int64_t g = begin; g < end; ++g) {
        const int64_t r0 = g * kPhiloxLanes;
        const int n = static_cast<int>(std::min<int64_t>(kPhiloxLanes, runs - r0));
        fill_normals_runs(s, run_offset + static_cast<uint32_t>(r0), n, 0, static_cast<uint64_t>(d_obs), xi.data(), d_obs);
        const float* before = previous(q) + r0 * d_obs;
        float* p = out + q * stride + r0 * d_obs;
        context_steps(a, sd, before, xi.data(), n * d_obs, p);
      }
    }
  });
}

void forward_context_path(const float* y0, int64_t d_obs, int64_t runs, uint32_t run_offset, int64_t steps,
                          const double* alpha_ts, const double* sigma2_ts, StreamKey stream, float* path,
                          Threads threads, const uint32_t* run_keys) {
  // Layout (steps + 1) x runs x d_Y: slice 0 is y0 for every run, then the segment after it.
  parallel_for(runs, threads, int64_t{1} << 14, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t j = 0; j < d_obs; ++j) path[r * d_obs + j] = y0[j];
  });
  if (steps > 0)
    forward_context_segment(path, d_obs, runs, run_offset, 0, steps, alpha_ts, sigma2_ts, stream, path + runs * d_obs,
                            threads, run_keys);
}

int64_t kernel_mean_batch(const float* z, const float* score, int64_t count, double a, double b, float* mu,
                          Threads threads) {
  const float af = static_cast<float>(a), bf = static_cast<float>(b);
  // The first non-finite mean, checked per chunk while it is in cache: a finite but huge
  // score can overflow float32 (the driver names the row), and a separate pass over mu
  // cost a pass over memory and a call per step.
  std::atomic<int64_t> first{count};
  parallel_for(count, threads, kElementGrain, [&](int64_t begin, int64_t end, int) {
    for (int64_t c = begin; c < end; c += kFiniteBlock) {
      const int64_t e = std::min(end, c + kFiniteBlock);
      kernel_mean(z, score, af, bf, mu, c, e);
      note_first_non_finite(mu, c, e, 0, first);
    }
  });
  return first.load() < count ? first.load() : -1;
}

CONDIFF_ROW_CLONES void gaussian_y_log_weights_rows(const Coordinates& c, const float* mu, int64_t dim, int64_t count,
                                                    const float* y, double v, double log_norm, double* out) {
  // Eight rows at a time: each row's sum is gaussian_y_log_weight's, term by term in the
  // same order (the same bits), but eight independent sums hide the float64 add latency
  // that one row's chain of d_Y adds waits on.
  constexpr int kRows = 8;
  int64_t row = 0;
  for (; row + kRows <= count; row += kRows) {
    double sq[kRows] = {};
    for (int64_t j = 0; j < c.n_observed; ++j) {
      const double yj = static_cast<double>(y[j]);
      const float* m = mu + row * dim + c.observed[j];
      for (int i = 0; i < kRows; ++i) {
        const double diff = yj - static_cast<double>(m[i * dim]);
        sq[i] += diff * diff;
      }
    }
    for (int i = 0; i < kRows; ++i) out[row + i] = gaussian_log_weight_of(sq[i], v, log_norm);
  }
  for (; row < count; ++row) out[row] = gaussian_y_log_weight(mu + row * dim, c.observed, c.n_observed, y, v, log_norm);
}

void gaussian_y_log_weights(const Batch& b, const Coordinates& c, const float* mu, const float* y_per_run, double v,
                            double* out, Threads threads) {
  const double log_norm = gaussian_log_norm(c.n_observed, v);
  parallel_for(b.runs * b.particles, threads, row_grain(b.dim), [&](int64_t begin, int64_t end, int) {
    for (int64_t row = begin; row < end;) {
      const int64_t r = row / b.particles;
      const int64_t stop = std::min(end, (r + 1) * b.particles);
      gaussian_y_log_weights_rows(c, mu + row * b.dim, b.dim, stop - row, y_per_run + r * c.n_observed, v, log_norm,
                                  out + row);
      row = stop;
    }
  });
}

int64_t reweight_batch(const Batch& b, double* log_w, const double* increment, double tau, double* log_evidence_inc,
                       double* ess, uint8_t* resample_flag, Threads threads) {
  // Three parallel passes over fixed blocks of every run (weights.h): the per-run sums
  // combine block results in block order, so a run of 10^5 particles uses every thread
  // and still gives the same bits on any thread count.
  const int64_t n = b.particles;
  const int64_t per_run = (n + kWeightBlock - 1) / kWeightBlock, blocks = b.runs * per_run;
  const int64_t grain = 8;  // blocks per worker: 32k weights, about 60 µs of the exp pass
  std::vector<double> block_a(blocks), block_b(blocks), run_max(b.runs), run_lse(b.runs);
  auto block_span = [&](int64_t i, int64_t* offset) {
    const int64_t r = i / per_run, k0 = (i % per_run) * kWeightBlock;
    *offset = r * n + k0;
    return std::min(kWeightBlock, n - k0);
  };
  parallel_for(blocks, threads, grain, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t o;
      const int64_t len = block_span(i, &o);
      block_a[i] = add_increment_block(log_w + o, increment + o, len);
    }
  });
  for (int64_t r = 0; r < b.runs; ++r) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t i = r * per_run; i < (r + 1) * per_run; ++i) {
      const double m = block_a[i];
      mx = (m != m || mx != mx) ? std::nan("") : (m > mx ? m : mx);
    }
    if (!run_max_ok(mx)) return r;
    run_max[r] = mx;
  }
  parallel_for(blocks, threads, grain, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t o;
      const int64_t len = block_span(i, &o);
      exp_sums_block(log_w + o, len, run_max[i / per_run], &block_a[i], &block_b[i]);
    }
  });
  for (int64_t r = 0; r < b.runs; ++r) {
    double sum = 0.0, sum_sq = 0.0;
    for (int64_t i = r * per_run; i < (r + 1) * per_run; ++i) {
      sum += block_a[i];
      sum_sq += block_b[i];
    }
    run_lse[r] = run_max[r] + std::log(sum);
    log_evidence_inc[r] = run_lse[r];
    ess[r] = sum * sum / sum_sq;
    resample_flag[r] = resample_wanted(ess[r], tau, n) ? 1 : 0;
  }
  parallel_for(blocks, threads, grain, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t o;
      const int64_t len = block_span(i, &o);
      subtract_block(log_w + o, len, run_lse[i / per_run]);
    }
  });
  return -1;
}

int64_t resample_batch(const Batch& b, ResamplingScheme scheme, const uint8_t* flags, StreamKey stream,
                       double* log_w, uint64_t* cdf, int32_t* ancestors, Threads threads) {
  const int64_t n = b.particles;
  std::vector<uint8_t> failed(b.runs, 0);
  // Few runs (fewer than threads): one run at a time, each split across the threads.
  const bool split_runs = b.runs < threads.count;
  const Threads per_run = split_runs ? threads : Threads(1);
  parallel_for(b.runs, split_runs ? Threads(1) : threads, run_grain(b.particles), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      int32_t* anc = ancestors + r * n;
      double* lw = log_w + r * n;
      if (!flags[r]) {
        for (int64_t k = 0; k < n; ++k) anc[k] = static_cast<int32_t>(k);
        continue;
      }
      if (!resample_run(scheme, lw, n, stream_for_run(stream, b, r), cdf + r * n, anc, per_run)) {
        failed[r] = 1;
        continue;
      }
      reset_log_weights(lw, n);
    }
  });
  for (int64_t r = 0; r < b.runs; ++r)
    if (failed[r]) return r;
  return -1;
}

void propagate(const Batch& b, const Coordinates& c, const float* mu, const int32_t* ancestors, double noise_scale,
               const float* y_per_run, StreamKey stream, float* z_out, Threads threads) {
  const float scale = static_cast<float>(noise_scale);
  for_each_row(b, c, stream, noise_scale > 0.0, threads, [&](int64_t row, int64_t r, const float* xi) {
    const int64_t src = ancestors ? r * b.particles + ancestors[row] : row;
    move_row(c, b.dim, mu + src * b.dim, scale, xi, y_per_run + r * c.n_observed, z_out + row * b.dim);
  });
}

int64_t propagate_range_unit(const Batch& b, double noise_scale) {
  return runs_in_lanes(b, noise_scale > 0.0) ? b.particles : 1;
}

int64_t propagate_range_scratch(const Batch& b, double noise_scale) {
  return row_normals_floats(b, noise_scale > 0.0);
}

CONDIFF_ROW_CLONES void propagate_range(const Batch& b, const Coordinates& c, int64_t begin, int64_t end,
                     const float* mu_rows, double noise_scale, const float* y_per_run, StreamKey stream,
                     const LatentBlocks& blocks, float* xi, float* z_out) {
  const float scale = static_cast<float>(noise_scale);
  rows_with_normals(b, stream, noise_scale > 0.0, blocks, begin, end, xi, [&](int64_t row, int64_t r, const float* x) {
    move_row(c, b.dim, mu_rows + (row - begin) * b.dim, scale, x, y_per_run + r * c.n_observed, z_out + row * b.dim);
  });
}

namespace {

// The blocks of rows [0, rows) that meet the latent spans (ascending by begin), appended to
// `out` as merged stretches; returns how many blocks they hold.
int64_t append_latent_blocks(const std::vector<Span>& spans, int64_t dim, int64_t rows, std::vector<BlockRange>* out) {
  int64_t used = 0;
  for (int64_t q = 0; q < rows; ++q) {
    for (const Span& sp : spans) {
      const int64_t lo = (q * dim + sp.begin) / 4, hi = (q * dim + sp.end + 3) / 4;
      if (!out->empty() && out->back().last >= lo) {
        if (hi > out->back().last) {
          used += hi - out->back().last;
          out->back().last = static_cast<uint32_t>(hi);
        }
      } else {
        out->push_back({static_cast<uint32_t>(lo), static_cast<uint32_t>(hi)});
        used += hi - lo;
      }
    }
  }
  return used;
}

}  // namespace

LatentBlocks latent_blocks(const Coordinates& c, int64_t dim) {
  if (c.n_observed == 0 || dim <= 0) return {};
  std::vector<Span> spans = latent_spans(c);
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.begin < y.begin; });
  // Rows' blocks repeat every 4 / gcd(D, 4) rows, a whole number of blocks.
  const int64_t rows = 4 / std::gcd<int64_t>(dim, 4);
  LatentBlocks lb;
  const int64_t used = append_latent_blocks(spans, dim, rows, &lb.stretches);
  const int64_t total = rows * dim / 4, skipped = total - used, stretches = static_cast<int64_t>(lb.stretches.size());
  // The list costs a copy per stretch and batch of sixty-four blocks (normals.h
  // fill_blocks): it pays where a third of the blocks are skipped, or an eighth with
  // stretches of a batch or more (smc, J = 25, D = 80, 16 particles: a quarter skipped in
  // stretches of 15 was 3% slower than drawing every block; half skipped 5% faster; D = 800
  // with a quarter skipped in stretches of 150, 6% faster).
  const bool pays = 3 * skipped >= total || (8 * skipped >= total && used >= 64 * stretches);
  if (!pays) return {};
  lb.period = total;
  return lb;
}

CONDIFF_ROW_CLONES void propagate_rows(const Coordinates& c, int64_t dim, int64_t count,
                    const float* mu_run, const int32_t* ancestors, double noise_scale, const float* y, NormalCursor* normals,
                    uint64_t first_element, float* xi, float* z_rows, const LatentBlocks& blocks) {
  const bool draw = noise_scale > 0.0;
  if (draw) draw_run_normals(*normals, blocks, first_element, first_element + static_cast<uint64_t>(count * dim), xi);
  for (int64_t q = 0; q < count; ++q)
    move_row(c, dim, mu_run + static_cast<int64_t>(ancestors[q]) * dim, static_cast<float>(noise_scale),
             draw ? xi + q * dim : nullptr, y, z_rows + q * dim);
}

void langevin_step(const Batch& b, const Coordinates& c, const float* score, int rule, double gamma_or_r,
                   double snr_alpha, StreamKey stream, float* z, Threads threads) {
  const std::vector<Span> spans = latent_spans(c);
  for_each_row(b, c, stream, true, threads, [&](int64_t row, int64_t, const float* xi) {
    const float* g = score + row * b.dim;
    float* zr = z + row * b.dim;
    double xi_sq = 0.0, g_sq = 0.0;  // norms over the X block (MATH.md §3, SNR rule), in c.latent's order
    for (const Span& s : spans)
      for (int32_t x = s.begin; x < s.end; ++x) {
        xi_sq += static_cast<double>(xi[x]) * xi[x];
        g_sq += static_cast<double>(g[x]) * g[x];
      }
    const double delta = langevin_delta(rule, gamma_or_r, snr_alpha, xi_sq, g_sq);
    const double noise = std::sqrt(2.0 * delta);
    for (const Span& s : spans)
      for (int32_t x = s.begin; x < s.end; ++x) zr[x] = langevin_value(zr[x], delta, g[x], noise, xi[x]);
  });
}

void renoise(const Batch& b, const Coordinates& c, double alpha_ts, double sigma2_ts, const float* y_per_run,
             StreamKey stream, float* z, Threads threads) {
  const double sd = std::sqrt(sigma2_ts);
  const std::vector<Span> spans = latent_spans(c);
  for_each_row(b, c, stream, true, threads, [&](int64_t row, int64_t r, const float* xi) {
    float* zr = z + row * b.dim;
    for (const Span& s : spans)
      for (int32_t x = s.begin; x < s.end; ++x) zr[x] = renoise_value(alpha_ts, sd, zr[x], xi[x]);
    set_observed(c, y_per_run + r * c.n_observed, zr);
  });
}


int64_t first_non_finite(const float* x, int64_t count, Threads threads) {
  std::atomic<int64_t> first{count};
  parallel_for(count, threads, kElementGrain, [&](int64_t begin, int64_t end, int) {
    if (begin >= first.load()) return;  // a smaller bad index is already known
    for (int64_t b = begin; b < end; b += kFiniteBlock) note_first_non_finite(x, b, std::min(end, b + kFiniteBlock), 0, first);
  });
  return first.load() < count ? first.load() : -1;
}

void prediction_to_score(const float* z, const float* p, int64_t count, int kind, double alpha, double sigma2,
                         float* out, Threads threads) {
  const double sigma = std::sqrt(sigma2);
  parallel_for(count, threads, kElementGrain, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) out[i] = score_from_prediction(kind, z[i], p[i], alpha, sigma, sigma2);
  });
}

namespace {
// Gathers whose output is larger than this write with streaming (non-temporal) stores:
// the output would not stay in cache anyway, and a normal store first reads the line it
// writes (read-for-ownership), a third memory stream; the gather then ran at 1.4x a plain
// copy at N = 10^6, D = 64 (libc's large copies stream too). Smaller outputs stay cached
// for the step that reads them next.
constexpr int64_t kStreamBytes = int64_t{16} << 20;

// One row: streaming 16-byte stores when the target row is 16-byte aligned and a whole
// number of 16-byte pieces; else memcpy. Callers end with stream_fence(). (Normal stores
// for the partial 64-byte lines at a row's ends, streaming only whole lines, measured no
// faster here.)
inline void copy_row(float* dst, const float* src, size_t bytes, bool streaming) {
#if defined(__SSE2__)
  if (streaming && (reinterpret_cast<std::uintptr_t>(dst) & 15) == 0 && (bytes & 15) == 0) {
    char* d = reinterpret_cast<char*>(dst);
    const char* s = reinterpret_cast<const char*>(src);
    for (size_t o = 0; o < bytes; o += 16)
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + o), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + o)));
    return;
  }
#endif
  (void)streaming;
  std::memcpy(dst, src, bytes);
}

// Source rows are read in a sparse, irregular order the hardware prefetcher does not
// follow, so each row waited on memory; prefetching this many rows (or copies) ahead keeps
// several in flight. Measured at N = 10^6, D = 64 (systematic ancestors of Gaussian
// log-weights): gather 31.8 -> 23.8 ms with streaming stores; a plain copy takes 22 ms.
constexpr int64_t kAhead = 16;
inline void prefetch_row(const float* row, size_t bytes) {
  const char* p = reinterpret_cast<const char*>(row);
  for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 0);
}

// Streaming stores are weakly ordered: fence them before the worker reports its chunk done.
inline void stream_fence(bool streaming) {
#if defined(__SSE2__)
  if (streaming) _mm_sfence();
#endif
  (void)streaming;
}
}  // namespace

void gather_rows(const float* rows, int64_t dim, const int32_t* ancestors, int64_t count, float* out, Threads threads) {
  const size_t bytes = static_cast<size_t>(dim) * sizeof(float);
  const bool streaming = count * dim * static_cast<int64_t>(sizeof(float)) > kStreamBytes;
  parallel_for(count, threads, std::max<int64_t>(64, kElementGrain / std::max<int64_t>(1, dim)), [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      if (i + kAhead < end) prefetch_row(rows + static_cast<int64_t>(ancestors[i + kAhead]) * dim, bytes);
      copy_row(out + i * dim, rows + static_cast<int64_t>(ancestors[i]) * dim, bytes, streaming);
    }
    stream_fence(streaming);
  });
}

namespace {
// survivor_order, returning the bitmap of survivors (bit k set: k is an ancestor).
std::vector<uint64_t> survivor_order_bits(const int32_t* ancestors, int64_t n, int32_t* order) {
  // A bitmap of N bits (N / 8 bytes, not state-sized) of the particles seen so far.
  // Pass 1: a copy whose particle was already seen is an extra; the extras' particles are
  // packed at the front of `order`. Pass 2, from the last slot down: a survivor's slot
  // keeps it, a free slot takes the next extra from the back of the packed list. Slot k
  // reads entry f <= k before writing entry k, so the packed list is never overwritten
  // before it is read. Both passes are free of data-dependent branches: a branch on
  // "seen" mispredicted about once per particle (~5 ns at N = 10^6).
  std::vector<uint64_t> seen((n + 63) / 64, 0);
  int64_t extras = 0;
  // The current bitmap word stays in a register while consecutive ancestors fall in it
  // (they mostly do: every scheme but residual returns them sorted); a read-modify-write
  // of memory per particle was a store-to-load chain of ~6 cycles.
  int64_t at = 0;
  uint64_t word = seen[0];
  for (int64_t i = 0; i < n; ++i) {
    const int32_t k = ancestors[i];
    if ((k >> 6) != at) {
      seen[at] = word;
      at = k >> 6;
      word = seen[at];
    }
    const uint64_t bit = uint64_t{1} << (k & 63);
    const bool extra = (word & bit) != 0;
    word |= bit;
    order[extras] = k;
    extras += extra;
  }
  seen[at] = word;
  int64_t f = extras;  // free slots below k still to fill
  for (int64_t k = n - 1; k >= 0; --k) {
    const bool free_slot = ((seen[k >> 6] >> (k & 63)) & 1) == 0;
    f -= free_slot;
    // Both candidates, then a mask: the compiler made `free_slot ? order[f] : k` a branch,
    // which mispredicted on every other free slot. 0 <= f <= k, so order[f] is readable.
    const int32_t listed = order[f];
    const int32_t mask = -static_cast<int32_t>(free_slot);
    order[k] = (listed & mask) | (static_cast<int32_t>(k) & ~mask);
  }
  return seen;
}
}  // namespace

void survivor_order(const int32_t* ancestors, int64_t n, int32_t* order) { survivor_order_bits(ancestors, n, order); }

void gather_rows_in_place(float* rows, int64_t dim, const int32_t* ancestors, int64_t count, int32_t* order,
                          Threads threads) {
  const std::vector<uint64_t> alive = survivor_order_bits(ancestors, count, order);
  const size_t bytes = static_cast<size_t>(dim) * sizeof(float);
  const bool streaming = count * dim * static_cast<int64_t>(sizeof(float)) > kStreamBytes;
  const int64_t words = static_cast<int64_t>(alive.size());
  // The free bits of word w (slots past count are not free).
  auto free_bits = [&](int64_t w) {
    const uint64_t valid = (w + 1) * 64 <= count ? ~uint64_t{0} : (uint64_t{1} << (count - w * 64)) - 1;
    return ~alive[w] & valid;
  };
  // Only the free slots, found a 64-bit word at a time (a per-row test mispredicted about
  // once per copied row). Sources are survivors, which keep their rows: no chunk reads a
  // row another writes. A second cursor runs kAhead free slots ahead, prefetching sources.
  parallel_for(words, threads, std::max<int64_t>(1, kElementGrain / (64 * std::max<int64_t>(1, dim))), [&](int64_t begin, int64_t end, int) {
    int64_t aw = begin;
    uint64_t ab = free_bits(begin);
    auto prefetch_next = [&] {
      while (ab == 0 && ++aw < end) ab = free_bits(aw);
      if (ab == 0) return;
      prefetch_row(rows + static_cast<int64_t>(order[aw * 64 + __builtin_ctzll(ab)]) * dim, bytes);
      ab &= ab - 1;
    };
    for (int64_t j = 0; j < kAhead; ++j) prefetch_next();
    for (int64_t w = begin; w < end; ++w) {
      for (uint64_t bits = free_bits(w); bits != 0; bits &= bits - 1) {
        prefetch_next();
        const int64_t i = w * 64 + __builtin_ctzll(bits);
        copy_row(rows + i * dim, rows + static_cast<int64_t>(order[i]) * dim, bytes, streaming);
      }
    }
    stream_fence(streaming);
  });
}

}  // namespace condiff
