// MATH.md §7. Score: with C_j = alpha^2 Sigma_j + sigma^2 I = U_j diag(alpha^2 lambda + sigma^2) U_j^T,
//   s_t(z) = sum_j r_j(z) (-C_j^{-1} (z - alpha m_j)),  r_j ∝ pi_j N(z; alpha m_j, C_j).
#include "mixture.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "finite.h"
#include "flush_subnormals.h"
#include "format.h"
#include "linalg.h"
#include "mixture_score.h"
#include "parallel.h"

namespace condiff {

std::unique_ptr<GaussianMixture> GaussianMixture::create(int64_t d, int64_t jn, const double* weights,
                                                         const double* means, const double* cov, bool diagonal,
                                                         std::string* error) {
  std::unique_ptr<GaussianMixture> m(new GaussianMixture());
  m->dim_ = d;
  m->components_ = jn;
  m->diagonal_ = diagonal;
  double wsum = 0.0;
  for (int64_t j = 0; j < jn; ++j) {
    if (!(weights[j] > 0.0) || !std::isfinite(weights[j])) {
      *error = "weights[" + std::to_string(j) + "] must be a positive finite number, got " + format_number(weights[j]);
      return nullptr;
    }
    wsum += weights[j];
  }
  m->log_weights_.resize(jn);
  for (int64_t j = 0; j < jn; ++j) m->log_weights_[j] = std::log(weights[j] / wsum);
  m->means_.assign(means, means + jn * d);
  for (int64_t i = 0; i < jn * d; ++i)
    if (!std::isfinite(means[i])) {
      *error = "means[" + std::to_string(i / d) + "][" + std::to_string(i % d) + "] must be finite";
      return nullptr;
    }
  m->lambda_.resize(jn * d);
  if (diagonal) {
    for (int64_t i = 0; i < jn * d; ++i) {
      if (!(cov[i] > 0.0) || !std::isfinite(cov[i])) {
        *error = "variances[" + std::to_string(i / d) + "][" + std::to_string(i % d) +
                 "] must be positive and finite (a positive definite covariance), got " + format_number(cov[i]);
        return nullptr;
      }
      m->lambda_[i] = cov[i];
    }
    m->finish(cov);
    return m;
  }
  m->covariance_.assign(cov, cov + jn * d * d);
  m->u_.resize(jn * d * d);
  std::vector<double> lam, u;
  for (int64_t j = 0; j < jn; ++j) {
    const double* c = cov + j * d * d;
    double scale = 0.0;
    for (int64_t i = 0; i < d * d; ++i) {
      if (!std::isfinite(c[i])) {
        *error = "covariances[" + std::to_string(j) + "] must be finite";
        return nullptr;
      }
      scale = std::max(scale, std::fabs(c[i]));
    }
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = a + 1; b < d; ++b)
        if (std::fabs(c[a * d + b] - c[b * d + a]) > 1e-9 * std::max(1.0, scale)) {
          *error = "covariances[" + std::to_string(j) + "] must be symmetric, got entry [" + std::to_string(a) + "][" + std::to_string(b) +
                   "] = " + format_number(c[a * d + b]) + " but [" + std::to_string(b) + "][" + std::to_string(a) +
                   "] = " + format_number(c[b * d + a]);
          return nullptr;
        }
    if (!symmetric_eigen(c, d, lam, u)) {
      *error = "covariances[" + std::to_string(j) + "]: eigendecomposition did not converge";
      return nullptr;
    }
    const double lmax = *std::max_element(lam.begin(), lam.end());
    const double lmin = *std::min_element(lam.begin(), lam.end());
    // Numerically singular counts as not positive definite (D * machine epsilon relative).
    if (!(lmin > static_cast<double>(d) * 2.220446049250313e-16 * std::max(lmax, 0.0))) {
      *error = "covariances[" + std::to_string(j) + "] must be positive definite, got smallest eigenvalue " +
               format_number(lmin);
      return nullptr;
    }
    std::copy(lam.begin(), lam.end(), m->lambda_.begin() + j * d);
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = 0; b < d; ++b) {
        m->u_[j * d * d + a * d + b] = u[a * d + b];
      }
  }
  m->finish(cov);
  return m;
}

void GaussianMixture::finish(const double* cov) {
  const int64_t d = dim_, jn = components_;
  structure_ = detect_structure(d, jn, cov, diagonal_);
  path_ = score_path(structure_);
  center_.assign(d, 0.0);
  for (int64_t j = 0; j < jn; ++j)
    for (int64_t k = 0; k < d; ++k) center_[k] += std::exp(log_weights_[j]) * means_[j * d + k];
  if (structure_.form == CovarianceForm::kDense) return;
  variances_.resize(jn * d);
  for (int64_t j = 0; j < jn; ++j)
    for (int64_t k = 0; k < d; ++k) variances_[j * d + k] = diagonal_ ? cov[j * d + k] : cov[(j * d + k) * d + k];
}

