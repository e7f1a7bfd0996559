// The CUDA core against the CPU core (`core_test --gpu`, CTest core_test_gpu): every
// operation on the same inputs, compared bit for bit where both evaluate the same
// shared-header formulas with each operation rounded as written (normals, moves, weights,
// resampling, gather), and to float32 rounding where the order of a sum differs
// (reweighting) or fused multiply-adds are used (the mixture score). Exit 77 (skipped)
// with the reason when no device answers.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "check.h"

#include "device.h"
#include "mixture.h"
#include "normals.h"
#include "particles.h"
#include "resampling.h"
#include "weights.h"

using namespace condiff;

namespace {

CheckCounts counts;
#define GCHECK(cond, ...) CONDIFF_CHECK(counts, cond, __VA_ARGS__)

// CONDIFF_GPU_CHECKS_QUICK=1: the same checks at small sizes only, for runs under
// compute-sanitizer (which slows every kernel by one to two orders of magnitude).
bool quick_mode() {
  const char* q = std::getenv("CONDIFF_GPU_CHECKS_QUICK");
  return q != nullptr && q[0] != '\0' && q[0] != '0';
}

// Device memory holding a copy of a host vector, read back with get().
template <typename T>
struct Dev {
  cuda::Context& ctx;
  cuda::DeviceBuffer buf;
  int64_t n;
  Dev(cuda::Context& c, const std::vector<T>& host) : ctx(c), buf(sizeof(T) * std::max<size_t>(1, host.size())), n(host.size()) {
    ctx.upload(buf.data(), host.data(), sizeof(T) * host.size());
  }
  Dev(cuda::Context& c, int64_t count) : ctx(c), buf(sizeof(T) * std::max<int64_t>(1, count)), n(count) {
    ctx.fill_bytes(buf.data(), 0x7F, sizeof(T) * count);  // poison: unwritten elements show
  }
  T* p() const { return static_cast<T*>(buf.data()); }
  std::vector<T> get() {
    std::vector<T> h(n);
    ctx.download(h.data(), buf.data(), sizeof(T) * n);
    ctx.synchronize();
    return h;
  }
};

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(T) * a.size()) == 0;
}

template <typename T>
int64_t first_difference(const std::vector<T>& a, const std::vector<T>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) return static_cast<int64_t>(i);
  return -1;
}

std::vector<float> cpu_normals(StreamKey s, uint64_t first, int64_t count) {
  std::vector<float> x(count);
  fill_normals(s, first, first + count, x.data());
  return x;
}

struct Problem {
  Batch b;
  std::vector<int32_t> latent, observed, slots;
  std::vector<float> y;  // runs x d_Y
};

Problem make_problem(int64_t runs, int64_t n, int64_t d, std::vector<int32_t> observed) {
  Problem p{{runs, n, d, 3}, {}, observed, std::vector<int32_t>(d), {}};
  std::vector<char> is_obs(d, 0);
  for (int32_t o : observed) is_obs[o] = 1;
  for (int32_t i = 0; i < d; ++i)
    if (!is_obs[i]) p.latent.push_back(i);
  cuda::Context::coordinate_slots(p.latent.data(), p.latent.size(), observed.data(), observed.size(), d,
                                  p.slots.data());
  for (int64_t i = 0; i < runs * static_cast<int64_t>(observed.size()); ++i) p.y.push_back(0.25f * float(i % 7) - 0.5f);
  return p;
}

void check_normals(cuda::Context& ctx) {
  const StreamKey s{0x12345678u, 9, 4, 17, purpose_word(Purpose::kKernelNoise)};
  for (uint64_t first : {uint64_t{0}, uint64_t{3}, uint64_t{64 * 1000 + 5}, (uint64_t{1} << 33) + 1}) {
    const int64_t count = quick_mode() ? 1003 : 100003;
    Dev<float> out(ctx, count);
    ctx.normals(s, first, count, out.p());
    const auto gpu = out.get(), cpu = cpu_normals(s, first, count);
    const int64_t at = first_difference(gpu, cpu);
    GCHECK(at < 0, "normals from element %llu differ at %lld: gpu %.9g cpu %.9g", (unsigned long long)first,
           (long long)at, at < 0 ? 0.0 : gpu[at], at < 0 ? 0.0 : cpu[at]);
  }
}

