// C++ tests of the mixture score's structured paths (MATH.md §7, native/core/mixture_structure.h):
// the detection rules at their tolerance, and every path against the general (dense) kernel
// and against a float64 reference computed from the definition (Cholesky solves, log-sum-exp
// in double), across dimensions that exercise the 16 x 16 tiles and their tails, one to 25
// components, means far from the origin, and times from t = 0.01 (sharp) to t = 3 (diffuse).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "check.h"
#include "flush_subnormals.h"
#include "linalg.h"
#include "mixture.h"
#include "mixture_simd.h"
#include "mixture_simd_avx2.h"

using namespace condiff;

static CheckCounts counts;
#define CHECK(cond, ...) CONDIFF_CHECK(counts, cond, __VA_ARGS__)

namespace {

constexpr double kTau = kStructureTolerance;

// A mixture in its input form: J x D x D covariances, or J x D variances.
struct Spec {
  int64_t d = 0, jn = 0;
  bool variances = false;
  std::vector<double> w, m, c;
  // Σ_j[a][b], whichever the form.
  double cov(int64_t j, int64_t a, int64_t b) const {
    if (variances) return a == b ? c[j * d + a] : 0.0;
    return c[(j * d + a) * d + b];
  }
  std::unique_ptr<GaussianMixture> build() const {
    std::string error;
    auto gm = GaussianMixture::create(d, jn, w.data(), m.data(), c.data(), variances, &error);
    CHECK(gm != nullptr, "create: %s", error.c_str());
    return gm;
  }
};

enum class Kind { kIdentity, kIsotropic, kDiagonal, kSharedIsotropic, kSharedDiagonal, kSharedDense, kDense };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kIdentity: return "identity";
    case Kind::kIsotropic: return "isotropic";
    case Kind::kDiagonal: return "diagonal";
    case Kind::kSharedIsotropic: return "shared isotropic";
    case Kind::kSharedDiagonal: return "shared diagonal";
    case Kind::kSharedDense: return "shared dense";
    default: return "dense";
  }
}

// Means ~ N(3, 4 I) (off the origin, so the centring matters), weights in [0.5, 2].
Spec make(Kind kind, int64_t d, int64_t jn, bool variances, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.5, 2.0);
  Spec s;
  s.d = d;
  s.jn = jn;
  s.variances = variances;
  s.w.resize(jn);
  s.m.resize(jn * d);
  for (double& x : s.w) x = uniform(rng);
  for (double& x : s.m) x = 3.0 + 2.0 * normal(rng);
  std::vector<double> b(d * d), dense(d * d), shared_var(d);
  auto random_dense = [&](double* out) {
    for (double& x : b) x = normal(rng);
    for (int64_t i = 0; i < d; ++i)
      for (int64_t k = 0; k < d; ++k) {
        double acc = 0.0;
        for (int64_t l = 0; l < d; ++l) acc += b[i * d + l] * b[k * d + l];
        out[i * d + k] = acc / static_cast<double>(d) + (i == k ? 0.5 : 0.0);
      }
  };
  random_dense(dense.data());
  for (double& x : shared_var) x = uniform(rng);
  const double shared_s = uniform(rng);
  s.c.assign(variances ? jn * d : jn * d * d, 0.0);
  for (int64_t j = 0; j < jn; ++j) {
    const double sj = uniform(rng);
    if (kind == Kind::kDense) random_dense(dense.data());
    for (int64_t a = 0; a < d; ++a)
      for (int64_t c = 0; c < d; ++c) {
        double v = 0.0;
        if (kind == Kind::kDense || kind == Kind::kSharedDense) v = dense[a * d + c];
        if (a == c) {
          if (kind == Kind::kIdentity) v = 1.0;
          if (kind == Kind::kIsotropic) v = sj;
          if (kind == Kind::kSharedIsotropic) v = shared_s;
          if (kind == Kind::kDiagonal) v = uniform(rng);
          if (kind == Kind::kSharedDiagonal) v = shared_var[a];
        }
        if (variances) {
          if (a == c) s.c[j * d + a] = v;
        } else {
          s.c[(j * d + a) * d + c] = v;
        }
      }
  }
  return s;
}

// The float64 score of MATH.md §7 at one time: each C_j = α² Σ_j + σ² I factorised once,
// with log det C_j and ‖C_j⁻¹‖_∞.
struct Reference {
  const Spec& s;
  double alpha;
  std::vector<std::vector<double>> factor;
  std::vector<double> logdet, inv_norm;

