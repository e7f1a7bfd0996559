#include "mixture_vjp.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "parallel.h"

namespace condiff {

namespace {

// C_j⁻¹ x for component j: a dense row-major D x D precision or a diagonal one.
void apply_precision(const MixtureStep& q, int64_t j, const double* x, double* y) {
  const int64_t D = q.dim;
  if (q.diagonal) {
    const float* p = q.precision.data() + j * D;
    for (int64_t k = 0; k < D; ++k) y[k] = p[k] * x[k];
    return;
  }
  const float* p = q.precision.data() + j * D * D;
  for (int64_t a = 0; a < D; ++a) {
    double acc = 0;
    for (int64_t b = 0; b < D; ++b) acc += static_cast<double>(p[a * D + b]) * x[b];
    y[a] = acc;
  }
}

}  // namespace

int64_t mixture_vjp(const MixtureStep& q, bool shared, double alpha, double sigma2, const float* z, const float* u,
                    int64_t rows, float* out, Threads threads) {
  const int64_t D = q.dim, J = q.components;
  // The shared path pays off only for dense precisions (a diagonal one is O(D) per product).
  const bool one = shared && !q.diagonal;
  // b_j = C⁻¹ α m_j, once per call.
  std::vector<double> b(one ? J * D : 0);
  if (one) {
    std::vector<double> m(D);
    for (int64_t j = 0; j < J; ++j) {
      for (int64_t k = 0; k < D; ++k) m[k] = q.scaled_mean[j * D + k];
      apply_precision(q, 0, m.data(), b.data() + j * D);
    }
  }
  // Precision products per row: two per component, or two in all when shared.
  const int64_t per_row = one ? 2 * D * D + 4 * J * D : 2 * J * (q.diagonal ? D : D * D);
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, per_row));
  std::atomic<int64_t> first_bad{rows * D};
  parallel_for(rows, threads, grain, [&](int64_t begin, int64_t end, int) {
    std::vector<double> d(D), uu(D), g(J * D), cu(D), s(D), acc(D), lp(J), zz(D), cz(D);
    for (int64_t r = begin; r < end; ++r) {
      const float* zr = z + r * D;
      const float* ur = u + r * D;
      for (int64_t k = 0; k < D; ++k) uu[k] = ur[k];
      if (one) {
        for (int64_t k = 0; k < D; ++k) zz[k] = zr[k];
        apply_precision(q, 0, zz.data(), cz.data());
        apply_precision(q, 0, uu.data(), cu.data());
      }
      double mx = -INFINITY;
      for (int64_t j = 0; j < J; ++j) {
        const float* m = q.scaled_mean.data() + j * D;
        for (int64_t k = 0; k < D; ++k) d[k] = static_cast<double>(zr[k]) - m[k];
        double* gj = g.data() + j * D;
        if (one) {
          for (int64_t k = 0; k < D; ++k) gj[k] = cz[k] - b[j * D + k];
        } else {
          apply_precision(q, j, d.data(), gj);  // C_j⁻¹ d, negated below
        }
        double quad = 0;
        for (int64_t k = 0; k < D; ++k) {
          quad += d[k] * gj[k];
          gj[k] = -gj[k];
        }
        lp[j] = q.log_norm[j] - 0.5 * quad;
        mx = std::max(mx, lp[j]);
      }
      // Responsibilities with the max trick (docs/MATH.md §4).
      double total = 0;
      for (int64_t j = 0; j < J; ++j) total += (lp[j] = lp[j] == -INFINITY ? 0 : std::exp(lp[j] - mx));
      std::fill(s.begin(), s.end(), 0.0);
      for (int64_t j = 0; j < J; ++j) {
        const double rj = lp[j] / total;
        for (int64_t k = 0; k < D; ++k) s[k] += rj * g[j * D + k];
      }
      double su = 0;
      for (int64_t k = 0; k < D; ++k) su += s[k] * uu[k];
      for (int64_t k = 0; k < D; ++k) acc[k] = -s[k] * su;
      for (int64_t j = 0; j < J; ++j) {
        const double rj = lp[j] / total;
        if (rj == 0) continue;
        const double* gj = g.data() + j * D;
        double gu = 0;
        for (int64_t k = 0; k < D; ++k) gu += gj[k] * uu[k];
        if (!one) apply_precision(q, j, uu.data(), cu.data());
        for (int64_t k = 0; k < D; ++k) acc[k] += rj * (gj[k] * gu - cu[k]);
      }
      float* o = out + r * D;
      for (int64_t k = 0; k < D; ++k) {
        o[k] = static_cast<float>((uu[k] + sigma2 * acc[k]) / alpha);
        if (!std::isfinite(o[k])) {
          int64_t cur = first_bad.load();
          const int64_t idx = r * D + k;
          while (idx < cur && !first_bad.compare_exchange_weak(cur, idx)) {
          }
        }
      }
    }
  });
  return first_bad.load() < rows * D ? first_bad.load() : -1;
}

}  // namespace condiff