void check_moves(cuda::Context& ctx) {
  for (int64_t d : {int64_t{3}, int64_t{8}, int64_t{64}}) {
    for (bool with_noise : {true, false}) {
      const std::vector<int32_t> obs = d == 3 ? std::vector<int32_t>{1} : std::vector<int32_t>{0, 5, 2};
      Problem p = make_problem(3, 257, d, obs);
      const int64_t rows = p.b.runs * p.b.particles, count = rows * d;
      Coordinates c{p.latent.data(), (int64_t)p.latent.size(), p.observed.data(), (int64_t)p.observed.size()};
      ctx.begin_operation();
      Dev<int32_t> slots(ctx, p.slots), lat(ctx, p.latent), obsd(ctx, p.observed);
      Dev<float> y(ctx, p.y);
      cuda::DeviceCoordinates dc{slots.p(), lat.p(), (int64_t)p.latent.size(), obsd.p(), (int64_t)p.observed.size()};
      const StreamKey s{77, 1, 0, 12, purpose_word(Purpose::kInitial)};
      // init_state
      std::vector<float> z(count);
      init_state(p.b, c, p.y.data(), s, z.data(), 2);
      Dev<float> zd(ctx, count);
      ctx.init_state(p.b, dc, y.p(), s, zd.p());
      GCHECK(same_bits(zd.get(), z), "init_state D=%lld differs at %lld", (long long)d,
             (long long)first_difference(zd.get(), z));
      // kernel_mean with a made-up score
      std::vector<float> score(count), mu(count);
      for (int64_t i = 0; i < count; ++i) score[i] = std::sin(0.01f * float(i)) * 3.0f;
      kernel_mean_batch(z.data(), score.data(), count, 1.0137, 0.0421, mu.data(), 2);
      Dev<float> scored(ctx, score), mud(ctx, count);
      ctx.kernel_mean(zd.p(), scored.p(), count, 1.0137, 0.0421, mud.p());
      GCHECK(same_bits(mud.get(), mu), "kernel_mean differs");
      // gaussian_y_log_weights
      const double v = 0.037;
      std::vector<double> inc(rows);
      gaussian_y_log_weights(p.b, c, mu.data(), p.y.data(), v, inc.data(), 2);
      Dev<double> incd(ctx, rows);
      ctx.gaussian_y_log_weights(p.b, obsd.p(), p.observed.size(), mud.p(), y.p(), v,
                                 gaussian_log_norm(p.observed.size(), v), incd.p());
      GCHECK(same_bits(incd.get(), inc), "gaussian_y_log_weights differs at %lld",
             (long long)first_difference(incd.get(), inc));
      // propagate with ancestors (and the identity)
      std::vector<int32_t> anc(rows);
      for (int64_t i = 0; i < rows; ++i) anc[i] = int32_t((i * 7919) % p.b.particles);
      Dev<int32_t> ancd(ctx, anc);
      const double noise = with_noise ? 0.31 : 0.0;
      const StreamKey sk{77, 1, 0, 11, purpose_word(Purpose::kKernelNoise)};
      for (bool identity : {false, true}) {
        std::vector<float> out(count);
        propagate(p.b, c, mu.data(), identity ? nullptr : anc.data(), noise, p.y.data(), sk, out.data(), 2);
        Dev<float> outd(ctx, count);
        ctx.propagate(p.b, dc, mud.p(), identity ? nullptr : ancd.p(), noise, y.p(), sk, outd.p());
        GCHECK(same_bits(outd.get(), out), "propagate D=%lld noise %g identity %d differs at %lld", (long long)d,
               noise, int(identity), (long long)first_difference(outd.get(), out));
      }
      // renoise and Langevin (both step rules)
      {
        std::vector<float> zr = z;
        renoise(p.b, c, 0.97, 0.05, p.y.data(), sk, zr.data(), 2);
        Dev<float> zrd(ctx, z);
        ctx.renoise(p.b, dc, 0.97, 0.05, y.p(), sk, zrd.p());
        GCHECK(same_bits(zrd.get(), zr), "renoise D=%lld differs", (long long)d);
        for (int rule : {0, 1}) {
          std::vector<float> zl = z;
          langevin_step(p.b, c, score.data(), rule, rule ? 0.16 : 0.002, 0.9, sk, zl.data(), 2);
          Dev<float> zld(ctx, z);
          ctx.langevin_step(p.b, dc, scored.p(), rule, rule ? 0.16 : 0.002, 0.9, sk, zld.p());
          GCHECK(same_bits(zld.get(), zl), "langevin rule %d D=%lld differs at %lld", rule, (long long)d,
                 (long long)first_difference(zld.get(), zl));
        }
      }
      // prediction_to_score, each parameterisation
      for (int kind : {0, 1, 2}) {
        std::vector<float> out(count);
        prediction_to_score(z.data(), score.data(), count, kind, 0.8, 0.36, out.data(), 2);
        Dev<float> outd(ctx, count);
        ctx.prediction_to_score(zd.p(), scored.p(), count, kind, 0.8, 0.36, outd.p());
        GCHECK(same_bits(outd.get(), out), "prediction_to_score kind %d differs", kind);
      }
      // gather_rows
      {
        std::vector<float> out(rows * d);
        gather_rows(mu.data(), d, anc.data(), rows, out.data(), 2);
        Dev<float> outd(ctx, rows * d);
        ctx.gather_rows(mud.p(), rows, d, ancd.p(), rows, outd.p());
        GCHECK(same_bits(outd.get(), out), "gather_rows D=%lld differs", (long long)d);
      }
    }
  }
  // The forward context path.
  {
    const int64_t runs = 5, d_obs = 6, steps = 40;
    std::vector<float> y0 = {0.5f, -1.0f, 2.0f, 0.0f, 3.5f, -0.25f};
    std::vector<double> a(steps), s2(steps);
    for (int64_t i = 0; i < steps; ++i) a[i] = std::exp(-0.05), s2[i] = 1.0 - std::exp(-0.1);
    const StreamKey s{5, 0, 0, 0, purpose_word(Purpose::kContextPath)};
    std::vector<float> path((steps + 1) * runs * d_obs);
    forward_context_path(y0.data(), d_obs, runs, 2, steps, a.data(), s2.data(), s, path.data(), 2);
    Dev<float> y0d(ctx, y0), pathd(ctx, (steps + 1) * runs * d_obs);
    Dev<double> ad(ctx, a), s2d(ctx, s2);
    ctx.forward_context_path(y0d.p(), d_obs, runs, 2, steps, ad.p(), s2d.p(), s, pathd.p());
    GCHECK(same_bits(pathd.get(), path), "forward_context_path differs");
  }
  // first_non_finite
  {
    std::vector<float> x(1 << 20, 1.0f);
    x[777777] = std::numeric_limits<float>::infinity();
    x[900001] = std::nanf("");
    Dev<float> xd(ctx, x);
    Dev<int64_t> r(ctx, 1);
    ctx.first_non_finite(xd.p(), x.size(), r.p());
    GCHECK(r.get()[0] == 777777, "first_non_finite %lld", (long long)r.get()[0]);
    ctx.first_non_finite(xd.p(), 777777, r.p());
    GCHECK(r.get()[0] == -1, "first_non_finite of a finite prefix %lld", (long long)r.get()[0]);
  }
}