int64_t GaussianMixture::multiply_adds_per_row(ScoreKernel kernel) const {
  if (kernel == ScoreKernel::kGeneral) return components_ * dim_ * (diagonal_ ? 1 : dim_);
  return condiff::multiply_adds_per_row(path_, dim_, components_, structure_.form != CovarianceForm::kDense);
}

StructuredStep GaussianMixture::prepare_structured(double alpha, double sigma2, Threads threads) const {
  const int64_t d = dim_, jn = components_;
  StructuredStep q;
  q.path = path_;
  q.dim = d;
  q.components = jn;
  q.center.resize(d);
  for (int64_t k = 0; k < d; ++k) q.center[k] = static_cast<float>(alpha * center_[k]);
  // a_j = alpha (m_j - centre), in float64 until each quantity below is rounded once.
  std::vector<double> a(jn * d);
  for (int64_t j = 0; j < jn; ++j)
    for (int64_t k = 0; k < d; ++k) a[j * d + k] = alpha * (means_[j * d + k] - center_[k]);
  q.mean.resize(jn * d);
  q.mean_t.resize(d * jn);
  q.bias.resize(jn);
  auto set_mean = [&](int64_t j, int64_t k, double v) {
    q.mean[j * d + k] = q.mean_t[k * jn + j] = static_cast<float>(v);
  };
  if (path_ == ScorePath::kIsotropic) {
    // C_j = c_j I with c_j = alpha^2 s_j + sigma^2, s_j the mean of Sigma_j's variances.
    q.inv_c.resize(jn);
    q.row_combine = d >= kRowCombineMinDim;
    for (int64_t j = 0; j < jn; ++j) {
      double s = 0.0, norm2 = 0.0;
      for (int64_t k = 0; k < d; ++k) {
        s += variances_[j * d + k];
        norm2 += a[j * d + k] * a[j * d + k];
        set_mean(j, k, a[j * d + k]);
      }
      const double c = alpha * alpha * (s / static_cast<double>(d)) + sigma2;
      q.inv_c[j] = static_cast<float>(1.0 / c);
      q.bias[j] = static_cast<float>(log_weights_[j] - 0.5 * static_cast<double>(d) * std::log(c) - 0.5 * norm2 / c);
    }
    return q;
  }
  if (path_ == ScorePath::kShared) {
    // One C = alpha^2 Sigma_0 + sigma^2 I for every component (the rule compares them to
    // component 0): C^{-1} = U diag(1/c) U^T from component 0's eigendecomposition.
    q.diagonal_precision = structure_.form != CovarianceForm::kDense;
    q.row_combine = q.diagonal_precision && d >= kRowCombineMinDim;
    std::vector<double> prec(q.diagonal_precision ? d : d * d);
    double logdet = 0.0;
    if (q.diagonal_precision) {
      for (int64_t k = 0; k < d; ++k) {
        const double c = alpha * alpha * variances_[k] + sigma2;
        prec[k] = 1.0 / c;
        logdet += std::log(c);
      }
    } else {
      std::vector<double> inv_c(d);
      for (int64_t k = 0; k < d; ++k) {
        const double c = alpha * alpha * lambda_[k] + sigma2;
        inv_c[k] = 1.0 / c;
        logdet += std::log(c);
      }
      // D^3 / 2 multiply-adds per call, split by rows; row r writes entries (r, c >= r) and
      // their mirror images, each a sum in a fixed order whatever the threads.
      parallel_for(d, threads, std::max<int64_t>(1, (int64_t{1} << 17) / (d * d)), [&](int64_t begin, int64_t end, int) {
        for (int64_t r = begin; r < end; ++r)
          for (int64_t col = r; col < d; ++col) {
            double acc = 0.0;
            for (int64_t k = 0; k < d; ++k) acc += u_[r * d + k] * inv_c[k] * u_[col * d + k];
            prec[r * d + col] = prec[col * d + r] = acc;
          }
      });
    }
    q.precision.assign(prec.begin(), prec.end());
    std::vector<double> b(d);
    for (int64_t j = 0; j < jn; ++j) {
      double ab = 0.0;
      for (int64_t k = 0; k < d; ++k) {
        if (q.diagonal_precision) {
          b[k] = prec[k] * a[j * d + k];
        } else {
          double acc = 0.0;
          for (int64_t i = 0; i < d; ++i) acc += prec[k * d + i] * a[j * d + i];
          b[k] = acc;
        }
        ab += a[j * d + k] * b[k];
        set_mean(j, k, b[k]);
      }
      q.bias[j] = static_cast<float>(log_weights_[j] - 0.5 * logdet - 0.5 * ab);
    }
    return q;
  }
  // Diagonal: p_jk = 1 / (alpha^2 v_jk + sigma^2).
  q.row_combine = d >= kRowCombineMinDim;
  q.precision.resize(jn * d);
  q.root_t.resize(d * jn);
  q.root_mean_t.resize(d * jn);
  for (int64_t j = 0; j < jn; ++j) {
    double logdet = 0.0;
    for (int64_t k = 0; k < d; ++k) {
      const double c = alpha * alpha * variances_[j * d + k] + sigma2;
      const double p = 1.0 / c, root = std::sqrt(p);
      logdet += std::log(c);
      q.precision[j * d + k] = static_cast<float>(p);
      set_mean(j, k, p * a[j * d + k]);
      q.root_t[k * jn + j] = static_cast<float>(root);
      q.root_mean_t[k * jn + j] = static_cast<float>(root * a[j * d + k]);
    }
    q.bias[j] = static_cast<float>(log_weights_[j] - 0.5 * logdet);
  }
  return q;
}