  Reference(const Spec& spec, double a, double sigma2) : s(spec), alpha(a) {
    const int64_t d = s.d;
    std::vector<double> c(d * d), unit(d);
    for (int64_t j = 0; j < s.jn; ++j) {
      for (int64_t r = 0; r < d; ++r)
        for (int64_t k = 0; k < d; ++k) c[r * d + k] = a * a * s.cov(j, r, k) + (r == k ? sigma2 : 0.0);
      std::vector<double> l;
      cholesky(c.data(), d, l);
      double ld = 0.0;
      for (int64_t k = 0; k < d; ++k) ld += 2.0 * std::log(l[k * d + k]);
      std::vector<double> row_sums(d, 0.0);  // from C_j⁻¹'s columns (it is symmetric)
      for (int64_t k = 0; k < d; ++k) {
        std::fill(unit.begin(), unit.end(), 0.0);
        unit[k] = 1.0;
        cholesky_solve(l, d, unit.data());
        for (int64_t r = 0; r < d; ++r) row_sums[r] += std::fabs(unit[r]);
      }
      factor.push_back(l);
      logdet.push_back(ld);
      inv_norm.push_back(*std::max_element(row_sums.begin(), row_sums.end()));
    }
  }

  // The score at one row into out, and the row's scale
  //   S = Σ_j r_j (‖C_j⁻¹ (z − α m_j)‖_∞ + ‖C_j⁻¹‖_∞ (‖z‖_∞ + α ‖m_j‖_∞)),
  // the unit the errors are measured in: float32 inputs alone (z, and α m_j rounded) move
  // each term by u ‖C_j⁻¹‖_∞ (‖z‖_∞ + α ‖m_j‖_∞).
  double score(const float* z, double* out) const {
    const int64_t d = s.d, jn = s.jn;
    std::vector<double> lp(jn), g(jn * d), r(d), term(jn);
    double wsum = 0.0, zmax = 0.0;
    for (double x : s.w) wsum += x;
    for (int64_t k = 0; k < d; ++k) zmax = std::max(zmax, std::fabs(static_cast<double>(z[k])));
    for (int64_t j = 0; j < jn; ++j) {
      double mmax = 0.0;
      for (int64_t k = 0; k < d; ++k) {
        r[k] = static_cast<double>(z[k]) - alpha * s.m[j * d + k];
        mmax = std::max(mmax, alpha * std::fabs(s.m[j * d + k]));
      }
      std::vector<double> x = r;
      cholesky_solve(factor[j], d, x.data());
      double quad = 0.0, gmax = 0.0;
      for (int64_t k = 0; k < d; ++k) {
        quad += r[k] * x[k];
        g[j * d + k] = x[k];
        gmax = std::max(gmax, std::fabs(x[k]));
      }
      lp[j] = std::log(s.w[j] / wsum) - 0.5 * logdet[j] - 0.5 * quad;
      term[j] = gmax + inv_norm[j] * (zmax + mmax);
    }
    const double mx = *std::max_element(lp.begin(), lp.end());
    double total = 0.0;
    for (double& v : lp) total += (v = std::exp(v - mx));
    double scale = 0.0;
    std::fill(out, out + d, 0.0);
    for (int64_t j = 0; j < jn; ++j) {
      for (int64_t k = 0; k < d; ++k) out[k] -= lp[j] / total * g[j * d + k];
      scale += lp[j] / total * term[j];
    }
    return scale;
  }
};

void test_detection() {
  std::mt19937_64 rng(1);
  struct Case {
    Kind kind;
    bool variances;
    const char* name;
    ScorePath path;
  };
  const Case cases[] = {
      {Kind::kIdentity, false, "shared isotropic", ScorePath::kIsotropic},
      {Kind::kIdentity, true, "shared isotropic", ScorePath::kIsotropic},
      {Kind::kIsotropic, false, "isotropic", ScorePath::kIsotropic},
      {Kind::kSharedIsotropic, true, "shared isotropic", ScorePath::kIsotropic},
      {Kind::kDiagonal, false, "diagonal", ScorePath::kDiagonal},
      {Kind::kDiagonal, true, "diagonal", ScorePath::kDiagonal},
      {Kind::kSharedDiagonal, false, "shared diagonal", ScorePath::kShared},
      {Kind::kSharedDiagonal, true, "shared diagonal", ScorePath::kShared},
      {Kind::kSharedDense, false, "shared dense", ScorePath::kShared},
      {Kind::kDense, false, "dense", ScorePath::kDense},
  };
  for (const Case& c : cases) {
    auto gm = make(c.kind, 5, 3, c.variances, rng).build();
    CHECK(std::string(structure_name(gm->structure())) == c.name && gm->path() == c.path, "%s%s: %s / %s",
          kind_name(c.kind), c.variances ? " (variances)" : "", structure_name(gm->structure()), score_path_name(gm->path()));
  }
  // One component is trivially shared; D = 1 is trivially isotropic.
  auto one = make(Kind::kDense, 4, 1, false, rng).build();
  CHECK(one->structure().shared && one->path() == ScorePath::kShared, "one component: %s", structure_name(one->structure()));
  auto line = make(Kind::kDiagonal, 1, 3, true, rng).build();
  CHECK(line->structure().form == CovarianceForm::kIsotropic, "D = 1: %s", structure_name(line->structure()));
  // The tolerance, from inside and outside, on identity matrices with a scale of 4 (the
  // rules are relative: √(Σ_aa Σ_bb) = 4 off the diagonal).
  const int64_t d = 3, jn = 2;
  auto identity = [&](double scale) {
    Spec s = make(Kind::kIdentity, d, jn, false, rng);
    for (double& x : s.c) x *= scale;
    return s;
  };
  for (double f : {0.5, 2.0}) {
    const bool inside = f < 1.0;
    Spec off = identity(4.0);  // off-diagonal, symmetric, in component 1
    off.c[(1 * d + 0) * d + 2] = off.c[(1 * d + 2) * d + 0] = f * kTau * 4.0;
    auto g1 = off.build();
    CHECK((g1->structure().form != CovarianceForm::kDense) == inside, "off-diagonal %g tau: %s", f, structure_name(g1->structure()));
    CHECK(g1->structure().shared == inside, "off-diagonal %g tau breaks sharing: %s", f, structure_name(g1->structure()));
    Spec spread = identity(4.0);  // one variance of component 0 a little larger
    spread.c[(0 * d + 1) * d + 1] *= 1.0 + f * kTau;
    auto g2 = spread.build();
    CHECK((g2->structure().form == CovarianceForm::kIsotropic) == inside, "variance spread %g tau: %s", f,
          structure_name(g2->structure()));
    Spec unshared = identity(4.0);  // component 1 scaled: isotropic either way, shared only inside
    for (int64_t a = 0; a < d; ++a) unshared.c[(1 * d + a) * d + a] *= 1.0 + f * kTau;
    auto g3 = unshared.build();
    CHECK(g3->structure().form == CovarianceForm::kIsotropic && g3->structure().shared == inside, "shared %g tau: %s", f,
          structure_name(g3->structure()));
  }
  // The general kernel's quantities (the CUDA core's input) keep the input's form.
  auto full = identity(1.0).build();
  const MixtureStep q = full->prepare(0.8, 0.36);
  CHECK(!q.diagonal && q.precision.size() == static_cast<size_t>(jn * d * d), "prepare() of matrices stays dense");
}