// Log-weights of several kinds: smooth, peaked, with -inf, NaN and trailing zeros.
std::vector<double> log_weights(int kind, int64_t n, uint32_t seed) {
  std::vector<double> lw(n);
  std::vector<float> g = cpu_normals({seed, 0, 0, 0, 99}, 0, n);
  const double ninf = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < n; ++k) {
    switch (kind) {
      case 0: lw[k] = 0.5 * g[k]; break;                           // mild
      case 1: lw[k] = 40.0 * g[k]; break;                          // degenerate: a few particles carry it
      case 2: lw[k] = (k % 5 == 2) ? ninf : 2.0 * g[k]; break;     // zero weights inside
      case 3: lw[k] = (k >= n / 2) ? ninf : g[k]; break;           // trailing zeros
      case 4: lw[k] = -3.7; break;                                 // equal
      default: lw[k] = (k % 11 == 4) ? std::nan("") : g[k]; break; // NaN weighs nothing
    }
  }
  return lw;
}

void check_resampling(cuda::Context& ctx) {
  const ResamplingScheme schemes[] = {ResamplingScheme::kSystematic, ResamplingScheme::kStratified,
                                      ResamplingScheme::kMultinomial, ResamplingScheme::kResidual};
  struct Shape {
    int64_t runs, n;
  } shapes[] = {{1, 1}, {3, 49}, {4, 1000}, {2, 5000}, {1, 300001}};
  for (const Shape& sh : shapes) {
    if (quick_mode() && sh.n > 5000) continue;
    for (int kind = 0; kind < 6; ++kind) {
      for (ResamplingScheme sc : schemes) {
        const Batch b{sh.runs, sh.n, 1, 7};
        std::vector<double> lw;
        for (int64_t r = 0; r < sh.runs; ++r) {
          auto one = log_weights(kind, sh.n, uint32_t(100 * kind + r));
          lw.insert(lw.end(), one.begin(), one.end());
        }
        std::vector<uint8_t> flags(sh.runs, 1);
        if (sh.runs > 2) flags[1] = 0;  // a run that keeps its particles
        const StreamKey s{31, 0, 0, 9, purpose_word(Purpose::kResampling)};
        std::vector<double> lw_cpu = lw;
        std::vector<uint64_t> cdf(lw.size());
        std::vector<int32_t> anc(lw.size(), -1);
        const int64_t bad = resample_batch(b, sc, flags.data(), s, lw_cpu.data(), cdf.data(), anc.data(), 2);
        Dev<double> lwd(ctx, lw);
        Dev<uint8_t> flagsd(ctx, flags), ok(ctx, sh.runs);
        Dev<uint64_t> cdfd(ctx, lw.size());
        Dev<int32_t> ancd(ctx, lw.size());
        const double uniform = -std::log(static_cast<double>(sh.n));
        ctx.resample(b, sc, flagsd.p(), s, lwd.p(), true, uniform, cdfd.p(), ancd.p(), ok.p());
        const auto okh = ok.get();
        int64_t gpu_bad = -1;
        for (int64_t r = 0; r < sh.runs; ++r)
          if (!okh[r] && gpu_bad < 0) gpu_bad = r;
        GCHECK(gpu_bad == bad, "runs %lld n %lld kind %d scheme %d: failing run gpu %lld cpu %lld", (long long)sh.runs,
               (long long)sh.n, kind, int(sc), (long long)gpu_bad, (long long)bad);
        if (bad >= 0) continue;
        const auto ga = ancd.get();
        const int64_t at = first_difference(ga, anc);
        GCHECK(at < 0, "runs %lld n %lld kind %d scheme %d: ancestors differ at %lld (gpu %d cpu %d)",
               (long long)sh.runs, (long long)sh.n, kind, int(sc), (long long)at, at < 0 ? 0 : ga[at],
               at < 0 ? 0 : anc[at]);
        GCHECK(same_bits(lwd.get(), lw_cpu), "log-weights after resampling differ (kind %d scheme %d)", kind, int(sc));
        // The same call again: the same bits (no order-dependent sums on the device).
        Dev<int32_t> again(ctx, lw.size());
        Dev<double> lwd2(ctx, lw);
        ctx.resample(b, sc, flagsd.p(), s, lwd2.p(), true, uniform, cdfd.p(), again.p(), ok.p());
        GCHECK(same_bits(again.get(), ga), "device resampling is not reproducible (scheme %d)", int(sc));
      }
    }
  }
  // Nothing to draw from: every weight -inf, or one +inf.
  {
    const Batch b{2, 4, 1, 0};
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> lw = {-inf, -inf, -inf, -inf, 0.0, inf, 1.0, 2.0};
    Dev<double> lwd(ctx, lw);
    Dev<uint8_t> ok(ctx, 2);
    Dev<uint64_t> cdfd(ctx, 8);
    Dev<int32_t> ancd(ctx, 8);
    ctx.resample(b, ResamplingScheme::kSystematic, nullptr, {1, 0, 0, 0, 0}, lwd.p(), false, 0.0, cdfd.p(), ancd.p(),
                 ok.p());
    const auto okh = ok.get();
    GCHECK(okh[0] == 0 && okh[1] == 0, "undrawable runs reported ok (%d, %d)", okh[0], okh[1]);
  }
}

