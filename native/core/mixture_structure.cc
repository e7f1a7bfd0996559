// Structure detection for the Gaussian mixture's covariances (MATH.md §7); the rules and
// their tolerance are stated in mixture_structure.h.
#include "mixture_structure.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace condiff {
namespace {

// Σ_j[a][b] of the input, whichever form it came in.
double entry(const double* cov, int64_t d, bool variances, int64_t j, int64_t a, int64_t b) {
  if (variances) return a == b ? cov[j * d + a] : 0.0;
  return cov[(j * d + a) * d + b];
}

}  // namespace

MixtureStructure detect_structure(int64_t d, int64_t jn, const double* cov, bool variances) {
  const double tau = kStructureTolerance;
  bool diagonal = true, isotropic = true, shared = true;
  // √Σ_aa of component 0 and of the current one: the scale of entry [a][b] is their
  // product, so the rules do not depend on the units of each coordinate.
  std::vector<double> sd0(d), sd(d);
  for (int64_t a = 0; a < d; ++a) sd0[a] = std::sqrt(entry(cov, d, variances, 0, a, a));
  for (int64_t j = 0; j < jn; ++j) {
    double vmin = entry(cov, d, variances, j, 0, 0), vmax = vmin;
    for (int64_t a = 0; a < d; ++a) {
      const double v = entry(cov, d, variances, j, a, a);
      vmin = std::min(vmin, v);
      vmax = std::max(vmax, v);
      sd[a] = std::sqrt(v);
    }
    if (vmax - vmin > tau * vmax) isotropic = false;
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = 0; b < d; ++b) {
        const double x = entry(cov, d, variances, j, a, b);
        if (a != b && std::fabs(x) > tau * sd[a] * sd[b]) diagonal = false;
        if (std::fabs(x - entry(cov, d, variances, 0, a, b)) > tau * sd0[a] * sd0[b]) shared = false;
      }
  }
  MixtureStructure s;
  s.form = !diagonal ? CovarianceForm::kDense : isotropic ? CovarianceForm::kIsotropic : CovarianceForm::kDiagonal;
  s.shared = shared;
  return s;
}

ScorePath score_path(MixtureStructure s) {
  if (s.form == CovarianceForm::kIsotropic) return ScorePath::kIsotropic;
  if (s.shared) return ScorePath::kShared;
  return s.form == CovarianceForm::kDiagonal ? ScorePath::kDiagonal : ScorePath::kDense;
}

const char* structure_name(MixtureStructure s) {
  switch (s.form) {
    case CovarianceForm::kIsotropic:
      return s.shared ? "shared isotropic" : "isotropic";
    case CovarianceForm::kDiagonal:
      return s.shared ? "shared diagonal" : "diagonal";
    default:
      return s.shared ? "shared dense" : "dense";
  }
}

const char* score_path_name(ScorePath p) {
  switch (p) {
    case ScorePath::kIsotropic:
      return "isotropic";
    case ScorePath::kShared:
      return "shared";
    case ScorePath::kDiagonal:
      return "diagonal";
    default:
      return "dense";
  }
}

}  // namespace condiff