MixtureStep GaussianMixture::prepare(double alpha, double sigma2) const {
  const int64_t d = dim_, jn = components_;
  MixtureStep q;
  q.dim = d;
  q.components = jn;
  q.diagonal = diagonal_;
  q.scaled_mean.resize(jn * d);
  q.log_norm.resize(jn);
  q.precision.resize(diagonal_ ? jn * d : jn * d * d);
  std::vector<double> inv_c(d);
  for (int64_t j = 0; j < jn; ++j) {
    double logdet = 0.0;
    for (int64_t k = 0; k < d; ++k) {
      const double c = alpha * alpha * lambda_[j * d + k] + sigma2;  // C_j's eigenvalues (MATH.md §7)
      inv_c[k] = 1.0 / c;
      logdet += std::log(c);
    }
    q.log_norm[j] = static_cast<float>(log_weights_[j] - 0.5 * logdet);
    for (int64_t i = 0; i < d; ++i) q.scaled_mean[j * d + i] = static_cast<float>(alpha * means_[j * d + i]);
    if (diagonal_) {
      for (int64_t k = 0; k < d; ++k) q.precision[j * d + k] = static_cast<float>(inv_c[k]);
      continue;
    }
    // C_j^{-1} = U diag(1/c) U^T, in float64, rounded once.
    const double* u = u_.data() + j * d * d;
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = a; b < d; ++b) {
        double s = 0.0;
        for (int64_t k = 0; k < d; ++k) s += u[a * d + k] * inv_c[k] * u[b * d + k];
        q.precision[j * d * d + a * d + b] = q.precision[j * d * d + b * d + a] = static_cast<float>(s);
      }
  }
  return q;
}

PreparedScore GaussianMixture::prepare_score(double alpha, double sigma2, Threads threads, ScoreKernel kernel) const {
  PreparedScore p;
  p.structured = path_ != ScorePath::kDense && kernel == ScoreKernel::kStructured;
  if (p.structured) {
    p.structured_step = prepare_structured(alpha, sigma2, threads);
    p.scratch_floats = 2 * structured_block_scratch(p.structured_step) + kScoreBlock;  // a pair of blocks
  } else {
    p.general = prepare(alpha, sigma2);
    p.scratch_floats = score_block_scratch(p.general) + kScoreBlock;
  }
  return p;
}

int64_t GaussianMixture::score_rows(const PreparedScore& p, const float* z, int64_t rows, float* out,
                                    float* scratch) const {
  // 64-byte aligned: every scratch access is a whole 16-float vector, and a misaligned
  // one splits a cache line (measured: 1.6x slower on Zen 4 with malloc's 16-byte alignment).
  float* aligned = align_floats(scratch);
  // Far components' responsibilities are subnormal; flushed, they cost nothing (MATH.md §7).
  const FlushSubnormals flush;
  // The structured paths take two blocks at a time (score_pair_structured).
  const int64_t step = p.structured ? 2 * kScoreBlock : kScoreBlock;
  for (int64_t r0 = 0; r0 < rows; r0 += step) {
    const int64_t n = std::min<int64_t>(step, rows - r0);
    float* o = out + r0 * dim_;
    // Whether an output may not be finite: the structured kernels say so as they store,
    // the general one's output is scanned.
    bool check = true;
    if (!p.structured)
      score_block(p.general, z + r0 * dim_, n, o, aligned);
    else if (n > kScoreBlock)
      check = score_pair_structured(p.structured_step, z + r0 * dim_, n, o, aligned);
    else
      check = score_block_structured(p.structured_step, z + r0 * dim_, n, o, aligned);
    // The first non-finite output, found per block while it is in L1: a caller's separate
    // pass over the whole score cost a pass over memory and a call per step.
    const int64_t bad = check ? first_non_finite(o, n * dim_) : -1;
    if (bad >= 0) return r0 * dim_ + bad;
  }
  return -1;
}