void check_reweight(cuda::Context& ctx) {
  const Batch b{6, 20000, 1, 0};
  const int64_t rows = b.runs * b.particles;
  std::vector<double> lw(rows, -std::log(double(b.particles))), inc(rows);
  for (int64_t r = 0; r < b.runs; ++r) {
    auto one = log_weights(r % 2, b.particles, 1000 + uint32_t(r));
    std::copy(one.begin(), one.end(), inc.begin() + r * b.particles);
  }
  inc[5 * b.particles + 3] = std::nan("");  // run 5 fails
  // The CPU reference one run at a time: a batch call stops at its first failing run and
  // leaves the others unnormalised, while the device finishes every good run.
  std::vector<double> lw_cpu = lw, ev(b.runs), ess(b.runs);
  std::vector<uint8_t> flags(b.runs);
  for (int64_t r = 0; r < b.runs; ++r) {
    const Batch one{1, b.particles, b.dim, b.run_offset + uint32_t(r)};
    const int64_t o = r * b.particles;
    const int64_t bad = reweight_batch(one, lw_cpu.data() + o, inc.data() + o, 0.5, &ev[r], &ess[r], &flags[r], 2);
    GCHECK(bad == (r == 5 ? 0 : -1), "cpu reweight of run %lld alone returned %lld", (long long)r, (long long)bad);
  }
  Dev<double> lwd(ctx, lw), incd(ctx, inc), evd(ctx, b.runs), essd(ctx, b.runs);
  Dev<uint8_t> flagsd(ctx, b.runs), ok(ctx, b.runs);
  ctx.reweight(b, lwd.p(), incd.p(), 0.5, evd.p(), essd.p(), flagsd.p(), ok.p());
  const auto okh = ok.get(), fh = flagsd.get();
  const auto evh = evd.get(), essh = essd.get(), lwh = lwd.get();
  for (int64_t r = 0; r < b.runs; ++r) {
    GCHECK(okh[r] == (r == 5 ? 0 : 1), "run %lld ok %d", (long long)r, okh[r]);
    if (r == 5) continue;
    GCHECK(std::fabs(evh[r] - ev[r]) <= 1e-12 * std::max(1.0, std::fabs(ev[r])), "evidence run %lld: %.17g vs %.17g",
           (long long)r, evh[r], ev[r]);
    GCHECK(std::fabs(essh[r] - ess[r]) <= 1e-9 * ess[r], "ESS run %lld: %.17g vs %.17g", (long long)r, essh[r], ess[r]);
    GCHECK(fh[r] == flags[r], "flag run %lld", (long long)r);
    double worst = 0;
    for (int64_t k = 0; k < b.particles; ++k) {
      const int64_t i = r * b.particles + k;
      if (std::isfinite(lw_cpu[i])) worst = std::max(worst, std::fabs(lwh[i] - lw_cpu[i]) / std::max(1.0, std::fabs(lw_cpu[i])));
    }
    GCHECK(worst <= 1e-12, "normalised log-weights run %lld: worst relative difference %g", (long long)r, worst);
  }
}