// Every path against the general kernel and the float64 reference. Errors are in units of
// the row's scale S (Reference::score); the bound 64 u √(D + 1) (u = 2⁻²⁴) is float32 rounding of
// sums of D terms with a margin: the largest error seen over these cases is printed.
void test_paths() {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> normal;
  const double u = 0x1p-24;
  double worst_structured = 0.0, worst_general = 0.0;
  const Kind kinds[] = {Kind::kIdentity, Kind::kIsotropic, Kind::kSharedIsotropic, Kind::kDiagonal,
                        Kind::kSharedDiagonal, Kind::kSharedDense};
  for (Kind kind : kinds)
    for (int64_t d : {1, 3, 8, 16, 17, 33, 80})
      for (int64_t jn : {1, 3, 25})
        for (bool variances : {false, true}) {
          if (variances && kind == Kind::kSharedDense) continue;
          const Spec s = make(kind, d, jn, variances, rng);
          auto gm = s.build();
          CHECK(gm->path() != ScorePath::kDense, "%s D=%lld: a structured path", kind_name(kind), static_cast<long long>(d));
          for (double t : {0.01, 0.3, 3.0}) {
            const double alpha = std::exp(-t), sigma2 = 1.0 - std::exp(-2.0 * t);
            // Rows near the components, every fifth three times as far out; 37 rows: two
            // whole blocks and a partial one.
            const int64_t rows = 37;
            std::vector<float> z(rows * d), fast(rows * d), general(rows * d);
            for (int64_t r = 0; r < rows; ++r) {
              const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(jn));
              const double spread = std::sqrt(alpha * alpha + sigma2) * (r % 5 == 0 ? 3.0 : 1.0);
              for (int64_t k = 0; k < d; ++k) z[r * d + k] = static_cast<float>(alpha * s.m[j * d + k] + spread * normal(rng));
            }
            CHECK(gm->score(z.data(), rows, alpha, sigma2, fast.data(), 1) == -1, "finite");
            CHECK(gm->score(z.data(), rows, alpha, sigma2, general.data(), 1, ScoreKernel::kGeneral) == -1, "finite");
            const double bound = 64.0 * u * std::sqrt(static_cast<double>(d) + 1.0);
            std::vector<double> ref(d);
            const Reference exact(s, alpha, sigma2);
            double e_fast = 0.0, e_general = 0.0, e_between = 0.0;
            for (int64_t r = 0; r < rows; ++r) {
              const double g = exact.score(z.data() + r * d, ref.data());
              for (int64_t k = 0; k < d; ++k) {
                e_fast = std::max(e_fast, std::fabs(fast[r * d + k] - ref[k]) / g);
                e_general = std::max(e_general, std::fabs(general[r * d + k] - ref[k]) / g);
                e_between = std::max(e_between, std::fabs(fast[r * d + k] - general[r * d + k]) / g);
              }
            }
            CHECK(e_fast <= bound && e_between <= 2.0 * bound, "%s%s (%s) D=%lld J=%lld t=%g: |fast - ref| %.3g S, |fast - general| %.3g S (bound %.3g)",
                  kind_name(kind), variances ? " (variances)" : "", score_path_name(gm->path()), static_cast<long long>(d),
                  static_cast<long long>(jn), t, e_fast, e_between, bound);
            worst_structured = std::max(worst_structured, e_fast / bound);
            worst_general = std::max(worst_general, e_general / bound);
          }
        }
  std::printf("mixture paths: largest error against float64, in units of the bound: structured %.3f, general %.3f\n",
              worst_structured, worst_general);
}

