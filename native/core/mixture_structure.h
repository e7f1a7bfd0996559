// The structure of a Gaussian mixture's covariances (MATH.md §7), detected once when the
// model is built, and the score path it selects. The score's cost per particle is
//   dense      J D²         (one C_j⁻¹ (z − α m_j) per component)
//   diagonal   4 J D        (two passes over the J x D variances)
//   shared     D² + 2 J D   (one C⁻¹ z per particle, then J dot products; D instead of D²
//                            when the shared covariance is diagonal)
//   isotropic  2 J D        (C_j = c_j I: J dot products, one weighted sum of the means)
// in multiply-adds; mixture_structured.h has the kernels.
#pragma once
#include <cstdint>

namespace condiff {

enum class CovarianceForm : int { kDense = 0, kDiagonal = 1, kIsotropic = 2 };

struct MixtureStructure {
  // The least structured form over the components: isotropic when every Σ_j = s_j I,
  // diagonal when every Σ_j is diagonal, dense otherwise.
  CovarianceForm form = CovarianceForm::kDense;
  // Every component has the same covariance.
  bool shared = false;
};

enum class ScorePath : int { kDense = 0, kDiagonal = 1, kShared = 2, kIsotropic = 3 };

// The tolerance of the rules below: float32's unit roundoff. The dense path rounds each
// entry of C_j⁻¹ to float32 (relative error up to 2⁻²⁴), so a covariance that differs from
// a structured one by at most this much, relative to its scale, is scored to float32
// rounding by either path.
constexpr double kStructureTolerance = 0x1p-24;

// Detection rules, with τ = kStructureTolerance, for covariances given as J x D x D
// matrices (or J x D variances when `variances`):
//   diagonal    every off-diagonal entry |Σ_ab| <= τ √(Σ_aa Σ_bb) (a correlation within τ);
//   isotropic   diagonal, and max_a Σ_aa − min_a Σ_aa <= τ max_a Σ_aa within each component;
//   shared      every |Σ_j,ab − Σ_0,ab| <= τ √(Σ_0,aa Σ_0,bb) (for diagonal forms, the
//               variances agree within τ relative).
// The entries must be finite and the diagonal positive (create() validates that first).
MixtureStructure detect_structure(int64_t dim, int64_t components, const double* covariance, bool variances);

// The path the CPU core runs for a structure: isotropic (shared or not) → kIsotropic;
// otherwise shared → kShared; otherwise diagonal → kDiagonal; otherwise kDense.
ScorePath score_path(MixtureStructure s);

// "dense", "diagonal", "isotropic", "shared dense", "shared diagonal", "shared isotropic".
const char* structure_name(MixtureStructure s);

// "dense", "diagonal", "shared", "isotropic".
const char* score_path_name(ScorePath p);

}  // namespace condiff