// A failed call leaves no stale error behind: after a refused allocation the next
// operations run and report their own status (common.cuh check() clears the runtime's
// last error before throwing).
void check_errors(cuda::Context& ctx) {
  // compute-sanitizer reports the planted failure as an API error: the quick mode (its
  // runs) leaves it out, so that its error summary counts real faults only.
  if (quick_mode()) return;
  bool threw = false;
  std::string message;
  try {
    cuda::DeviceBuffer huge(size_t{1} << 52);  // 4 PiB: more than any device has
  } catch (const cuda::Error& e) {
    threw = true;
    message = e.what();
  }
  GCHECK(threw, "an impossible cudaMalloc did not throw");
  GCHECK(message.find("cudaMalloc") != std::string::npos, "the allocation error does not name cudaMalloc: %s",
         message.c_str());
  std::printf("an impossible allocation reports: %s\n", message.c_str());
  const StreamKey s{4242u, 1, 2, 3, purpose_word(Purpose::kKernelNoise)};
  const int64_t count = 4099;
  try {
    Dev<float> out(ctx, count);
    ctx.normals(s, 5, count, out.p());
    const auto gpu = out.get(), cpu = cpu_normals(s, 5, count);
    GCHECK(same_bits(gpu, cpu), "normals after a refused allocation differ at %lld",
           (long long)first_difference(gpu, cpu));
  } catch (const std::exception& e) {
    GCHECK(false, "the operation after a refused allocation failed: %s", e.what());
  }
}

