// The Gaussian-mixture score of MATH.md §7 on the device, for the per-time quantities
// the CPU prepares once per call (GaussianMixture::prepare: precisions C_j^{-1}, scaled
// means alpha m_j, log pi_j - (1/2) log det C_j). Per particle and component:
//   g_j = C_j^{-1} (z - alpha m_j),  lp_j = log_norm_j - (1/2) (z - alpha m_j) . g_j,
//   s = -sum_j softmax(lp)_j g_j,
// accumulated over j with a running maximum (the max trick of MATH.md §4, online). Float
// arithmetic with fused multiply-adds, like the CPU's AVX-512 path: the two agree to
// float32 rounding, not bit for bit (the tests' tolerance; MATH.md §6).
//
// D <= 128: a tiled kernel, 64 particles per block, the tile of z in shared memory
// (transposed), each thread 4 particles x D/16 outputs held in registers.
// D > 128: one thread per particle, accumulating in the output row.
#include <cmath>
#include <vector>

#include "context_impl.cuh"

namespace condiff {
namespace cuda {
namespace {

// One step of the running softmax over components: a component (or the running total)
// at -inf weighs nothing, rather than exp(-inf - -inf) = NaN.
__device__ inline void softmax_step(float lp, float& mx, float& keep, float& e) {
  const float m_new = fmaxf(mx, lp);
  keep = mx == -INFINITY ? 0.0f : expf(mx - m_new);
  e = lp == -INFINITY ? 0.0f : expf(lp - m_new);
  mx = m_new;
}

constexpr int kTileParticles = 64;
constexpr int kChunk = 16;  // rows of a precision matrix in shared memory at a time

template <int kDim>  // D rounded up to a multiple of 16 (32, 64 or 128)
__global__ void __launch_bounds__(kThreads) mixture_tiled(const float* z, int64_t rows, int D, int J,
                                                          const float* prec, const float* mean,
                                                          const float* log_norm, float* out) {
  constexpr int kCols = kDim / 16;  // outputs per thread and particle
  __shared__ __align__(16) float zs[kDim][kTileParticles + 4];
  __shared__ float ps[kChunk][kDim];
  __shared__ float ms[kDim];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;  // columns tx + 16 c, particles 4 ty + a
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kTileParticles;
  for (int idx = threadIdx.x; idx < kTileParticles * kDim; idx += kThreads) {
    const int p = idx / kDim, i = idx % kDim;
    zs[i][p] = (row0 + p < rows && i < D) ? z[(row0 + p) * D + i] : 0.0f;
  }
  float s[4][kCols], mx[4], total[4];
  for (int a = 0; a < 4; ++a) {
    mx[a] = -INFINITY;
    total[a] = 0.0f;
    for (int c = 0; c < kCols; ++c) s[a][c] = 0.0f;
  }
  for (int j = 0; j < J; ++j) {
    __syncthreads();
    for (int i = threadIdx.x; i < kDim; i += kThreads) ms[i] = i < D ? mean[int64_t{j} * D + i] : 0.0f;
    float g[4][kCols];
    for (int a = 0; a < 4; ++a)
      for (int c = 0; c < kCols; ++c) g[a][c] = 0.0f;
    const float* pj = prec + int64_t{j} * D * D;
    for (int i0 = 0; i0 < kDim; i0 += kChunk) {
      __syncthreads();
      for (int idx = threadIdx.x; idx < kChunk * kDim; idx += kThreads) {
        const int ii = idx / kDim, k = idx % kDim, i = i0 + ii;
        ps[ii][k] = (i < D && k < D) ? pj[int64_t{i} * D + k] : 0.0f;  // symmetric: row i = column i
      }
      __syncthreads();
#pragma unroll 4
      for (int ii = 0; ii < kChunk; ++ii) {
        const float4 zv = *reinterpret_cast<const float4*>(&zs[i0 + ii][4 * ty]);
        const float m = ms[i0 + ii];
        const float d[4] = {zv.x - m, zv.y - m, zv.z - m, zv.w - m};
#pragma unroll
        for (int c = 0; c < kCols; ++c) {
          const float pv = ps[ii][tx + 16 * c];
#pragma unroll
          for (int a = 0; a < 4; ++a) g[a][c] += pv * d[a];
        }
      }
    }
    // Quadratic form d . g over this thread's columns, then across the 16 column threads.
    float quad[4] = {0, 0, 0, 0};
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int k = tx + 16 * c;
#pragma unroll
      for (int a = 0; a < 4; ++a) quad[a] += (zs[k][4 * ty + a] - ms[k]) * g[a][c];
    }
#pragma unroll
    for (int a = 0; a < 4; ++a)
      for (int off = 8; off > 0; off >>= 1) quad[a] += __shfl_xor_sync(0xffffffffu, quad[a], off, 16);
    const float ln = log_norm[j];
#pragma unroll
    for (int a = 0; a < 4; ++a) {
      float keep, e;
      softmax_step(ln - 0.5f * quad[a], mx[a], keep, e);
      total[a] = total[a] * keep + e;
#pragma unroll
      for (int c = 0; c < kCols; ++c) s[a][c] = s[a][c] * keep + e * g[a][c];
    }
  }
#pragma unroll
  for (int a = 0; a < 4; ++a) {
    const int64_t p = row0 + 4 * ty + a;
    if (p >= rows) continue;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int k = tx + 16 * c;
      if (k < D) out[p * D + k] = -s[a][c] / total[a];
    }
  }
}

// Any D: one thread per particle; the output row holds the running sum.
__global__ void mixture_rowwise(const float* z, int64_t rows, int D, int J, bool diagonal, const float* prec,
                                const float* mean, const float* log_norm, float* out) {
  for (int64_t p = global_thread(); p < rows; p += grid_stride()) {
    const float* zp = z + p * D;
    float* op = out + p * D;
    for (int k = 0; k < D; ++k) op[k] = 0.0f;
    float mx = -INFINITY, total = 0.0f;
    for (int j = 0; j < J; ++j) {
      const float* mj = mean + int64_t{j} * D;
      // g_k = (C_j^{-1} d)_k, twice: once for the quadratic form, once to accumulate.
      auto g_at = [&](int k) {
        if (diagonal) return prec[int64_t{j} * D + k] * (zp[k] - mj[k]);
        const float* row = prec + (int64_t{j} * D + k) * D;
        float acc = 0.0f;
        for (int i = 0; i < D; ++i) acc += row[i] * (zp[i] - mj[i]);
        return acc;
      };
      float quad = 0.0f;
      for (int k = 0; k < D; ++k) quad += (zp[k] - mj[k]) * g_at(k);
      float keep, e;
      softmax_step(log_norm[j] - 0.5f * quad, mx, keep, e);
      total = total * keep + e;
      for (int k = 0; k < D; ++k) op[k] = op[k] * keep + e * g_at(k);
    }
    for (int k = 0; k < D; ++k) op[k] = -op[k] / total;
  }
}

}  // namespace