// Threads never change a structured score; the first non-finite output is reported.
void test_threads_and_non_finite() {
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal;
  for (Kind kind : {Kind::kIdentity, Kind::kDiagonal, Kind::kSharedDense}) {
    const int64_t d = 20, rows = 100;
    auto gm = make(kind, d, 6, false, rng).build();
    std::vector<float> z(rows * d), one(rows * d), many(rows * d);
    for (float& x : z) x = 3.0f + 2.0f * normal(rng);
    gm->score(z.data(), rows, 0.7, 0.5, one.data(), 1);
    for (int threads : {2, 3}) {
      gm->score(z.data(), rows, 0.7, 0.5, many.data(), threads);
      CHECK(one == many, "%s: %d threads change the score", kind_name(kind), threads);
    }
    z[33 * d + 4] = std::nanf("");
    z[70 * d] = INFINITY;
    for (int threads : {1, 2}) {
      const int64_t at = gm->score(z.data(), rows, 0.7, 0.5, many.data(), threads);
      CHECK(at >= 33 * d && at < 34 * d && !std::isfinite(many[at]), "%s: first non-finite %lld", kind_name(kind),
            static_cast<long long>(at));
    }
    // Far from every component (|z| ~ 1e4): the max trick keeps the responsibilities finite.
    std::vector<float> far(16 * d, 1.0e4f), out(16 * d);
    CHECK(gm->score(far.data(), 16, 0.7, 0.5, out.data(), 1) == -1, "%s: far rows finite", kind_name(kind));
  }
}


// The instruction-set multiply-adds, each called through a function of its own target (an
// always_inline function of a wider target cannot be inlined into a default one).
__attribute__((target("avx2,fma"), noinline)) void madd_on_avx2(const simd::vf* a, const simd::vf* b, const simd::vf* c,
                                                                 simd::vf* out) {
  const simd_avx2::vf x = simd_avx2::load(reinterpret_cast<const float*>(a));
  const simd_avx2::vf y = simd_avx2::load(reinterpret_cast<const float*>(b));
  const simd_avx2::vf w = simd_avx2::load(reinterpret_cast<const float*>(c));
  simd_avx2::store(reinterpret_cast<float*>(out), simd_avx2::madd(x, y, w));
}
__attribute__((target("avx512f"), noinline)) void madd_on_avx512(const simd::vf* a, const simd::vf* b, const simd::vf* c,
                                                                  simd::vf* out) {
  *out = simd::madd_avx512(*a, *b, *c);
}

// Every instruction set's kernel gives the same bytes (mixture_simd.h: each multiply-add is
// the one exactly rounded fma), so a seed gives the same samples on every CPU: each set
// this CPU has runs the dense and the structured kernels on the same blocks.
// The instruction sets this CPU runs (isa.h numbering), the baseline first.
std::vector<int> instruction_sets() {
  __builtin_cpu_init();
  std::vector<int> sets = {2};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) sets.push_back(1);
  if (__builtin_cpu_supports("avx512f")) sets.push_back(0);
  return sets;
}

bool has_set(const std::vector<int>& sets, int isa) { return std::find(sets.begin(), sets.end(), isa) != sets.end(); }