void check_mixture(cuda::Context& ctx) {
  struct Case {
    int64_t d, j;
    bool diagonal;
  } cases[] = {{3, 2, false}, {3, 4, true}, {64, 2, false}, {64, 8, true}, {100, 3, false}, {130, 2, false}, {130, 2, true}};
  for (const Case& cs : cases) {
    const int64_t d = cs.d, jn = cs.j;
    std::vector<double> w(jn), m(jn * d), cov(cs.diagonal ? jn * d : jn * d * d, 0.0);
    for (int64_t j = 0; j < jn; ++j) {
      w[j] = 1.0 + j;
      for (int64_t i = 0; i < d; ++i) m[j * d + i] = std::sin(1.0 + i + 3.0 * j);
      if (cs.diagonal) {
        for (int64_t i = 0; i < d; ++i) cov[j * d + i] = 0.5 + 0.1 * ((i + j) % 5);
      } else {
        for (int64_t a = 0; a < d; ++a)
          for (int64_t c = 0; c < d; ++c) cov[(j * d + a) * d + c] = (a == c ? 1.0 + 0.1 * j : 0.3 / (1.0 + std::fabs(double(a - c))));
      }
    }
    std::string error;
    auto gm = GaussianMixture::create(d, jn, w.data(), m.data(), cov.data(), cs.diagonal, &error);
    GCHECK(gm != nullptr, "mixture: %s", error.c_str());
    if (!gm) continue;
    const int64_t rows = 1000;
    std::vector<float> z = cpu_normals({3, 0, 0, 0, 1}, 0, rows * d), out(rows * d);
    for (double alpha : {0.9, 0.05}) {
      const double sigma2 = 1.0 - alpha * alpha;
      gm->score(z.data(), rows, alpha, sigma2, out.data(), 2);
      ctx.begin_operation();
      Dev<float> zd(ctx, z), outd(ctx, rows * d);
      ctx.mixture_score(gm->prepare(alpha, sigma2), zd.p(), rows, outd.p());
      const auto g = outd.get();
      double worst = 0, scale = 0;
      for (int64_t i = 0; i < rows * d; ++i) scale = std::max(scale, double(std::fabs(out[i])));
      for (int64_t i = 0; i < rows * d; ++i) worst = std::max(worst, double(std::fabs(g[i] - out[i])));
      GCHECK(worst <= 2e-4 * std::max(1.0, scale), "mixture D=%lld J=%lld diag %d alpha %g: worst |gpu - cpu| %g (scale %g)",
             (long long)d, (long long)jn, int(cs.diagonal), alpha, worst, scale);
    }
  }
}