int64_t GaussianMixture::score(const float* z, int64_t rows, double alpha, double sigma2, float* out,
                               Threads threads, ScoreKernel kernel) const {
  const PreparedScore p = prepare_score(alpha, sigma2, threads, kernel);
  const int64_t blocks = (rows + kScoreBlock - 1) / kScoreBlock;
  // ~2^16 multiply-adds per worker at least.
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / (kScoreBlock * multiply_adds_per_row(kernel)));
  std::atomic<int64_t> first_bad{rows * dim_};
  parallel_for(blocks, threads, grain, [&](int64_t begin, int64_t end, int) {
    std::vector<float> scratch(p.scratch_floats);
    const int64_t r0 = begin * kScoreBlock, n = std::min(rows, end * kScoreBlock) - r0;
    const int64_t bad = score_rows(p, z + r0 * dim_, n, out + r0 * dim_, scratch.data());
    if (bad >= 0) note_min_index(first_bad, r0 * dim_ + bad);
  });
  return first_bad.load() < rows * dim_ ? first_bad.load() : -1;
}

bool GaussianMixture::posterior(const int32_t* obs, int64_t d_obs, const float* y, MixturePosterior* post,
                                std::string* error) const {
  const int64_t d = dim_, jn = components_;
  std::vector<char> is_obs(d, 0);
  for (int64_t i = 0; i < d_obs; ++i) is_obs[obs[i]] = 1;
  post->dim = d;
  post->observed.assign(obs, obs + d_obs);
  post->values.assign(y, y + d_obs);
  post->latent.clear();
  for (int64_t i = 0; i < d; ++i)
    if (!is_obs[i]) post->latent.push_back(static_cast<int32_t>(i));
  const int64_t dx = static_cast<int64_t>(post->latent.size());
  const auto& lat = post->latent;
  post->log_weights.assign(jn, 0.0);
  post->means.assign(jn * dx, 0.0);
  post->covariances.assign(jn * dx * dx, 0.0);
  post->factors.assign(jn * dx * dx, 0.0);
  auto cov_at = [&](int64_t j, int64_t a, int64_t b) {
    if (diagonal_) return a == b ? lambda_[j * d + a] : 0.0;
    return covariance_[j * d * d + a * d + b];
  };
  std::vector<double> syy(d_obs * d_obs), l, resid(d_obs), solved(d_obs), col(d_obs);
  std::vector<double> cxx(dx * dx), lam, u;
  for (int64_t j = 0; j < jn; ++j) {
    for (int64_t a = 0; a < d_obs; ++a)
      for (int64_t b = 0; b < d_obs; ++b) syy[a * d_obs + b] = cov_at(j, obs[a], obs[b]);
    double log_lik = 0.0;
    if (d_obs > 0) {
      if (!cholesky(syy.data(), d_obs, l)) {
        *error = "covariances[" + std::to_string(j) + "]: observed block is not positive definite";
        return false;
      }
      for (int64_t a = 0; a < d_obs; ++a) resid[a] = static_cast<double>(y[a]) - means_[j * d + obs[a]];
      solved = resid;
      cholesky_solve(l, d_obs, solved.data());
      double quad = 0.0, logdet = 0.0;
      for (int64_t a = 0; a < d_obs; ++a) {
        quad += resid[a] * solved[a];
        logdet += 2.0 * std::log(l[a * d_obs + a]);
      }
      log_lik = -0.5 * quad - 0.5 * logdet;  // the common (2 pi)^{-d_Y/2} cancels
    }
    post->log_weights[j] = log_lik;  // log_weights_[j] is added below
    // mean: m_X + S_XY S_YY^{-1} (y - m_Y)
    for (int64_t a = 0; a < dx; ++a) {
      double m = means_[j * d + lat[a]];
      for (int64_t b = 0; b < d_obs; ++b) m += cov_at(j, lat[a], obs[b]) * solved[b];
      post->means[j * dx + a] = m;
    }
    // covariance: S_XX - S_XY S_YY^{-1} S_YX, column by column of S_YX
    for (int64_t a = 0; a < dx; ++a)
      for (int64_t b = 0; b < dx; ++b) cxx[a * dx + b] = cov_at(j, lat[a], lat[b]);
    for (int64_t b = 0; b < dx && d_obs > 0; ++b) {
      for (int64_t c = 0; c < d_obs; ++c) col[c] = cov_at(j, obs[c], lat[b]);
      cholesky_solve(l, d_obs, col.data());
      for (int64_t a = 0; a < dx; ++a) {
        double s = 0.0;
        for (int64_t c = 0; c < d_obs; ++c) s += cov_at(j, lat[a], obs[c]) * col[c];
        cxx[a * dx + b] -= s;
      }
    }
    for (int64_t a = 0; a < dx; ++a)  // symmetrise rounding
      for (int64_t b = a + 1; b < dx; ++b) cxx[a * dx + b] = cxx[b * dx + a] = 0.5 * (cxx[a * dx + b] + cxx[b * dx + a]);
    std::copy(cxx.begin(), cxx.end(), post->covariances.begin() + j * dx * dx);
    if (dx > 0) {
      if (!symmetric_eigen(cxx.data(), dx, lam, u)) {
        *error = "covariances[" + std::to_string(j) + "]: conditional eigendecomposition did not converge";
        return false;
      }
      for (int64_t a = 0; a < dx; ++a)
        for (int64_t k = 0; k < dx; ++k)
          post->factors[j * dx * dx + a * dx + k] = u[a * dx + k] * std::sqrt(std::max(lam[k], 0.0));
    }
  }
  // The log-likelihoods less their largest before the prior log-weights are added: far from
  // the data they are huge (-y^2/2 = -5e17 at y = 1e9), and log pi_j added to one would be
  // rounded away where components agree in the observed coordinates.
  const double top = *std::max_element(post->log_weights.begin(), post->log_weights.end());
  for (int64_t j = 0; j < jn; ++j) post->log_weights[j] = log_weights_[j] + (post->log_weights[j] - top);
  double mx = *std::max_element(post->log_weights.begin(), post->log_weights.end());
  double total = 0.0;
  for (double w : post->log_weights) total += std::exp(w - mx);
  // (w - mx) - log total, not w - (mx + log total), which rounds back to mx where mx is huge.
  const double log_total = std::log(total);
  for (double& w : post->log_weights) w = (w - mx) - log_total;
  return true;
}