void test_instruction_sets() {
  const std::vector<int> sets = instruction_sets();
  std::printf("instruction sets compared: %zu of 3\n", sets.size());
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal;
  // The fused multiply-add itself, special values included.
  const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0x1p-126f, 0x1p-149f, 3.0e38f, -3.0e38f, 1.0f + 0x1p-23f};
  for (int rep = 0; rep < 200; ++rep) {
    simd::vf a, b, c;
    for (int i = 0; i < 16; ++i) {
      a[i] = rep < 20 ? special[(rep + i) % 9] : normal(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
      b[i] = rep < 20 ? special[(rep * 3 + i) % 9] : normal(rng);
      c[i] = rep < 20 ? special[(rep * 7 + i) % 9] : normal(rng) * 1e3f;
    }
    const simd::vf base = simd::madd_baseline(a, b, c);
    for (int i = 0; i < 16; ++i) {
      const float want = std::fma(a[i], b[i], c[i]);
      CHECK(std::memcmp(&base[i], &want, sizeof want) == 0, "baseline madd lane %d: %a * %a + %a", i, a[i], b[i], c[i]);
    }
    if (has_set(sets, 1)) {
      simd::vf v;
      madd_on_avx2(&a, &b, &c, &v);
      CHECK(std::memcmp(&v, &base, sizeof v) == 0, "avx2 madd differs from the baseline (rep %d)", rep);
    }
    if (has_set(sets, 0)) {
      simd::vf v;
      madd_on_avx512(&a, &b, &c, &v);
      CHECK(std::memcmp(&v, &base, sizeof v) == 0, "avx512 madd differs from the baseline (rep %d)", rep);
    }
  }
  const Kind kinds[] = {Kind::kDense, Kind::kIdentity, Kind::kIsotropic, Kind::kDiagonal, Kind::kSharedDiagonal, Kind::kSharedDense};
  for (Kind kind : kinds)
    for (int64_t d : {3, 8, 17, 80})
      for (int64_t jn : {1, 25}) {
        const Spec s = make(kind, d, jn, false, rng);
        auto gm = s.build();
        for (double t : {0.05, 1.0}) {
          const double alpha = std::exp(-t), sigma2 = 1.0 - std::exp(-2.0 * t);
          for (int64_t rows : {16, 7}) {
            std::vector<float> z(rows * d);
            for (auto& x : z) x = static_cast<float>(3.0 * alpha) + normal(rng);
            std::vector<std::vector<float>> outs;
            for (int isa : sets) {
              std::vector<float> out(rows * d);
              if (gm->path() == ScorePath::kDense) {
                const MixtureStep q = gm->prepare(alpha, sigma2);
                std::vector<float> scratch(score_block_scratch(q) + kScoreBlock);
                score_block_on(isa, q, z.data(), rows, out.data(), align_floats(scratch.data()));
              } else {
                const StructuredStep q = gm->prepare_structured(alpha, sigma2, Threads(1, nullptr));
                std::vector<float> scratch(structured_block_scratch(q) + kScoreBlock);
                score_block_structured_on(isa, q, z.data(), rows, out.data(), align_floats(scratch.data()));
              }
              outs.push_back(out);
            }
            for (size_t k = 1; k < outs.size(); ++k)
              CHECK(std::memcmp(outs[k].data(), outs[0].data(), outs[0].size() * sizeof(float)) == 0,
                    "%s D=%lld J=%lld t=%g rows=%lld: instruction set %d differs from the baseline", kind_name(kind),
                    static_cast<long long>(d), static_cast<long long>(jn), t, static_cast<long long>(rows), sets[k]);
          }
        }
        // Non-finite coordinates (a NaN, each infinity) and a row far from every component:
        // every set marks the same entries non-finite (a NaN's sign may differ by set, so those
        // are compared as NaN or not) and gives the same bytes for the rest.
        const double alpha = std::exp(-0.3), sigma2 = 1.0 - std::exp(-0.6);
        std::vector<float> z(16 * d);
        for (auto& x : z) x = static_cast<float>(3.0 * alpha) + normal(rng);
        z[2 * d + d / 2] = std::numeric_limits<float>::quiet_NaN();
        z[5 * d] = std::numeric_limits<float>::infinity();
        z[9 * d + d - 1] = -std::numeric_limits<float>::infinity();
        for (int64_t k = 0; k < d; ++k) z[12 * d + k] = 1.0e4f;
        std::vector<std::vector<float>> outs;
        for (int isa : sets) {
          std::vector<float> out(16 * d);
          if (gm->path() == ScorePath::kDense) {
            const MixtureStep q = gm->prepare(alpha, sigma2);
            std::vector<float> scratch(score_block_scratch(q) + kScoreBlock);
            score_block_on(isa, q, z.data(), 16, out.data(), align_floats(scratch.data()));
          } else {
            const StructuredStep q = gm->prepare_structured(alpha, sigma2, Threads(1, nullptr));
            std::vector<float> scratch(structured_block_scratch(q) + kScoreBlock);
            score_block_structured_on(isa, q, z.data(), 16, out.data(), align_floats(scratch.data()));
          }
          outs.push_back(out);
        }
        for (size_t k = 1; k < outs.size(); ++k)
          for (int64_t i = 0; i < 16 * d; ++i) {
            const float a = outs[k][i], b = outs[0][i];
            CHECK(std::isnan(a) == std::isnan(b) && (std::isnan(a) || std::memcmp(&a, &b, sizeof a) == 0),
                  "%s D=%lld J=%lld non-finite rows: instruction set %d gives %a at %lld, the baseline %a",
                  kind_name(kind), static_cast<long long>(d), static_cast<long long>(jn), sets[k], a,
                  static_cast<long long>(i), b);
          }
        CHECK(std::isnan(outs[0][2 * d]) && std::isfinite(outs[0][12 * d]), "%s D=%lld J=%lld: NaN row, far row",
              kind_name(kind), static_cast<long long>(d), static_cast<long long>(jn));
      }
}

// mixture_simd_avx2.h's operations against mixture_simd.h's, bit for bit (signed zeros and
// which operand a comparison returns included; a NaN result only as a NaN): the AVX2 build of the kernels is the same program only if each operation
// is the same lane by lane. The same calls for both (vocabulary_ops.inc), the AVX2 ones in a
// function of that target.
struct VocabularyOut {
  float ops[12][16];
  float first[16][16];
  float stored[16][16];
  float tile[16][16];
};
namespace vocabulary_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
using namespace simd_avx2;
#include "vocabulary_ops.inc"
#pragma GCC pop_options
}  // namespace vocabulary_avx2

