// The batched particle operations of particles.h on the device: launches and memory only;
// every formula comes from the shared headers (box_muller.h, kernels.h, weights.h,
// particle_math.h). Built with -fmad=false, so each float operation rounds as on the CPU.
//
// Layout (MATH.md §6): row r*n + k is particle k of run r; its random elements are
// k*D .. k*D + D - 1 of run r's stream (batch.h: run word run_offset + r, or the run's row
// of the batch's run-key table). Elementwise operations
// run one thread per Philox block (4 elements), so no block is computed twice.
#include "context_impl.cuh"
#include "box_muller.h"
#include "kernels.h"
#include "particle_math.h"
#include "weights.h"

namespace condiff {
namespace cuda {
namespace {

__global__ void normals_kernel(StreamKey s, uint64_t first, int64_t count, float* out) {
  const uint64_t first_block = first / 4, last_block = (first + count - 1) / 4;
  for (int64_t g = global_thread(); g <= static_cast<int64_t>(last_block - first_block); g += grid_stride()) {
    const uint64_t block = first_block + g;
    float xi[4];
    normal_block(s, block, xi);
    for (int l = 0; l < 4; ++l) {
      const uint64_t e = 4 * block + l;
      if (e >= first && e < first + count) out[e - first] = xi[l];
    }
  }
}

enum class Move { kInit, kPropagate, kPropagateMean, kRenoise };

// One thread per Philox block of a run's elements; element e is coordinate e % D of
// particle e / D. Latent coordinates get the move, observed ones the run's context y.
// The new value of one coordinate: `in` is z (renoise) or mu[ancestor] (propagate).
template <Move M>
__device__ inline float moved(int32_t slot, const float* y, float in, float xi, float scale, double alpha_ts,
                              double sd_ts) {
  if (slot < 0) return y[-1 - slot];
  if (M == Move::kInit) return xi;
  if (M == Move::kRenoise) return renoise_value(alpha_ts, sd_ts, in, xi);
  if (M == Move::kPropagate) return propagate_value(in, scale, xi);
  return in;
}

template <Move M>
__global__ void move_kernel(Batch b, DeviceCoordinates c, const float* src, const int32_t* ancestors, float scale,
                            double alpha_ts, double sd_ts, const float* y_per_run, StreamKey s, float* z) {
  const int64_t D = b.dim, per_run = b.particles * D, blocks_per_run = (per_run + 3) / 4;
  const bool whole = D % 4 == 0;  // each block's four elements lie in one row, 16-byte aligned
  for (int64_t g = global_thread(); g < b.runs * blocks_per_run; g += grid_stride()) {
    const int64_t r = g / blocks_per_run, block = g % blocks_per_run;
    float xi[4] = {0, 0, 0, 0};
    if (M != Move::kPropagateMean) {
      normal_block(stream_for_run(s, b, r), static_cast<uint64_t>(block), xi);
    }
    const float* y = y_per_run + r * c.n_observed;
    if (whole) {
      const int64_t e = 4 * block, k = e / D, x = e % D, row = r * b.particles + k;
      const int64_t a = ancestors ? ancestors[row] : k, from = r * b.particles + a;
      float4 in = make_float4(0, 0, 0, 0);
      if (M == Move::kRenoise) in = *reinterpret_cast<const float4*>(z + row * D + x);
      if (M == Move::kPropagate || M == Move::kPropagateMean)
        in = (a >= 0 && a < b.particles) ? *reinterpret_cast<const float4*>(src + from * D + x)
                                         : make_float4(NAN, NAN, NAN, NAN);
      const int4 slot = *reinterpret_cast<const int4*>(c.slot + x);
      float4 v;
      v.x = moved<M>(slot.x, y, in.x, xi[0], scale, alpha_ts, sd_ts);
      v.y = moved<M>(slot.y, y, in.y, xi[1], scale, alpha_ts, sd_ts);
      v.z = moved<M>(slot.z, y, in.z, xi[2], scale, alpha_ts, sd_ts);
      v.w = moved<M>(slot.w, y, in.w, xi[3], scale, alpha_ts, sd_ts);
      *reinterpret_cast<float4*>(z + row * D + x) = v;
      continue;
    }
    for (int l = 0; l < 4; ++l) {
      const int64_t e = 4 * block + l;
      if (e >= per_run) break;
      const int64_t k = e / D, x = e % D, row = r * b.particles + k;
      const int64_t a = ancestors ? ancestors[row] : k, from = r * b.particles + a;
      const bool valid = a >= 0 && a < b.particles;
      const float in = M == Move::kRenoise ? z[row * D + x] : M == Move::kInit ? 0.0f : valid ? src[from * D + x] : NAN;
      z[row * D + x] = moved<M>(c.slot[x], y, in, xi[l], scale, alpha_ts, sd_ts);
    }
  }
}

__global__ void context_path_kernel(const float* y0, int64_t d_obs, int64_t runs, uint32_t run_offset, int64_t steps,
                                    const double* alpha_ts, const double* sigma2_ts, StreamKey s, float* path,
                                    const uint32_t* run_keys) {
  const int64_t g = global_thread();
  if (g >= runs * d_obs) return;
  const int64_t r = g / d_obs, j = g % d_obs, stride = runs * d_obs;
  StreamKey sr = stream_for_run(s, run_keys, run_offset, r);
  float* p = path + r * d_obs + j;
  p[0] = y0[j];
  for (int64_t i = 1; i <= steps; ++i) {
    sr.step = static_cast<uint32_t>(i);
    float xi[4];
    normal_block(sr, static_cast<uint64_t>(j / 4), xi);
    p[i * stride] = context_step(alpha_ts[i - 1], sqrt(sigma2_ts[i - 1]), p[(i - 1) * stride], xi[j % 4]);
  }
}

__global__ void kernel_mean_kernel(const float* z, const float* score, int64_t count, float a, float b, float* mu) {
  for (int64_t i = global_thread(); i < count; i += grid_stride()) kernel_mean(z, score, a, b, mu, i, i + 1);
}

__global__ void y_log_weights_kernel(Batch b, const int32_t* observed, int64_t n_observed, const float* mu,
                                     const float* y_per_run, double v, double log_norm, double* out) {
  for (int64_t row = global_thread(); row < b.runs * b.particles; row += grid_stride()) {
    const int64_t r = row / b.particles;
    out[row] = gaussian_y_log_weight(mu + row * b.dim, observed, n_observed, y_per_run + r * n_observed, v, log_norm);
  }
}

// The normal of element e of a stream, reusing the last Philox block a thread computed.
struct NormalCache {
  StreamKey s;
  uint64_t block = ~uint64_t{0};
  float xi[4];
  __device__ float at(uint64_t e) {
    if (e / 4 != block) {
      block = e / 4;
      normal_block(s, block, xi);
    }
    return xi[e % 4];
  }
};

// One thread per particle: the step size needs norms over the particle's latent block.
__global__ void langevin_kernel(Batch b, const int32_t* latent, int64_t n_latent, const float* score, int rule,
                                double gamma_or_r, double snr_alpha, StreamKey s, float* z) {
  const int64_t D = b.dim;
  for (int64_t row = global_thread(); row < b.runs * b.particles; row += grid_stride()) {
    const int64_t r = row / b.particles, k = row % b.particles;
    NormalCache normals{stream_for_run(s, b, r)};
    const uint64_t base = static_cast<uint64_t>(k * D);
    const float* g = score + row * D;
    float* zr = z + row * D;
    double xi_sq = 0.0, g_sq = 0.0;
    for (int64_t j = 0; j < n_latent; ++j) {
      const int32_t x = latent[j];
      const float xi = normals.at(base + x);
      xi_sq += static_cast<double>(xi) * xi;
      g_sq += static_cast<double>(g[x]) * g[x];
    }
    const double delta = langevin_delta(rule, gamma_or_r, snr_alpha, xi_sq, g_sq);
    const double noise = sqrt(2.0 * delta);
    for (int64_t j = 0; j < n_latent; ++j) {
      const int32_t x = latent[j];
      zr[x] = langevin_value(zr[x], delta, g[x], noise, normals.at(base + x));
    }
  }
}

// Smallest index of a non-finite value: each thread's first, then atomicMin (order-free).
__global__ void first_non_finite_kernel(const float* x, int64_t count, unsigned long long* result) {
  for (int64_t i = global_thread(); i < count; i += grid_stride()) {
    if (!isfinite(x[i])) {
      atomicMin(result, static_cast<unsigned long long>(i));
      return;
    }
  }
}

__global__ void prediction_kernel(const float* z, const float* p, int64_t count, int kind, double alpha, double sigma,
                                  double sigma2, float* out) {
  for (int64_t i = global_thread(); i < count; i += grid_stride())
    out[i] = score_from_prediction(kind, z[i], p[i], alpha, sigma, sigma2);
}

// Piece e of the gathered rows (pieces of `width` per row); NaN for an ancestor out of range.
template <typename T>
__device__ inline T gathered(const T* rows, int64_t source_rows, int64_t width, const int32_t* ancestors, int64_t e,
                             T nan) {
  const int64_t a = ancestors[e / width];
  return (a >= 0 && a < source_rows) ? rows[a * width + e % width] : nan;
}

// out[i] = rows[ancestors[i]] in 16-byte pieces (rows of whole float4s). Each thread keeps
// one piece of the row (no division in the loop) and walks rows; a warp reads and writes
// contiguous pieces of neighbouring rows. Needs at least dim4 threads in the grid.
__global__ void gather4_kernel(const float4* rows, int64_t source_rows, int64_t dim4, const int32_t* ancestors,
                               int64_t count, float4* out) {
  const int64_t rows_per_pass = grid_stride() / dim4, t = global_thread();
  if (t >= rows_per_pass * dim4) return;
  const int64_t piece = t % dim4;
  const float4 nan = make_float4(NAN, NAN, NAN, NAN);
  auto load = [&](int64_t row) {
    const int64_t a = ancestors[row];
    return (a >= 0 && a < source_rows) ? rows[a * dim4 + piece] : nan;
  };
  int64_t row = t / dim4;
  // Four rows in flight per thread before any store: latency hiding for random rows.
  for (; row + 3 * rows_per_pass < count; row += 4 * rows_per_pass) {
    float4 v[4];
    for (int u = 0; u < 4; ++u) v[u] = load(row + u * rows_per_pass);
    for (int u = 0; u < 4; ++u) out[(row + u * rows_per_pass) * dim4 + piece] = v[u];
  }
  for (; row < count; row += rows_per_pass) out[row * dim4 + piece] = load(row);
}

__global__ void gather_kernel(const float* rows, int64_t source_rows, int64_t dim, const int32_t* ancestors,
                              int64_t count, float* out) {
  for (int64_t i = global_thread(); i < count * dim; i += grid_stride())
    out[i] = gathered(rows, source_rows, dim, ancestors, i, static_cast<float>(NAN));
}

__global__ void check_indices_kernel(const int32_t* idx, int64_t count, int64_t limit, unsigned long long* first) {
  for (int64_t i = global_thread(); i < count; i += grid_stride()) {
    if (idx[i] < 0 || idx[i] >= limit) {
      atomicMin(first, static_cast<unsigned long long>(i));
      return;
    }
  }
}

__global__ void index_value_kernel(const int32_t* idx, int64_t* report) {
  if (report[0] >= 0) report[1] = idx[report[0]];
}

}  // namespace

void Context::normals(const StreamKey& s, uint64_t first, int64_t count, float* out) {
  if (count <= 0) return;
  const Launch l = impl_->launch();
  const int64_t blocks = static_cast<int64_t>((first + count - 1) / 4 - first / 4 + 1);
  normals_kernel<<<grid_for(blocks, l.sms), kThreads, 0, l.stream>>>(s, first, count, out);
  check_launch("normals");
}

void Context::init_state(const Batch& b, const DeviceCoordinates& c, const float* y_per_run, const StreamKey& s,
                         float* z) {
  const Launch l = impl_->launch();
  const int64_t n = b.runs * ((b.particles * b.dim + 3) / 4);
  move_kernel<Move::kInit><<<grid_for(n, l.sms), kThreads, 0, l.stream>>>(b, c, nullptr, nullptr, 0.0f, 0.0, 0.0,
                                                                           y_per_run, s, z);
  check_launch("init_state");
}

void Context::forward_context_path(const float* y0, int64_t d_obs, int64_t runs, uint32_t run_offset, int64_t steps,
                                   const double* alpha_ts, const double* sigma2_ts, const StreamKey& s,
                                   float* path, const uint32_t* run_keys) {
  if (d_obs == 0) return;
  const Launch l = impl_->launch();
  context_path_kernel<<<blocks_for(runs * d_obs), kThreads, 0, l.stream>>>(y0, d_obs, runs, run_offset, steps,
                                                                            alpha_ts, sigma2_ts, s, path, run_keys);
  check_launch("forward_context_path");
}

void Context::kernel_mean(const float* z, const float* score, int64_t count, double a, double b, float* mu) {
  const Launch l = impl_->launch();
  kernel_mean_kernel<<<grid_for(count, l.sms), kThreads, 0, l.stream>>>(z, score, count, static_cast<float>(a),
                                                                        static_cast<float>(b), mu);
  check_launch("kernel_mean");
}

void Context::gaussian_y_log_weights(const Batch& b, const int32_t* observed, int64_t n_observed, const float* mu,
                                     const float* y_per_run, double v, double log_norm, double* out) {
  const Launch l = impl_->launch();
  y_log_weights_kernel<<<grid_for(b.runs * b.particles, l.sms), kThreads, 0, l.stream>>>(
      b, observed, n_observed, mu, y_per_run, v, log_norm, out);
  check_launch("gaussian_y_log_weights");
}

void Context::propagate(const Batch& b, const DeviceCoordinates& c, const float* mu, const int32_t* ancestors,
                        double noise_scale, const float* y_per_run, const StreamKey& s, float* z_out) {
  const Launch l = impl_->launch();
  const int64_t n = b.runs * ((b.particles * b.dim + 3) / 4);
  if (noise_scale > 0.0) {
    move_kernel<Move::kPropagate><<<grid_for(n, l.sms), kThreads, 0, l.stream>>>(
        b, c, mu, ancestors, static_cast<float>(noise_scale), 0.0, 0.0, y_per_run, s, z_out);
  } else {
    move_kernel<Move::kPropagateMean><<<grid_for(n, l.sms), kThreads, 0, l.stream>>>(
        b, c, mu, ancestors, 0.0f, 0.0, 0.0, y_per_run, s, z_out);
  }
  check_launch("propagate");
}

void Context::langevin_step(const Batch& b, const DeviceCoordinates& c, const float* score, int rule,
                            double gamma_or_r, double snr_alpha, const StreamKey& s, float* z) {
  const Launch l = impl_->launch();
  langevin_kernel<<<grid_for(b.runs * b.particles, l.sms), kThreads, 0, l.stream>>>(
      b, c.latent, c.n_latent, score, rule, gamma_or_r, snr_alpha, s, z);
  check_launch("langevin_step");
}

void Context::renoise(const Batch& b, const DeviceCoordinates& c, double alpha_ts, double sigma2_ts,
                      const float* y_per_run, const StreamKey& s, float* z) {
  const Launch l = impl_->launch();
  const int64_t n = b.runs * ((b.particles * b.dim + 3) / 4);
  move_kernel<Move::kRenoise><<<grid_for(n, l.sms), kThreads, 0, l.stream>>>(
      b, c, nullptr, nullptr, 0.0f, alpha_ts, std::sqrt(sigma2_ts), y_per_run, s, z);
  check_launch("renoise");
}

void Context::first_non_finite(const float* x, int64_t count, int64_t* result) {
  const Launch l = impl_->launch();
  fill_bytes(result, 0xFF, sizeof(int64_t));  // -1: none, and the largest for atomicMin
  if (count == 0) return;
  first_non_finite_kernel<<<grid_for(count, l.sms), kThreads, 0, l.stream>>>(
      x, count, reinterpret_cast<unsigned long long*>(result));
  check_launch("first_non_finite");
}

void Context::prediction_to_score(const float* z, const float* prediction, int64_t count, int kind, double alpha,
                                  double sigma2, float* out) {
  const Launch l = impl_->launch();
  prediction_kernel<<<grid_for(count, l.sms), kThreads, 0, l.stream>>>(z, prediction, count, kind, alpha,
                                                                       std::sqrt(sigma2), sigma2, out);
  check_launch("prediction_to_score");
}

void Context::gather_rows(const float* rows, int64_t source_rows, int64_t dim, const int32_t* ancestors,
                          int64_t count, float* out) {
  if (count == 0) return;
  const Launch l = impl_->launch();
  const unsigned blocks = grid_for(count * dim / 4, l.sms);
  const bool aligned = dim % 4 == 0 && reinterpret_cast<uintptr_t>(rows) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(out) % 16 == 0 && int64_t{blocks} * kThreads >= dim / 4;
  if (aligned) {
    gather4_kernel<<<blocks, kThreads, 0, l.stream>>>(
        reinterpret_cast<const float4*>(rows), source_rows, dim / 4, ancestors, count,
        reinterpret_cast<float4*>(out));
  } else {
    gather_kernel<<<grid_for(count * dim, l.sms), kThreads, 0, l.stream>>>(rows, source_rows, dim, ancestors, count,
                                                                           out);
  }
  check_launch("gather_rows");
}

void Context::check_indices(const int32_t* idx, int64_t count, int64_t limit, int64_t* report) {
  const Launch l = impl_->launch();
  fill_bytes(report, 0xFF, 2 * sizeof(int64_t));  // -1: none
  if (count == 0) return;
  check_indices_kernel<<<grid_for(count, l.sms), kThreads, 0, l.stream>>>(
      idx, count, limit, reinterpret_cast<unsigned long long*>(report));
  index_value_kernel<<<1, 1, 0, l.stream>>>(idx, report);
  check_launch("check_indices");
}

}  // namespace cuda
}  // namespace condiff
