// The Gaussian-mixture score of MATH.md §7, vectorised across particles.
// Per call (one time t), each component's precision C_j^{-1} = U_j diag(1/(alpha^2 lambda + sigma^2)) U_j^T
// is formed once from the stored eigendecomposition (no new factorisation); then per
// particle, for each component, one matrix–vector product g_j = C_j^{-1}(z - alpha m_j)
// gives both the quadratic form (d . g_j) for the responsibility and the gradient.
// Rows are processed 16 at a time with particles in the SIMD lanes; the block kernel is
// compiled for AVX-512, AVX2 and baseline x86-64 and picked at run time.
#pragma once
#include <cstdint>
#include <vector>

namespace condiff {

struct MixtureStep {
  int64_t dim = 0, components = 0;
  bool diagonal = false;
  std::vector<float> precision;   // J x D x D (full) or J x D (diagonal: 1 / c_jk)
  std::vector<float> scaled_mean; // J x D, alpha m_j
  std::vector<float> log_norm;    // J, log pi_j - (1/2) log det C_j
};

constexpr int kScoreBlock = 16;

// Scratch floats one block needs.
inline int64_t score_block_scratch(const MixtureStep& q) {
  return (q.dim * (2 + q.components) + q.components) * kScoreBlock;
}

// The first 64-byte boundary at or after p; a buffer of score_block_scratch(q) + kScoreBlock
// floats holds an aligned scratch.
inline float* align_floats(float* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  return reinterpret_cast<float*>((address + 63) & ~std::uintptr_t{63});
}

// Score of `rows` (<= kScoreBlock) rows of z (row-major, D each) into out.
void score_block(const MixtureStep& q, const float* z, int64_t rows, float* out, float* scratch);

// score_block on a named instruction set, 0: AVX-512, 1: AVX2 with FMA, 2: baseline (the
// one score_block takes is the CPU's best): for the test that every set gives the same
// bytes. The caller makes sure the CPU has the set.
void score_block_on(int isa, const MixtureStep& q, const float* z, int64_t rows, float* out, float* scratch);

}  // namespace condiff