// The structured paths (mixture_structure.h) on the device against the CPU's structured
// score and its general kernel: identity covariances as matrices (isotropic), one dense or
// diagonal covariance shared by all components (shared), per-component variances (diagonal).
void check_mixture_structured(cuda::Context& ctx) {
  enum Form { kIdentity, kSharedDense, kSharedDiagonal, kDiagonal };
  struct Case {
    int64_t d, j;
    Form form;
    ScorePath path;
  } cases[] = {{3, 4, kIdentity, ScorePath::kIsotropic},        {80, 25, kIdentity, ScorePath::kIsotropic},
               {800, 25, kIdentity, ScorePath::kIsotropic},     {5, 3, kSharedDense, ScorePath::kShared},
               {80, 25, kSharedDense, ScorePath::kShared},      {40, 6, kSharedDiagonal, ScorePath::kShared},
               {7, 3, kDiagonal, ScorePath::kDiagonal},         {80, 25, kDiagonal, ScorePath::kDiagonal}};
  for (const Case& cs : cases) {
    const int64_t d = cs.d, jn = cs.j;
    const bool variances = cs.form == kSharedDiagonal || cs.form == kDiagonal;
    std::vector<double> w(jn), m(jn * d), cov(variances ? jn * d : jn * d * d, 0.0);
    for (int64_t j = 0; j < jn; ++j) {
      w[j] = 1.0 + j % 3;
      for (int64_t i = 0; i < d; ++i) m[j * d + i] = 3.0 * std::sin(1.0 + i + 3.0 * j);
      for (int64_t a = 0; a < d; ++a) {
        if (cs.form == kSharedDiagonal) cov[j * d + a] = 0.5 + 0.1 * (a % 5);
        if (cs.form == kDiagonal) cov[j * d + a] = 0.5 + 0.1 * ((a + j) % 5);
        if (cs.form == kIdentity) cov[(j * d + a) * d + a] = 1.0;
        if (cs.form == kSharedDense)
          for (int64_t c = 0; c < d; ++c) cov[(j * d + a) * d + c] = (a == c ? 1.0 : 0.3 / (1.0 + std::fabs(double(a - c))));
      }
    }
    std::string error;
    auto gm = GaussianMixture::create(d, jn, w.data(), m.data(), cov.data(), variances, &error);
    GCHECK(gm != nullptr, "mixture: %s", error.c_str());
    if (!gm) continue;
    GCHECK(gm->path() == cs.path, "structured D=%lld J=%lld form %d: path %s, expected %s", (long long)d, (long long)jn,
           int(cs.form), score_path_name(gm->path()), score_path_name(cs.path));
    const int64_t rows = d >= 800 ? 200 : 1000;
    std::vector<float> z = cpu_normals({5, 0, 0, 0, 1}, 0, rows * d), out(rows * d), general(rows * d);
    for (float& v : z) v *= 3.0f;
    for (double alpha : {0.9, 0.05}) {
      const double sigma2 = 1.0 - alpha * alpha;
      gm->score(z.data(), rows, alpha, sigma2, out.data(), 2);
      gm->score(z.data(), rows, alpha, sigma2, general.data(), 2, ScoreKernel::kGeneral);
      ctx.begin_operation();
      Dev<float> zd(ctx, z), outd(ctx, rows * d);
      ctx.mixture_score_structured(gm->prepare_structured(alpha, sigma2, 2), zd.p(), rows, outd.p());
      const auto g = outd.get();
      double worst = 0, worst_general = 0, scale = 0;
      for (int64_t i = 0; i < rows * d; ++i) scale = std::max(scale, double(std::fabs(out[i])));
      for (int64_t i = 0; i < rows * d; ++i) {
        worst = std::max(worst, double(std::fabs(g[i] - out[i])));
        worst_general = std::max(worst_general, double(std::fabs(g[i] - general[i])));
      }
      GCHECK(worst <= 2e-4 * std::max(1.0, scale) && worst_general <= 2e-4 * std::max(1.0, scale),
             "structured D=%lld J=%lld path %s alpha %g: worst |gpu - cpu| %g, |gpu - cpu general| %g (scale %g)",
             (long long)d, (long long)jn, score_path_name(cs.path), alpha, worst, worst_general, scale);
    }
  }
}

// Downloads into pageable memory through the context's bounded page-locked chunk
// (download_pageable): every size around the chunk's, several in a row (the chunk reused),
// and stream order kept: a write to the source enqueued after a download does not reach it.
void check_pageable_download(cuda::Context& ctx) {
  const int64_t chunk = int64_t(cuda::Context::kHostChunkBytes / sizeof(float));
  std::vector<int64_t> sizes = {1, 1000, chunk - 1, chunk, chunk + 1, 2 * chunk + chunk / 2 + 3};
  if (quick_mode()) sizes = {1, 1000, chunk + 1};
  for (int64_t n : sizes) {
    std::vector<float> a(n), b(n);
    for (int64_t i = 0; i < n; ++i) a[i] = float(i) * 0.5f + 1.0f, b[i] = -float(i) - 3.0f;
    Dev<float> da(ctx, a), db(ctx, b);
    std::vector<float> ha(n, 0.0f), hb(n, 0.0f);
    ctx.download_pageable(ha.data(), da.p(), sizeof(float) * n);
    ctx.download_pageable(hb.data(), db.p(), sizeof(float) * n);
    ctx.fill_bytes(da.p(), 0, sizeof(float) * n);  // after the downloads in stream order
    ctx.synchronize();
    GCHECK(same_bits(ha, a), "download_pageable of %lld floats differs at %lld", (long long)n,
           (long long)first_difference(ha, a));
    GCHECK(same_bits(hb, b), "a second download_pageable of %lld floats differs at %lld", (long long)n,
           (long long)first_difference(hb, b));
  }
}