void Context::mixture_score(const MixtureStep& q, const float* z, int64_t rows, float* out) {
  if (rows == 0) return;
  const Launch l = impl_->launch();
  const int D = static_cast<int>(q.dim), J = static_cast<int>(q.components);
  const bool tiled = D <= 128;
  // The tiled kernel takes full precision matrices: a diagonal model's are expanded.
  std::vector<float> full;
  const float* prec_host = q.precision.data();
  size_t prec_count = q.precision.size();
  if (tiled && q.diagonal) {
    full.assign(static_cast<size_t>(J) * D * D, 0.0f);
    for (int j = 0; j < J; ++j)
      for (int k = 0; k < D; ++k) full[(static_cast<size_t>(j) * D + k) * D + k] = q.precision[j * D + k];
    prec_host = full.data();
    prec_count = full.size();
  }
  const float* prec = static_cast<const float*>(stage_upload(prec_host, prec_count * sizeof(float)));
  const float* mean = static_cast<const float*>(stage_upload(q.scaled_mean.data(), q.scaled_mean.size() * sizeof(float)));
  const float* log_norm = static_cast<const float*>(stage_upload(q.log_norm.data(), q.log_norm.size() * sizeof(float)));
  if (tiled) {
    const unsigned blocks = blocks_for(rows, kTileParticles);
    if (D <= 32)
      mixture_tiled<32><<<blocks, kThreads, 0, l.stream>>>(z, rows, D, J, prec, mean, log_norm, out);
    else if (D <= 64)
      mixture_tiled<64><<<blocks, kThreads, 0, l.stream>>>(z, rows, D, J, prec, mean, log_norm, out);
    else
      mixture_tiled<128><<<blocks, kThreads, 0, l.stream>>>(z, rows, D, J, prec, mean, log_norm, out);
  } else {
    mixture_rowwise<<<grid_for(rows, l.sms), kThreads, 0, l.stream>>>(z, rows, D, J, q.diagonal, prec, mean,
                                                                      log_norm, out);
  }
  check_launch("mixture_score");
}

}  // namespace cuda
}  // namespace condiff