namespace vocabulary_generic {
using namespace simd;
CONDIFF_SIMD_INLINE vf msub(vf a, vf b, vf c) { return msub_baseline(a, b, c); }
CONDIFF_SIMD_INLINE vf load_first(const float* p, int64_t n) { return load_first_portable(p, n); }
CONDIFF_SIMD_INLINE void store_first(float* p, vf v, int64_t n) { store_first_portable(p, v, n); }
#include "vocabulary_ops.inc"
}  // namespace vocabulary_generic

void test_avx2_vocabulary() {
  const std::vector<int> sets = instruction_sets();
  if (!has_set(sets, 1)) {
    std::printf("no AVX2 with FMA: its vocabulary not compared\n");
    return;
  }
  std::mt19937_64 rng(17);
  std::normal_distribution<float> normal;
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // Pairs that tell the operand orders apart: NaN against a number either way, signed zeros,
  // equal values; exponent_scale's integral inputs and a fractional one each side of zero.
  const float special_a[16] = {nan, 1.0f, 0.0f, -0.0f, -nan, 2.0f, -inf, inf, 1.5f, -3.0f, 0x1p-126f, 7.0f, -1.0f, nan, 0.25f, 5.0f};
  const float special_b[16] = {1.0f, nan, -0.0f, 0.0f, 2.0f, -nan, 0.0f, -inf, 1.5f, -3.5f, -0x1p-126f, -7.0f, nan, -nan, 4.0f, -5.0f};
  const float special_c[16] = {0.0f, 1.0f, -1.0f, 127.0f, -126.0f, 10.0f, -10.0f, 2.7f, -2.7f, 0.5f, -0.5f, 64.0f, -87.0f, 3.0f, -3.0f, 100.0f};
  for (int rep = 0; rep < 50; ++rep) {
    float a[16], b[16], c[16], tile[256];
    for (int i = 0; i < 16; ++i) {
      a[i] = rep == 0 ? special_a[i] : normal(rng);
      b[i] = rep == 0 ? special_b[i] : normal(rng);
      c[i] = rep == 0 ? special_c[i] : std::round(normal(rng) * 40.0f) + (rep % 2 ? 0.0f : 0.5f);
    }
    for (float& t : tile) t = normal(rng);
    VocabularyOut want, got;
    vocabulary_generic::vocabulary_ops(a, b, c, tile, &want);
    vocabulary_avx2::vocabulary_ops(a, b, c, tile, &got);
    // Which operand's NaN an addition, a product or a fused multiply-add returns depends on the
    // order the compiler gives them (both sets return a NaN): NaNs are compared as NaN.
    for (int k = 0; k < 12; ++k)
      for (int i = 0; i < 16; ++i) {
        const float w = want.ops[k][i], g = got.ops[k][i];
        CHECK((std::isnan(w) && std::isnan(g)) || std::memcmp(&w, &g, sizeof w) == 0,
              "AVX2 vocabulary operation %d lane %d (rep %d): %a, want %a", k, i, rep, g, w);
      }
    CHECK(std::memcmp(want.first, got.first, sizeof want.first) == 0, "AVX2 load_first (rep %d)", rep);
    CHECK(std::memcmp(want.stored, got.stored, sizeof want.stored) == 0, "AVX2 store_first (rep %d)", rep);
    CHECK(std::memcmp(want.tile, got.tile, sizeof want.tile) == 0, "AVX2 transpose exchanges (rep %d)", rep);
    for (int i = 0; i < 16; ++i)
      for (int p = 0; p < 16; ++p)
        CHECK(std::memcmp(&want.tile[i][p], &tile[16 * p + i], sizeof(float)) == 0, "transpose (%d, %d)", i, p);
  }
}