void sample_posterior(const MixturePosterior& post, int64_t n, StreamKey stream, float* out, Threads threads) {
  const int64_t d = post.dim, dx = static_cast<int64_t>(post.latent.size());
  const int64_t jn = static_cast<int64_t>(post.log_weights.size());
  const uint32_t step = stream.step;
  StreamKey comp = stream, normal = stream;
  comp.purpose = purpose_word(Purpose::kExactComponent);
  normal.purpose = purpose_word(Purpose::kExactNormal);
  comp.step = normal.step = step;
  parallel_for(n, threads, 64, [&](int64_t begin, int64_t end, int) {
    std::vector<float> xi(dx);
    for (int64_t i = begin; i < end; ++i) {
      const double u = uniform01_open_right_d(word_at(comp, static_cast<uint64_t>(i)));
      // Smallest j with C_j > u C_J; never a component whose weight underflowed to 0.
      double total = 0.0;
      int64_t last = 0;
      for (int64_t c = 0; c < jn; ++c) {
        const double w = std::exp(post.log_weights[c]);
        if (w > 0.0) last = c;
        total += w;
      }
      double run = 0.0;
      int64_t j = last;
      for (int64_t c = 0; c < last; ++c) {
        run += std::exp(post.log_weights[c]);
        if (run > u * total) {
          j = c;
          break;
        }
      }
      fill_normals(normal, static_cast<uint64_t>(i * dx), static_cast<uint64_t>((i + 1) * dx), xi.data());
      float* row = out + i * d;
      for (size_t a = 0; a < post.observed.size(); ++a) row[post.observed[a]] = post.values[a];
      const double* f = post.factors.data() + j * dx * dx;
      for (int64_t a = 0; a < dx; ++a) {
        double s = post.means[j * dx + a];
        for (int64_t k = 0; k < dx; ++k) s += f[a * dx + k] * static_cast<double>(xi[k]);
        row[post.latent[a]] = static_cast<float>(s);
      }
    }
  });
}

}  // namespace condiff
