// The Gaussian-mixture score of MATH.md §7 for structured covariances (the paths of
// mixture_structure.h), vectorised across particles like the dense kernel of
// mixture_score.h: 16 particles per block in SIMD lanes, per-instruction-set clones.
//
// Every path centres the state first: z' = z − α m̄ with m̄ = Σ_j π_j m_j, and a_j = α (m_j − m̄),
// so z − α m_j = z' − a_j exactly and the expanded quadratic forms below lose as little
// as possible to cancellation when the means sit far from the origin. With
// C_j = α² Σ_j + σ² I and r_j ∝ π_j N(z; α m_j, C_j), s = −Σ_j r_j C_j⁻¹ (z' − a_j):
//
//   isotropic  C_j = c_j I:  e_j = a_j · z',  log r_j = β_j + (e_j − ‖z'‖²/2) / c_j,
//              s = −(Σ_j w_j) z' + Σ_j w_j a_j with w_j = r_j / c_j;
//   shared     C_j = C:      u = C⁻¹ z', b_j = C⁻¹ a_j (per call), e_j = b_j · z',
//              log r_j = β_j + e_j − z'·u / 2,  s = −u + Σ_j r_j b_j;
//   diagonal   C_j = diag(1/p_j):  log r_j = β_j − ½ Σ_k (√p_jk z'_k − √p_jk a_jk)²,
//              s = Σ_j r_j (p_j ⊙ a_j) − z' ⊙ Σ_j r_j p_j;
//
// with β_j the per-call constants (log π_j − ½ log det C_j, and −½ a_jᵀ C_j⁻¹ a_j where the
// form is expanded). Responsibilities are normalised with the max trick (MATH.md §4).
#pragma once
#include <cstdint>
#include <vector>

#include "mixture_score.h"
#include "mixture_structure.h"

namespace condiff {

struct StructuredStep {
  ScorePath path = ScorePath::kIsotropic;
  int64_t dim = 0, components = 0;
  bool diagonal_precision = false;  // shared: C⁻¹ is diagonal (precision holds D values)
  std::vector<float> center;        // D: α m̄
  // isotropic: a_j; shared: b_j = C⁻¹ a_j; diagonal: p_j ⊙ a_j. J x D, and the same
  // transposed (D x J) for the per-component dot products.
  std::vector<float> mean, mean_t;
  // shared: C⁻¹ (D x D, or its diagonal); diagonal: p_j (J x D).
  std::vector<float> precision;
  // diagonal: √p_jk and √p_jk a_jk, D x J.
  std::vector<float> root_t, root_mean_t;
  std::vector<float> inv_c;  // isotropic: 1 / c_j
  // isotropic, diagonal, and shared with C⁻¹ diagonal: the second product (the weighted sum
  // over the components) with the coordinates in the SIMD lanes, four particles' rows at a
  // time, instead of the particles; the same bytes either way (mixture_test), faster from
  // kRowCombineMinDim on, where a row of the model fills vectors. Shared: only with
  // diagonal_precision. AVX-512 only: the other instruction sets compute by lanes either way.
  bool row_combine = false;
  std::vector<float> bias;   // β_j
};

// From this D on those paths combine by rows (StructuredStep::row_combine). Measured on one
// thread with the rows in cache (AVX-512, J = 25, ns a row, transposed -> by rows), isotropic /
// diagonal: D = 64 61 -> 58 / 93 -> 86, 80 71 -> 68 / 114 -> 107, 128 123 -> 112 / 187 -> 178,
// 400 493 -> 414 / 753 -> 652, 800 1001 -> 783 / 1459 -> 1219; below 64, and where a short
// masked last vector is a large share of the row (D = 56, 72, 104), the two are within ±8%
// either way; at D = 8 the transposed form is faster (16 -> 21).
constexpr int64_t kRowCombineMinDim = 64;

// Scratch floats one block needs (64-byte aligned, see align_floats).
inline int64_t structured_block_scratch(const StructuredStep& q) {
  return (2 * q.dim + q.components) * kScoreBlock;
}

// Score of `rows` (<= kScoreBlock) rows of z (row-major, D each) into out, by q.path
// (not kDense: that is score_block's). out may be z itself but must not overlap it otherwise.
// Returns true when a value written is not finite, never false when one is (the caller then
// looks for it: the kernels note it as they store, where a scan of out after cost ~3%).
bool score_block_structured(const StructuredStep& q, const float* z, int64_t rows, float* out, float* scratch);

// The same on a named instruction set (as score_block_on in mixture_score.h), for the test
// that every set gives the same bytes.
bool score_block_structured_on(int isa, const StructuredStep& q, const float* z, int64_t rows, float* out,
                               float* scratch);

// Two blocks: kScoreBlock < rows <= 2 kScoreBlock, with 2 structured_block_scratch(q) floats
// of scratch. The same bytes as two score_block_structured calls; on AVX-512 the isotropic
// and diagonal paths compute both blocks' first products together (a model value broadcast
// once for 32 particles), which is faster. Returns as score_block_structured.
bool score_pair_structured(const StructuredStep& q, const float* z, int64_t rows, float* out, float* scratch);
bool score_pair_structured_on(int isa, const StructuredStep& q, const float* z, int64_t rows, float* out,
                              float* scratch);

// Multiply-adds per particle of each path, for the thread grain and the benchmarks' FLOP
// counts (the kernels' vector multiply-adds; the exponentials and transposes are extra).
int64_t multiply_adds_per_row(ScorePath path, int64_t dim, int64_t components, bool diagonal_precision);

}  // namespace condiff