// The two ways the isotropic, diagonal and shared-diagonal paths form their second product
// (StructuredStep::row_combine: the particles or the coordinates in the lanes) give the same
// bytes on every instruction set, whichever D the kernel would pick for itself: D below, at
// and above kRowCombineMinDim, with and without a masked last vector, chunks of one to five
// vectors, and partial blocks of rows (four particles at a time and the rest one by one).
// By rows is built for AVX-512 only; the other sets compute by lanes whatever the flag, and
// test_instruction_sets compares them with AVX-512's by rows at D = 80.
void test_row_combine() {
  const std::vector<int> sets = instruction_sets();
  std::mt19937_64 rng(11);
  std::normal_distribution<float> normal;
  int64_t compared = 0;
  for (Kind kind : {Kind::kIdentity, Kind::kIsotropic, Kind::kDiagonal, Kind::kSharedDiagonal})
    for (int64_t d : {1, 8, 16, 17, 32, 47, 48, 50, 64, 72, 79, 80, 83, 96, 150, 160, 176, 250})
      for (int64_t jn : {2, 25}) {
        const Spec s = make(kind, d, jn, true, rng);
        auto gm = s.build();
        // D = 1: every diagonal is isotropic.
        ScorePath want = ScorePath::kIsotropic;
        if (d > 1 && kind == Kind::kDiagonal) want = ScorePath::kDiagonal;
        if (d > 1 && kind == Kind::kSharedDiagonal) want = ScorePath::kShared;
        CHECK(gm->path() == want, "%s D=%lld: path %d", kind_name(kind), static_cast<long long>(d),
              static_cast<int>(gm->path()));
        const double t = 0.3, alpha = std::exp(-t), sigma2 = 1.0 - std::exp(-2.0 * t);
        StructuredStep q = gm->prepare_structured(alpha, sigma2, Threads(1, nullptr));
        CHECK(q.row_combine == (d >= kRowCombineMinDim), "D=%lld: row_combine %d", static_cast<long long>(d),
              static_cast<int>(q.row_combine));
        for (int64_t rows : {1, 3, 4, 5, 13, 16}) {
          std::vector<float> z(rows * d);
          for (auto& x : z) x = static_cast<float>(3.0 * alpha) + 2.0f * normal(rng);
          std::vector<float> scratch(structured_block_scratch(q) + kScoreBlock);
          // As the score runs (subnormals flushed, mixture.cc score_rows) and with IEEE
          // subnormals; by rows also in place (out = z), which the kernel allows.
          for (const bool flush : {true, false})
            for (int isa : sets) {
              std::vector<float> by_rows(rows * d), by_lanes(rows * d), in_place(z);
              {
                std::unique_ptr<FlushSubnormals> guard(flush ? new FlushSubnormals : nullptr);
                q.row_combine = true;
                score_block_structured_on(isa, q, z.data(), rows, by_rows.data(), align_floats(scratch.data()));
                score_block_structured_on(isa, q, in_place.data(), rows, in_place.data(), align_floats(scratch.data()));
                q.row_combine = false;
                score_block_structured_on(isa, q, z.data(), rows, by_lanes.data(), align_floats(scratch.data()));
              }
              int64_t differ = 0;
              for (int64_t i = 0; i < rows * d; ++i)
                differ += (std::memcmp(&by_rows[i], &by_lanes[i], sizeof(float)) != 0) +
                          (std::memcmp(&in_place[i], &by_lanes[i], sizeof(float)) != 0);
              CHECK(differ == 0, "%s D=%lld J=%lld rows=%lld set %d flush %d: the two combines differ in %lld entries",
                    kind_name(kind), static_cast<long long>(d), static_cast<long long>(jn), static_cast<long long>(rows),
                    isa, static_cast<int>(flush), static_cast<long long>(differ));
              ++compared;
            }
        }
      }
  std::printf("row combine: %lld blocks compared on %zu instruction sets\n", static_cast<long long>(compared), sets.size());
}

// Two blocks at once (score_pair_structured_on, mixture.cc score_rows' stride) against the
// same set's two single blocks, byte for byte, and in place (out = z): every structured path
// (the isotropic and diagonal ones have pair kernels on AVX-512, the shared one calls the
// single kernel twice), D below and above kRowCombineMinDim, J split into one to four
// register groups (the first also sums ‖z'‖²), second blocks of 1 to 16 rows, subnormals
// flushed and not, and a pair whose second block holds a NaN, an infinity and a far row;
// and each call says a value it wrote is not finite exactly when one is.
void test_pair_blocks() {
  const std::vector<int> sets = instruction_sets();
  std::mt19937_64 rng(12);
  std::normal_distribution<float> normal;
  int64_t compared = 0;
  for (Kind kind : {Kind::kIdentity, Kind::kIsotropic, Kind::kDiagonal, Kind::kSharedDiagonal, Kind::kSharedDense})
    for (int64_t d : {1, 8, 17, 64, 80, 83, 160})
      for (int64_t jn : {2, 9, 25}) {
        const Spec s = make(kind, d, jn, true, rng);
        auto gm = s.build();
        const double t = 0.4, alpha = std::exp(-t), sigma2 = 1.0 - std::exp(-2.0 * t);
        const StructuredStep q = gm->prepare_structured(alpha, sigma2, Threads(1, nullptr));
        std::vector<float> scratch(2 * structured_block_scratch(q) + kScoreBlock);
        for (int64_t rows : {17, 20, 29, 32}) {
          std::vector<float> z(rows * d);
          for (auto& x : z) x = static_cast<float>(3.0 * alpha) + 2.0f * normal(rng);
          if (rows == 29) {
            z[20 * d + d / 2] = std::numeric_limits<float>::quiet_NaN();
            z[22 * d] = std::numeric_limits<float>::infinity();
            for (int64_t k = 0; k < d; ++k) z[25 * d + k] = 1.0e4f;
          }
          for (const bool flush : {true, false})
            for (int isa : sets) {
              std::vector<float> pair(rows * d), single(rows * d), in_place(z);
              bool said[4];  // each call's "a value written is not finite"
              {
                std::unique_ptr<FlushSubnormals> guard(flush ? new FlushSubnormals : nullptr);
                said[0] = score_pair_structured_on(isa, q, z.data(), rows, pair.data(), align_floats(scratch.data()));
                said[1] = score_pair_structured_on(isa, q, in_place.data(), rows, in_place.data(), align_floats(scratch.data()));
                said[2] = score_block_structured_on(isa, q, z.data(), kScoreBlock, single.data(), align_floats(scratch.data()));
                said[3] = score_block_structured_on(isa, q, z.data() + kScoreBlock * d, rows - kScoreBlock,
                                                    single.data() + kScoreBlock * d, align_floats(scratch.data()));
              }
              // Exactly when an output is not finite: here only in the second block of rows = 29.
              bool first_bad = false, second_bad = false;
              for (int64_t i = 0; i < rows * d; ++i)
                (i < kScoreBlock * d ? first_bad : second_bad) |= !std::isfinite(single[i]);
              CHECK(said[0] == (first_bad || second_bad) && said[1] == said[0] && said[2] == first_bad &&
                        said[3] == second_bad && second_bad == (rows == 29) && !first_bad,
                    "%s D=%lld J=%lld rows=%lld set %d: not-finite flags %d %d %d %d, outputs %d %d", kind_name(kind),
                    static_cast<long long>(d), static_cast<long long>(jn), static_cast<long long>(rows), isa, said[0],
                    said[1], said[2], said[3], first_bad, second_bad);
              int64_t differ = 0;
              for (int64_t i = 0; i < rows * d; ++i)
                differ += (std::memcmp(&pair[i], &single[i], sizeof(float)) != 0) +
                          (std::memcmp(&in_place[i], &single[i], sizeof(float)) != 0);
              CHECK(differ == 0, "%s D=%lld J=%lld rows=%lld set %d flush %d: a pair and two blocks differ in %lld entries",
                    kind_name(kind), static_cast<long long>(d), static_cast<long long>(jn), static_cast<long long>(rows),
                    isa, static_cast<int>(flush), static_cast<long long>(differ));
              if (rows == 29)
                CHECK(std::isnan(pair[20 * d]) && std::isfinite(pair[25 * d]) && std::isfinite(pair[0]),
                      "%s D=%lld J=%lld set %d: NaN row, far row", kind_name(kind), static_cast<long long>(d),
                      static_cast<long long>(jn), isa);
              ++compared;
            }
        }
      }
  std::printf("pair blocks: %lld pairs compared on %zu instruction sets\n", static_cast<long long>(compared), sets.size());
}

