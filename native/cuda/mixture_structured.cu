// The Gaussian-mixture score of MATH.md §7 on the device for structured covariances (the
// isotropic, shared and diagonal paths of mixture_structure.h), from the per-time
// quantities the CPU prepares once per call (GaussianMixture::prepare_structured: the
// centre α m̄, a_j or b_j = C⁻¹ a_j, precisions, β_j); the formulas are in
// mixture_structured.h. Without this path the device would expand an identity covariance
// to J dense D x D precisions and run the dense kernel's O(J D²) per particle.
//
// One warp per particle: lane l owns the coordinates k ≡ l (mod 32), so every row access is
// coalesced; the component log densities are warp sums (shuffles), the same value in every
// lane. The responsibilities are normalised in two passes over the components (the maximum
// and the total first, then the weighted sums), which needs no accumulator per coordinate
// besides the output row itself. Float arithmetic; the sums run in another order than the
// CPU's, so the two agree to float32 rounding, not bit for bit (MATH.md §6).
#include <cmath>

#include "context_impl.cuh"

namespace condiff {
namespace cuda {
namespace {

constexpr int kWarp = 32;

__device__ inline float warp_sum(float v) {
  for (int off = kWarp / 2; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

struct StructuredArgs {
  int path;  // ScorePath
  int dim, components;
  bool diagonal_precision;
  const float* center;     // D
  const float* mean;       // J x D: a_j (isotropic), b_j (shared), p_j ⊙ a_j (diagonal)
  const float* precision;  // shared: C⁻¹ (D x D, or D); diagonal: p_j (J x D)
  const float* root_t;     // diagonal: √p_jk, D x J
  const float* root_mean_t;  // diagonal: √p_jk a_jk, D x J
  const float* inv_c;      // isotropic: J
  const float* bias;       // J: β_j
};

// log r_j up to the normaliser, for particle zr: the same in every lane. h is ‖z'‖²/2
// (isotropic) or z'·u/2 (shared), unused on the diagonal path.
__device__ inline float component_log_density(const StructuredArgs& q, const float* zr, int j, float h, int lane) {
  const int D = q.dim, J = q.components;
  float acc = 0.0f;
  if (q.path == static_cast<int>(ScorePath::kDiagonal)) {
    for (int k = lane; k < D; k += kWarp) {
      const float zc = zr[k] - q.center[k];
      const float t = q.root_t[int64_t{k} * J + j] * zc - q.root_mean_t[int64_t{k} * J + j];
      acc += t * t;
    }
    return q.bias[j] - 0.5f * warp_sum(acc);
  }
  for (int k = lane; k < D; k += kWarp) acc += q.mean[int64_t{j} * D + k] * (zr[k] - q.center[k]);
  const float e = warp_sum(acc);
  if (q.path == static_cast<int>(ScorePath::kIsotropic)) return q.bias[j] + q.inv_c[j] * (e - h);
  return q.bias[j] + (e - h);
}

__global__ void mixture_structured(StructuredArgs q, const float* z, int64_t rows, float* out) {
  const int lane = threadIdx.x % kWarp;
  const int64_t first = global_thread() / kWarp, stride = grid_stride() / kWarp;
  const int D = q.dim, J = q.components;
  const bool shared = q.path == static_cast<int>(ScorePath::kShared);
  for (int64_t p = first; p < rows; p += stride) {
    const float* zr = z + p * D;
    float* o = out + p * D;
    // Shared: u = C⁻¹ z' into the output row (C⁻¹ symmetric: lane k reads column k, coalesced).
    float h = 0.0f;
    if (shared) {
      for (int k = lane; k < D; k += kWarp) {
        float u;
        if (q.diagonal_precision) {
          u = q.precision[k] * (zr[k] - q.center[k]);
        } else {
          u = 0.0f;
          for (int i = 0; i < D; ++i) u += q.precision[int64_t{i} * D + k] * (zr[i] - q.center[i]);
        }
        o[k] = u;
        h += (zr[k] - q.center[k]) * u;
      }
    } else if (q.path == static_cast<int>(ScorePath::kIsotropic)) {
      for (int k = lane; k < D; k += kWarp) {
        const float zc = zr[k] - q.center[k];
        h += zc * zc;
      }
    }
    h = 0.5f * warp_sum(h);
    // Pass 1: the maximum and the total of exp(log r_j − max).
    float mx = -INFINITY;
    for (int j = 0; j < J; ++j) mx = fmaxf(mx, component_log_density(q, zr, j, h, lane));
    float total = 0.0f;
    for (int j = 0; j < J; ++j) {
      const float lp = component_log_density(q, zr, j, h, lane);
      total += lp == -INFINITY ? 0.0f : expf(lp - mx);
    }
    // Pass 2: s = Σ_j r_j g_j with g_j per path (mixture_structured.h).
    if (!shared)
      for (int k = lane; k < D; k += kWarp) o[k] = 0.0f;
    else
      for (int k = lane; k < D; k += kWarp) o[k] = -o[k];
    for (int j = 0; j < J; ++j) {
      const float lp = component_log_density(q, zr, j, h, lane);
      const float r = lp == -INFINITY ? 0.0f : expf(lp - mx) / total;
      for (int k = lane; k < D; k += kWarp) {
        const float zc = zr[k] - q.center[k];
        const float m = q.mean[int64_t{j} * D + k];
        if (q.path == static_cast<int>(ScorePath::kIsotropic)) {
          o[k] += r * q.inv_c[j] * (m - zc);
        } else if (shared) {
          o[k] += r * m;
        } else {
          o[k] += r * (m - q.precision[int64_t{j} * D + k] * zc);
        }
      }
    }
  }
}

}  // namespace

void Context::mixture_score_structured(const StructuredStep& q, const float* z, int64_t rows, float* out) {
  if (rows == 0) return;
  const Launch l = impl_->launch();
  auto upload = [&](const std::vector<float>& v) -> const float* {
    return v.empty() ? nullptr : static_cast<const float*>(stage_upload(v.data(), v.size() * sizeof(float)));
  };
  StructuredArgs a;
  a.path = static_cast<int>(q.path);
  a.dim = static_cast<int>(q.dim);
  a.components = static_cast<int>(q.components);
  a.diagonal_precision = q.diagonal_precision;
  a.center = upload(q.center);
  a.mean = upload(q.mean);
  a.precision = upload(q.precision);
  a.root_t = upload(q.root_t);
  a.root_mean_t = upload(q.root_mean_t);
  a.inv_c = upload(q.inv_c);
  a.bias = upload(q.bias);
  mixture_structured<<<grid_for(rows * kWarp, l.sms), kThreads, 0, l.stream>>>(a, z, rows, out);
  check_launch("mixture_score_structured");
}

}  // namespace cuda
}  // namespace condiff
