// The exact Gaussian-mixture model of MATH.md §7: the score of p_t for any (alpha_t,
// sigma_t) and the exact conditional p_0(X | Y = y), the oracle every sampler is
// tested against. Each component's covariance is eigendecomposed once, at creation, and
// its structure (diagonal, isotropic, shared: mixture_structure.h) picks the score path.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mixture_score.h"
#include "mixture_structure.h"
#include "mixture_structured.h"
#include "normals.h"
#include "rng.h"
#include "worker_pool.h"

namespace condiff {

// The exact conditional p_0(X | Y = y): a mixture over the latent coordinates.
struct MixturePosterior {
  int64_t dim = 0;                 // D
  std::vector<int32_t> latent;     // indices of X (ascending)
  std::vector<int32_t> observed;   // indices of Y, as given
  std::vector<float> values;       // y
  std::vector<double> log_weights; // normalised, one per component
  std::vector<double> means;       // J x d_X
  std::vector<double> covariances; // J x d_X x d_X
  std::vector<double> factors;     // J x d_X x d_X, F with F F^T = covariance (U sqrt(lambda))
};

// Which kernel GaussianMixture::score runs: the one its structure selects, or the general
// (dense or per-component diagonal) kernel every model can run, as a reference.
enum class ScoreKernel { kStructured, kGeneral };

// score()'s per-time quantities for one (alpha, sigma2), prepared once for many
// score_rows calls (the fused filter step scores each run's rows where it uses them).
struct PreparedScore {
  bool structured = false;
  StructuredStep structured_step;  // structured
  MixtureStep general;             // otherwise
  int64_t scratch_floats = 0;      // each caller's scratch for score_rows
};

class GaussianMixture {
 public:
  // weights: J positive; means: J x D; covariance: J x D x D (full) or J x D (diagonal).
  // Returns nullptr and sets *error when the input is invalid (not symmetric, not
  // positive definite, non-finite).
  static std::unique_ptr<GaussianMixture> create(int64_t dim, int64_t components, const double* weights,
                                                 const double* means, const double* covariance, bool diagonal,
                                                 std::string* error);

  int64_t dim() const { return dim_; }
  int64_t components() const { return components_; }
  // Given as variances (J x D) rather than matrices.
  bool diagonal() const { return diagonal_; }
  // Detected at creation (mixture_structure.h), with the path the score runs.
  MixtureStructure structure() const { return structure_; }
  ScorePath path() const { return path_; }
  // Multiply-adds per row of the score's kernel (mixture_structured.h).
  int64_t multiply_adds_per_row(ScoreKernel kernel = ScoreKernel::kStructured) const;

  // Per-time quantities of the general kernel (precisions, scaled means, normalisers):
  // J dense precisions, or J diagonal ones when given as variances. The CUDA core takes these.
  MixtureStep prepare(double alpha, double sigma2) const;
  // Per-time quantities of the structured path (path() != kDense).
  StructuredStep prepare_structured(double alpha, double sigma2, Threads threads) const;

  // s_t(z) for rows of z (rows x D) under p_t = sum_j pi_j N(alpha m_j, alpha^2 Sigma_j + sigma2 I).
  // Returns the flat index of the first non-finite output, or -1 (MATH.md §4: the
  // sampler names the step and row of a non-finite score).
  int64_t score(const float* z, int64_t rows, double alpha, double sigma2, float* out, Threads threads,
                ScoreKernel kernel = ScoreKernel::kStructured) const;

  // score() in two parts: the per-time quantities, then any rows of z on the calling
  // thread (16-row blocks, with a scratch of p.scratch_floats), the same bits as score()
  // gives those rows. Returns the flat index in these rows of the first non-finite output, or -1.
  PreparedScore prepare_score(double alpha, double sigma2, Threads threads,
                              ScoreKernel kernel = ScoreKernel::kStructured) const;
  int64_t score_rows(const PreparedScore& p, const float* z, int64_t rows, float* out, float* scratch) const;

  // Exact conditional given y at the observed coordinates (MATH.md §7).
  bool posterior(const int32_t* observed, int64_t d_obs, const float* y, MixturePosterior* out,
                 std::string* error) const;

 private:
  GaussianMixture() = default;
  // Structure, path, centre and variances, once the covariances are validated.
  void finish(const double* covariance);
  int64_t dim_ = 0, components_ = 0;
  bool diagonal_ = false;
  MixtureStructure structure_;
  ScorePath path_ = ScorePath::kDense;
  std::vector<double> log_weights_;  // log pi_j, normalised
  std::vector<double> means_;        // J x D
  std::vector<double> center_;       // D: sum_j pi_j m_j, the structured paths' origin
  std::vector<double> variances_;    // J x D diagonal entries of Sigma_j (structured forms only)
  std::vector<double> lambda_;       // J x D eigenvalues (variances when diagonal)
  std::vector<double> u_;            // J x D x D eigenvectors in columns (full only)
  std::vector<double> covariance_;   // J x D x D as given (full) for the posterior
};

// Draws n samples of the full state (n x D, observed coordinates set to y) from the
// exact conditional. Random numbers: stream purposes kExactComponent (element i) and
// kExactNormal (element i * d_X + j), run and step as given in `stream`.
void sample_posterior(const MixturePosterior& post, int64_t n, StreamKey stream, float* out, Threads threads);

}  // namespace condiff