// Subnormals in the score are read and written as zero (flush_subnormals.h, MATH.md §7): they
// cost a microcode assist per operation on Intel cores. Two cases where IEEE arithmetic
// would give a tiny nonzero entry and the flush gives 0 — the structured path with a
// subnormal coordinate (means ±1, so the centre is 0: IEEE gives −2⁻¹⁴⁰), and the general
// kernel with a far component whose responsibility, exp(−87) / 2, is subnormal (IEEE gives
// that times the mean, ~1.6e−37) — and the caller's control bits are the same after the call
// whichever they were, with the exception flags the score raised kept.
void test_subnormals() {
  Spec pair;
  pair.d = 1;
  pair.jn = 2;
  pair.variances = true;
  pair.w = {1, 1};
  pair.m = {1, -1};
  pair.c = {1, 1};
  auto gm = pair.build();
  CHECK(gm->path() == ScorePath::kIsotropic, "pair: isotropic path");
  const float tiny = 0x1p-140f;
  float out = 1.0f;
  gm->score(&tiny, 1, 0.8, 0.36, &out, 1);
  CHECK(out == 0.0f, "isotropic path, subnormal z: score %a, want 0", out);

  Spec far;
  far.d = 1;
  far.jn = 3;
  far.variances = true;
  far.w = {1, 1, 1};
  far.m = {0, 0, 20};
  far.c = {1, 1, 1};
  auto gf = far.build();
  const float zero = 0.0f;
  out = 1.0f;
  gf->score(&zero, 1, 1.0, 1e-6, &out, 1, ScoreKernel::kGeneral);
  CHECK(out == 0.0f, "general kernel, subnormal responsibility: score %a, want 0", out);

#if defined(__x86_64__)
  const unsigned before = _mm_getcsr();
  for (unsigned state : {before & ~0x8040u, before | 0x8040u}) {
    // Flags clear before the call: the far responsibility's flush raises the underflow flag
    // (bit 4), which nothing before the kernel does.
    state &= ~0x3Fu;
    _mm_setcsr(state);
    gf->score(&zero, 1, 1.0, 1e-6, &out, 1, ScoreKernel::kGeneral);
    CHECK((_mm_getcsr() & 0x10u) != 0, "the score's underflow flag was not kept (MXCSR %#x)", _mm_getcsr());
    gm->score(&tiny, 1, 0.8, 0.36, &out, 1);
    // Bits 6-15 are the controls; bits 0-5 are sticky exception flags the arithmetic may raise.
    CHECK((_mm_getcsr() & 0xFFC0u) == (state & 0xFFC0u), "the score left MXCSR %#x, the caller had %#x", _mm_getcsr(),
          state);
  }
  _mm_setcsr(before);
#endif
}
}  // namespace

int main() {
  test_detection();
  test_paths();
  test_threads_and_non_finite();
  test_instruction_sets();
  test_avx2_vocabulary();
  test_row_combine();
  test_pair_blocks();
  test_subnormals();
  std::printf("%d checks, %d failures\n", counts.checks, counts.failures);
  return counts.failures == 0 ? 0 : 1;
}