// A sticky failure (a trapping kernel) is reported as a LostError naming it, and the
// context then refuses every call with that cause. Last: the process cannot use the
// device afterwards. Left out of the quick mode (compute-sanitizer reports the trap).
void check_lost_context(cuda::Context& ctx) {
  if (quick_mode()) return;
  GCHECK(ctx.lost().empty(), "the context is lost before the trap: %s", ctx.lost().c_str());
  std::string first;
  try {
    ctx.trap_for_tests();
    ctx.synchronize();
  } catch (const cuda::LostError& e) {
    first = e.what();
  } catch (const std::exception& e) {
    GCHECK(false, "the trap gave an error that is not a LostError: %s", e.what());
  }
  std::printf("a trapped kernel reports: %s\n", first.c_str());
  GCHECK(first.find("restart the process") != std::string::npos, "the sticky error does not say so: %s", first.c_str());
  const std::string cause = ctx.lost();
  GCHECK(!cause.empty() && first.find(cause) == 0, "lost() is not the failure's cause: '%s'", cause.c_str());
  std::string refused;
  try {
    ctx.begin_operation();
  } catch (const cuda::LostError& e) {
    refused = e.what();
  }
  std::printf("the next call is refused with: %s\n", refused.c_str());
  GCHECK(refused.find("refuses further calls") != std::string::npos && refused.find(cause) != std::string::npos,
         "the call after the failure is not refused with its cause: '%s'", refused.c_str());
}

}  // namespace

int run_gpu_checks() {
  const cuda::DeviceQuery q = cuda::query_device();
  if (!q.available) {
    std::printf("GPU checks skipped: %s\n", q.reason.c_str());
    return 77;
  }
  std::printf("GPU checks on %s (compute capability %d.%d, %d SMs, %.1f GiB)\n", q.name.c_str(), q.major, q.minor,
              q.multiprocessors, double(q.total_memory) / (1u << 30));
  // The query creates no context (a CPU-only process with the addon loaded leaves the
  // device alone); asking for the free memory does.
  GCHECK(q.primary_context_active == 0, "after query_device() the primary context state is %d (want 0)",
         q.primary_context_active);
  const cuda::DeviceQuery measured = cuda::query_device(true);
  GCHECK(measured.has_free_memory && measured.free_memory > 0, "query_device(true) measured no free memory");
  GCHECK(measured.primary_context_active == 1, "after query_device(true) the primary context state is %d (want 1)",
         measured.primary_context_active);
  try {
    cuda::Context ctx;
    // Each group on its own: an exception in one (a CUDA error) is reported and the
    // others still run, unless the device is lost (then every later call says so).
    const struct {
      const char* name;
      void (*run)(cuda::Context&);
    } groups[] = {{"normals", check_normals},     {"moves", check_moves},   {"resampling", check_resampling},
                  {"reweight", check_reweight},   {"errors", check_errors}, {"mixture", check_mixture},
                  {"mixture-structured", check_mixture_structured},
                  {"pageable download", check_pageable_download},
                  {"lost context", check_lost_context}};  // last: it loses the device
    for (const auto& g : groups) {
      const int before = counts.failures;
      try {
        g.run(ctx);
        if (ctx.lost().empty()) ctx.synchronize();  // a lost context has said why already
      } catch (const std::exception& e) {
        std::printf("FAIL %s: exception: %s\n", g.name, e.what());
        ++counts.failures;
      }
      std::printf("group %s: %s\n", g.name, counts.failures == before ? "ok" : "FAILED");
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    ++counts.failures;
  }
  std::printf("%d GPU checks, %d failures\n", counts.checks, counts.failures);
  return counts.failures == 0 ? 0 : 1;
}
