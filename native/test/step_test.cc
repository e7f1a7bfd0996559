// C++ tests of the per-run keys (batch.h), the fused bootstrap and move steps and the output
// choice (smc_step.h), and parallel loops when the system refuses to start threads
// (parallel.h, worker_pool.h). Part of core_test (core_test.cc calls run_step_tests).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "check.h"

#include "batch.h"
#include "finite.h"
#include "parallel.h"
#include "particles.h"
#include "resampling.h"
#include "rng.h"
#include "smc_step.h"
#include "worker_pool.h"

using namespace condiff;

namespace {

CheckCounts* counts = nullptr;
#define CHECK(cond, ...) CONDIFF_CHECK(*counts, cond, __VA_ARGS__)

constexpr int64_t kN = 300, kD = 5, kSteps = 3;
const std::vector<int32_t> kLatent = {0, 2, 3}, kObserved = {1, 4};
const Coordinates kCoords{kLatent.data(), 3, kObserved.data(), 2};

template <typename T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Run r's slice of a runs x `per_run` array.
template <typename T>
std::vector<T> run_slice(const std::vector<T>& v, int64_t runs, int64_t r) {
  const int64_t per_run = static_cast<int64_t>(v.size()) / runs;
  return std::vector<T>(v.begin() + r * per_run, v.begin() + (r + 1) * per_run);
}

// What every batched operation writes for a batch, run by run where the layout allows.
struct Trace {
  std::vector<float> init, propagated, langevin_gamma, langevin_snr, renoised, stepped;
  std::vector<float> path;  // (kSteps + 1) x runs x d_Y
  std::vector<int32_t> ancestors, chosen;
  std::vector<double> step_weights;
  StepResult step, choice;
};

// Every randomised operation of particles.h and smc_step.h on one batch whose run r has
// context y[r] (runs x d_Y); inputs other than the draws depend only on the run's own data,
// so a run's outputs depend only on its key, its run word and its context.
Trace trace(const Batch& b, const StreamKey& base, const std::vector<float>& y, const Threads& threads) {
  const int64_t rows = b.runs * b.particles, elems = rows * b.dim;
  Trace t;
  StreamKey s = base;
  s.purpose = purpose_word(Purpose::kInitial);
  t.init.resize(elems);
  init_state(b, kCoords, y.data(), s, t.init.data(), threads);
  const std::vector<float> y0 = {0.25f, -1.5f};
  const std::vector<double> alpha = {0.9, 0.8, 0.7}, sigma2 = {0.19, 0.36, 0.51};
  t.path.resize((kSteps + 1) * b.runs * 2);
  s.purpose = purpose_word(Purpose::kContextPath);
  forward_context_path(y0.data(), 2, b.runs, b.run_offset, kSteps, alpha.data(), sigma2.data(), s, t.path.data(),
                       threads, b.run_keys);
  std::vector<float> score(elems);
  for (int64_t i = 0; i < elems; ++i) score[i] = -0.5f * t.init[i];
  // Weights from the particles (a Gaussian potential), so resampling has work to do.
  std::vector<double> lw(rows, -std::log(double(b.particles))), inc(rows), ev(b.runs), ess(b.runs);
  std::vector<uint8_t> flags(b.runs);
  std::vector<uint64_t> cdf(rows);
  gaussian_y_log_weights(b, kCoords, t.init.data(), y.data(), 0.4, inc.data(), threads);
  reweight_batch(b, lw.data(), inc.data(), 1.0, ev.data(), ess.data(), flags.data(), threads);
  t.ancestors.resize(rows);
  s.step = 7;
  s.purpose = purpose_word(Purpose::kResampling);
  resample_batch(b, ResamplingScheme::kResidual, flags.data(), s, lw.data(), cdf.data(), t.ancestors.data(), threads);
  t.propagated.resize(elems);
  s.purpose = purpose_word(Purpose::kKernelNoise);
  propagate(b, kCoords, t.init.data(), t.ancestors.data(), 0.3, y.data(), s, t.propagated.data(), threads);
  s.purpose = purpose_word(Purpose::kLangevin, 2);
  t.langevin_gamma = t.propagated;
  langevin_step(b, kCoords, score.data(), 0, 0.01, 0.0, s, t.langevin_gamma.data(), threads);
  t.langevin_snr = t.propagated;
  langevin_step(b, kCoords, score.data(), 1, 0.16, 0.81, s, t.langevin_snr.data(), threads);
  s.purpose = purpose_word(Purpose::kRepaintNoise, 1);
  t.renoised = t.propagated;
  renoise(b, kCoords, 0.95, 0.0975, y.data(), s, t.renoised.data(), threads);
  // The fused step on the propagated state, and the output choice after it.
  t.stepped = t.propagated;
  std::vector<float> mu(elems);
  for (int64_t i = 0; i < elems; ++i) score[i] = -0.5f * t.stepped[i];
  t.step_weights.assign(rows, -std::log(double(b.particles)));
  std::vector<int32_t> anc(rows);
  BootstrapArrays x{t.stepped.data(), score.data(), mu.data(),   y.data(),   t.step_weights.data(), inc.data(),
                    ev.data(),        ess.data(),   flags.data(), cdf.data(), anc.data()};
  StreamKey rs = base, ks = base;
  rs.step = ks.step = 3;
  rs.purpose = purpose_word(Purpose::kResampling);
  ks.purpose = purpose_word(Purpose::kKernelNoise);
  t.step = bootstrap_step(b, kCoords, x, {0.98, 0.02, 0.4, 1.0, ResamplingScheme::kSystematic, rs, 0.1, ks}, threads);
  t.chosen.assign(b.runs, -1);
  s.step = 0;
  s.purpose = purpose_word(Purpose::kOutputChoice);
  t.choice = choose_by_weight(b, t.step_weights.data(), s, t.chosen.data());
  return t;
}

// The path of run r: (kSteps + 1) x d_Y.
std::vector<float> path_of(const Trace& t, int64_t runs, int64_t r) {
  std::vector<float> p;
  for (int64_t i = 0; i <= kSteps; ++i)
    for (int64_t j = 0; j < 2; ++j) p.push_back(t.path[(i * runs + r) * 2 + j]);
  return p;
}

// Run r of `t` (a batch of `runs`) is run `q` of `u` (a batch of `u_runs`), byte for byte.
void check_same_run(const Trace& t, int64_t runs, int64_t r, const Trace& u, int64_t u_runs, int64_t q,
                    const char* what) {
  CHECK(same_bytes(run_slice(t.init, runs, r), run_slice(u.init, u_runs, q)), "%s: initState", what);
  CHECK(same_bytes(path_of(t, runs, r), path_of(u, u_runs, q)), "%s: forwardContextPath", what);
  CHECK(same_bytes(run_slice(t.ancestors, runs, r), run_slice(u.ancestors, u_runs, q)), "%s: resampleBatch", what);
  CHECK(same_bytes(run_slice(t.propagated, runs, r), run_slice(u.propagated, u_runs, q)), "%s: propagate", what);
  CHECK(same_bytes(run_slice(t.langevin_gamma, runs, r), run_slice(u.langevin_gamma, u_runs, q)), "%s: langevin",
        what);
  CHECK(same_bytes(run_slice(t.langevin_snr, runs, r), run_slice(u.langevin_snr, u_runs, q)), "%s: langevin snr",
        what);
  CHECK(same_bytes(run_slice(t.renoised, runs, r), run_slice(u.renoised, u_runs, q)), "%s: renoise", what);
  CHECK(same_bytes(run_slice(t.stepped, runs, r), run_slice(u.stepped, u_runs, q)), "%s: bootstrap_step", what);
  CHECK(same_bytes(run_slice(t.step_weights, runs, r), run_slice(u.step_weights, u_runs, q)),
        "%s: bootstrap_step weights", what);
  CHECK(t.chosen[r] == u.chosen[q], "%s: choose_by_weight %d vs %d", what, t.chosen[r], u.chosen[q]);
}

StreamKey seed_key(uint64_t seed) {
  return {static_cast<uint32_t>(seed & 0xFFFFFFFFu), static_cast<uint32_t>(seed >> 32), 0, 0, 0};
}

void test_run_keys() {
  const uint64_t seed = 3 * (uint64_t{1} << 32) + 11;  // both key words in use
  const int64_t runs = 3;
  std::vector<float> y(runs * 2);
  for (size_t i = 0; i < y.size(); ++i) y[i] = 0.1f * static_cast<float>(i) - 0.2f;
  for (int threads : {1, 3}) {
    // A table equal to (seed, runOffset + r) draws what no table draws.
    const Batch plain{runs, kN, kD, 7};
    std::vector<uint32_t> keys;
    for (int64_t r = 0; r < runs; ++r) keys.insert(keys.end(), {uint32_t(seed), uint32_t(seed >> 32), uint32_t(7 + r)});
    Batch keyed = plain;
    keyed.run_keys = keys.data();
    const Trace a = trace(plain, seed_key(seed), y, threads), b = trace(keyed, seed_key(seed), y, threads);
    for (int64_t r = 0; r < runs; ++r) check_same_run(a, runs, r, b, runs, r, "table = (seed, runOffset + r)");
    CHECK(a.step.status == StepStatus::kOk && b.step.status == StepStatus::kOk, "steps ok");
    CHECK(a.choice.status == StepStatus::kOk && a.choice.index == -1, "choice ok");
    // The stream's own key is ignored when there is a table.
    const Trace c = trace(keyed, seed_key(999), y, threads);
    for (int64_t r = 0; r < runs; ++r) check_same_run(a, runs, r, c, runs, r, "table overrides stream.seed");
  }
  // Two seeds in one batch: each run draws what its own batch draws.
  const uint64_t seed_a = 42, seed_b = (uint64_t{1} << 40) + 5;
  const std::vector<float> ya = {0.5f, -0.25f}, yb = {-1.0f, 2.0f};
  const std::vector<uint32_t> keys = {uint32_t(seed_a), uint32_t(seed_a >> 32), 5,
                                      uint32_t(seed_b), uint32_t(seed_b >> 32), 9};
  Batch both{2, kN, kD, 0};
  both.run_keys = keys.data();
  std::vector<float> y2 = ya;
  y2.insert(y2.end(), yb.begin(), yb.end());
  const Trace t = trace(both, seed_key(0), y2, 2);
  const Trace ta = trace(Batch{1, kN, kD, 5}, seed_key(seed_a), ya, 2);
  const Trace tb = trace(Batch{1, kN, kD, 9}, seed_key(seed_b), yb, 2);
  check_same_run(t, 2, 0, ta, 1, 0, "run 0 of a shared batch = its own batch");
  check_same_run(t, 2, 1, tb, 1, 0, "run 1 of a shared batch = its own batch");
  CHECK(!same_bytes(run_slice(t.init, 2, 0), run_slice(t.init, 2, 1)), "the two runs differ");
}

void test_bootstrap_step() {
  const int64_t runs = 2, rows = runs * kN, elems = rows * kD;
  const Batch b{runs, kN, kD, 3};
  std::vector<float> y = {0.5f, -0.25f, 1.0f, 0.0f}, z(elems), score(elems), mu(elems);
  StreamKey s{5, 0, 0, 4, purpose_word(Purpose::kInitial)};
  init_state(b, kCoords, y.data(), s, z.data(), 2);
  for (int64_t i = 0; i < elems; ++i) score[i] = -0.5f * z[i];
  StreamKey rs = s, ks = s;
  rs.purpose = purpose_word(Purpose::kResampling);
  ks.purpose = purpose_word(Purpose::kKernelNoise);
  const BootstrapParams p{0.98, 0.02, 0.4, 0.5, ResamplingScheme::kStratified, rs, 0.1, ks};
  // The five calls it fuses, on copies.
  std::vector<float> z2 = z, mu2(elems);
  std::vector<double> lw2(rows, -std::log(double(kN))), inc2(rows), ev2(runs), ess2(runs);
  std::vector<uint8_t> flags2(runs);
  std::vector<uint64_t> cdf2(rows);
  std::vector<int32_t> anc2(rows);
  CHECK(kernel_mean_batch(z2.data(), score.data(), elems, p.a, p.b, mu2.data(), 2) == -1, "mean");
  gaussian_y_log_weights(b, kCoords, mu2.data(), y.data(), p.variance, inc2.data(), 2);
  CHECK(reweight_batch(b, lw2.data(), inc2.data(), p.ess_threshold, ev2.data(), ess2.data(), flags2.data(), 2) == -1,
        "reweight");
  bool any = false;
  for (uint8_t f : flags2) any = any || f;
  if (any) CHECK(resample_batch(b, p.scheme, flags2.data(), rs, lw2.data(), cdf2.data(), anc2.data(), 2) == -1, "rs");
  propagate(b, kCoords, mu2.data(), any ? anc2.data() : nullptr, p.noise_scale, y.data(), ks, z2.data(), 2);
  // The fused step, with mu computed in place in the score buffer.
  std::vector<double> lw(rows, -std::log(double(kN))), inc(rows), ev(runs), ess(runs);
  std::vector<uint8_t> flags(runs);
  std::vector<uint64_t> cdf(rows);
  std::vector<int32_t> anc(rows);
  std::vector<float> g = score;
  const BootstrapArrays x{z.data(), g.data(),   g.data(),     y.data(),   lw.data(), inc.data(),
                          ev.data(), ess.data(), flags.data(), cdf.data(), anc.data()};
  const StepResult r = bootstrap_step(b, kCoords, x, p, 2);
  CHECK(r.status == StepStatus::kOk && r.index == -1, "bootstrap_step ok: status %d index %lld", int(r.status),
        (long long)r.index);
  CHECK(same_bytes(z, z2) && same_bytes(lw, lw2) && same_bytes(ev, ev2) && same_bytes(ess, ess2) &&
            same_bytes(flags, flags2),
        "bootstrap_step = the five calls, bit for bit");
  // Typed failures, with what they concern; a step whose every run fails at its mean leaves z as it was.
  std::vector<float> huge(elems, 3e38f), z_before = z;
  const BootstrapArrays xh{z.data(), huge.data(), mu.data(), y.data(), lw.data(), inc.data(),
                           ev.data(), ess.data(), flags.data(), cdf.data(), anc.data()};
  const StepResult over = bootstrap_step(b, kCoords, xh, {1.0, 10.0, 0.4, 0.5, p.scheme, rs, 0.1, ks}, 2);
  CHECK(over.status == StepStatus::kKernelMeanNotFinite && over.index == 0, "overflowing mean: %d at %lld",
        int(over.status), (long long)over.index);
  CHECK(same_bytes(z, z_before), "z unchanged after a failed step");
  std::fill(lw.begin() + kN, lw.end(), -std::numeric_limits<double>::infinity());  // run 1 has no weight
  std::vector<float> g2 = score;
  const BootstrapArrays xd{z.data(), g2.data(), mu.data(), y.data(), lw.data(), inc.data(),
                           ev.data(), ess.data(), flags.data(), cdf.data(), anc.data()};
  const StepResult degenerate = bootstrap_step(b, kCoords, xd, p, 2);
  CHECK(degenerate.status == StepStatus::kWeightsDegenerate && degenerate.index == 1, "degenerate run: %d at %lld",
        int(degenerate.status), (long long)degenerate.index);
  std::vector<int32_t> chosen(runs, -1);
  const StepResult choice = choose_by_weight(b, lw.data(), s, chosen.data());
  CHECK(choice.status == StepStatus::kWeightsDegenerate && choice.index == 1 && chosen[0] >= 0 && chosen[0] < kN,
        "choose_by_weight names run 1");
}

// A batch for the fused-step comparisons: every third coordinate observed, per-run keys
// when asked (else run words from 3), each run's context, and the initial state drawn.
struct StepFixture {
  std::vector<int32_t> latent, observed;
  std::vector<uint32_t> table;
  Coordinates c;
  Batch b;
  std::vector<float> y, z;
  StreamKey s{5, 0, 0, 1, purpose_word(Purpose::kInitial)};

  StepFixture(int64_t D, int64_t n, int64_t runs, bool keys, int threads) : table(kRunKeyWords * runs) {
    for (int32_t j = 0; j < D; ++j) (j % 3 == 1 ? observed : latent).push_back(j);
    c = {latent.data(), static_cast<int64_t>(latent.size()), observed.data(), static_cast<int64_t>(observed.size())};
    for (int64_t r = 0; r < runs; ++r) {
      table[3 * r] = static_cast<uint32_t>(7 + r);
      table[3 * r + 1] = static_cast<uint32_t>(r % 3);
      table[3 * r + 2] = static_cast<uint32_t>(100 + r);
    }
    b = Batch{runs, n, D, 3, keys ? table.data() : nullptr};
    y.resize(runs * observed.size());
    for (size_t i = 0; i < y.size(); ++i) y[i] = 0.1f * float(i % 7) - 0.3f;
    z.resize(runs * n * D);
    init_state(b, c, y.data(), s, z.data(), threads);
  }
};

// bootstrap_step takes a run at a time through every stage when a run's means fit a
// worker's buffer (smc_step.cc), else each stage over the batch. Both give the five calls'
// bits, on batches that take each path: some runs resampled and some not, per-run keys,
// the noiseless last step, every scheme, one to three threads.
void compare_with_five_calls(int64_t D, int64_t n, int64_t runs, double tau, double noise, ResamplingScheme scheme,
                             bool keys, int threads) {
  StepFixture f(D, n, runs, keys, threads);
  const Coordinates& c = f.c;
  const Batch& b = f.b;
  const StreamKey& s = f.s;
  std::vector<float>&y = f.y, &z = f.z;
  const int64_t rows = runs * n, elems = rows * D;
  std::vector<float> score(elems);
  // Odd runs' scores spread their particles' weights (resampled at tau < 1), even runs' barely.
  for (int64_t i = 0; i < elems; ++i) score[i] = -0.7f * z[i] + ((i / (n * D)) % 2 ? 3.0f : 0.01f) * std::sin(float(i));
  StreamKey rs = s, ks = s;
  rs.purpose = purpose_word(Purpose::kResampling);
  ks.purpose = purpose_word(Purpose::kKernelNoise);
  const BootstrapParams p{0.97, 0.05, tau < 1.0 ? 0.02 : 0.3, tau, scheme, rs, noise, ks};
  std::vector<double> lw0(rows);
  for (int64_t i = 0; i < rows; ++i) lw0[i] = -std::log(double(n)) + 0.001 * double(i % 5);
  std::vector<float> z2 = z, mu2(elems);
  std::vector<double> lw2 = lw0, inc2(rows), ev2(runs), ess2(runs);
  std::vector<uint8_t> flags2(runs);
  std::vector<uint64_t> cdf2(rows);
  std::vector<int32_t> anc2(rows, -1);
  kernel_mean_batch(z2.data(), score.data(), elems, p.a, p.b, mu2.data(), threads);
  gaussian_y_log_weights(b, c, mu2.data(), y.data(), p.variance, inc2.data(), threads);
  reweight_batch(b, lw2.data(), inc2.data(), tau, ev2.data(), ess2.data(), flags2.data(), threads);
  int resampled = 0;
  for (uint8_t f : flags2) resampled += f;
  if (resampled > 0) resample_batch(b, scheme, flags2.data(), rs, lw2.data(), cdf2.data(), anc2.data(), threads);
  propagate(b, c, mu2.data(), resampled > 0 ? anc2.data() : nullptr, noise, y.data(), ks, z2.data(), threads);
  std::vector<double> lw = lw0, inc(rows), ev(runs), ess(runs);
  std::vector<uint8_t> flags(runs);
  std::vector<uint64_t> cdf(rows);
  std::vector<int32_t> anc(rows, -1);
  std::vector<float> g = score;
  const BootstrapArrays x{z.data(),  g.data(),   g.data(),     y.data(),   lw.data(), inc.data(),
                          ev.data(), ess.data(), flags.data(), cdf.data(), anc.data()};
  const StepResult r = bootstrap_step(b, c, x, p, threads);
  const bool same = r.status == StepStatus::kOk && same_bytes(z, z2) && same_bytes(lw, lw2) && same_bytes(inc, inc2) &&
                    same_bytes(ev, ev2) && same_bytes(ess, ess2) && same_bytes(flags, flags2) &&
                    (resampled == 0 || same_bytes(anc, anc2));
  CHECK(same, "bootstrap_step differs from the five calls: D %lld, %lld x %lld, tau %g, noise %g, scheme %d, keys %d, %d threads",
        (long long)D, (long long)n, (long long)runs, tau, noise, int(scheme), int(keys), threads);
  if (tau < 1.0) CHECK(resampled > 0 && resampled < runs, "some runs resampled, not all: %d of %lld", resampled, (long long)runs);
}

void test_bootstrap_step_paths() {
  for (int threads : {1, 2, 3})
    for (ResamplingScheme scheme : {ResamplingScheme::kSystematic, ResamplingScheme::kStratified,
                                    ResamplingScheme::kMultinomial, ResamplingScheme::kResidual}) {
      compare_with_five_calls(80, 16, 24, 1.0, 0.1, scheme, false, threads);   // run by run
      compare_with_five_calls(8, 256, 30, 0.995, 0.1, scheme, true, threads);  // run by run, some resampled
      compare_with_five_calls(7, 1000, 9, 0.99, 0.0, scheme, true, threads);   // run by run, noiseless
      compare_with_five_calls(5, 30000, 2, 0.99, 0.1, scheme, false, threads);  // the batch path (runs too large)
      compare_with_five_calls(3, 16, 40, 0.99, 0.1, scheme, false, threads);    // the batch path (runs too small)
    }
  // Failures are the batch path's whichever run meets them first: a non-finite mean in run 1
  // outranks run 0's weights, which outrank a later run's.
  const int64_t runs = 3, rows = runs * kN, elems = rows * kD;
  const Batch b{runs, kN, kD, 3};
  std::vector<float> y = {0.5f, -0.25f, 1.0f, 0.0f, 0.2f, 0.1f}, z(elems), score(elems), mu(elems);
  StreamKey s{5, 0, 0, 4, purpose_word(Purpose::kInitial)};
  init_state(b, kCoords, y.data(), s, z.data(), 2);
  for (int64_t i = 0; i < elems; ++i) score[i] = -0.5f * z[i];
  score[kN * kD + 7] = 3e38f;  // run 1, row 1, coordinate 2: the mean overflows
  std::vector<double> lw(rows, -std::log(double(kN))), inc(rows), ev(runs), ess(runs);
  std::fill(lw.begin(), lw.begin() + kN, -std::numeric_limits<double>::infinity());  // run 0 has no weight
  std::fill(lw.begin() + 2 * kN, lw.end(), -std::numeric_limits<double>::infinity());  // nor has run 2
  std::vector<uint8_t> flags(runs);
  std::vector<uint64_t> cdf(rows);
  std::vector<int32_t> anc(rows);
  StreamKey rs = s, ks = s;
  rs.purpose = purpose_word(Purpose::kResampling);
  ks.purpose = purpose_word(Purpose::kKernelNoise);
  const BootstrapParams p{1.0, 10.0, 0.4, 1.0, ResamplingScheme::kSystematic, rs, 0.1, ks};
  std::vector<double> lw_copy = lw;
  const BootstrapArrays x{z.data(),  score.data(), mu.data(),    y.data(),   lw_copy.data(), inc.data(),
                          ev.data(), ess.data(),   flags.data(), cdf.data(), anc.data()};
  const StepResult over = bootstrap_step(b, kCoords, x, p, 2);
  CHECK(over.status == StepStatus::kKernelMeanNotFinite && over.index == kN * kD + 7 && std::isinf(mu[kN * kD + 7]),
        "a non-finite mean in run 1 is reported before run 0's weights: %d at %lld", int(over.status),
        (long long)over.index);
  score[kN * kD + 7] = 0.0f;
  lw_copy = lw;
  const StepResult degenerate = bootstrap_step(b, kCoords, x, p, 2);
  CHECK(degenerate.status == StepStatus::kWeightsDegenerate && degenerate.index == 0, "run 0's weights first: %d at %lld",
        int(degenerate.status), (long long)degenerate.index);
}

// A system that refuses thread starts (a pids limit), imitated with Threads::start_limit:
// the loop still covers every index once, on the threads it could start, and never aborts.
void test_refused_threads() {
  for (bool with_pool : {false, true}) {
    auto pool = with_pool ? std::make_shared<WorkerPool>() : nullptr;
    for (int limit : {0, 1, 2, 3}) {
      Threads threads(8, pool);
      threads.start_limit = limit;
      std::vector<std::atomic<int>> hits(4000);
      std::mutex m;
      std::set<std::thread::id> ids;
      parallel_for(4000, threads, 1, [&](int64_t b, int64_t e, int w) {
        CHECK(w >= 0 && w < 8, "worker index %d", w);
        {
          std::lock_guard<std::mutex> lock(m);
          ids.insert(std::this_thread::get_id());
        }
        for (int64_t i = b; i < e; ++i) hits[i]++;
      });
      int bad = 0;
      for (auto& h : hits) bad += h.load() != 1;
      CHECK(bad == 0, "pool %d limit %d: every index once (%d not)", int(with_pool), limit, bad);
      // The pool keeps what it started (up to `limit`); the fallback starts up to `limit`.
      CHECK(static_cast<int>(ids.size()) <= 2 * limit + 1, "pool %d limit %d: %d threads", int(with_pool), limit,
            int(ids.size()));
    }
  }
  auto pool = std::make_shared<WorkerPool>();
  CHECK(!pool->try_run(4, [](int) {}, 0), "a pool that may not start its threads refuses the task");
  CHECK(pool->try_run(4, [](int) {}), "and runs it when it may");
}

// move_step gives the bits of kernel_mean_batch then propagate without ancestors, a block
// of rows at a time: blocks of whole runs where sixteen runs' normals are drawn at a time
// (n D <= 256), any rows otherwise; per-run keys; the noiseless last step. Its failures
// name the first bad element and leave that block's means in mu.
void compare_move_with_two_calls(int64_t D, int64_t n, int64_t runs, double noise, bool keys, int threads) {
  StepFixture f(D, n, runs, keys, threads);
  const Coordinates& c = f.c;
  const Batch& b = f.b;
  const StreamKey& s = f.s;
  std::vector<float>&y = f.y, &z = f.z;
  const int64_t elems = runs * n * D;
  std::vector<float> score(elems);
  for (int64_t i = 0; i < elems; ++i) score[i] = -0.7f * z[i] + 0.3f * std::sin(float(i));
  StreamKey ks = s;
  ks.purpose = purpose_word(Purpose::kKernelNoise);
  std::vector<float> z2 = z, mu2(elems);
  kernel_mean_batch(z2.data(), score.data(), elems, 0.97, 0.05, mu2.data(), threads);
  propagate(b, c, mu2.data(), nullptr, noise, y.data(), ks, z2.data(), threads);
  std::vector<float> mu(elems, 0.0f);
  const StepResult r = move_step(b, c, {z.data(), score.data(), mu.data(), y.data()}, {0.97, 0.05, noise, ks}, threads);
  CHECK(r.status == StepStatus::kOk && same_bytes(z, z2) && std::all_of(mu.begin(), mu.end(), [](float v) { return v == 0.0f; }),
        "move_step differs from kernel_mean_batch then propagate: D %lld, %lld x %lld, noise %g, keys %d, %d threads",
        (long long)D, (long long)n, (long long)runs, noise, int(keys), threads);
  // Two overflowing means in different blocks: the first is named, whichever worker meets it first.
  const int64_t late = elems - 1, early = elems / 2 + 1;
  score[late] = 3e38f;
  score[early] = -3e38f;
  const StepResult over = move_step(b, c, {z.data(), score.data(), mu.data(), y.data()}, {1.0, 10.0, noise, ks}, threads);
  CHECK(over.status == StepStatus::kKernelMeanNotFinite && over.index == early && std::isinf(mu[early]),
        "move_step names the first overflowing mean: %d at %lld, want %lld", int(over.status), (long long)over.index,
        (long long)early);
}

void test_move_step() {
  for (int threads : {1, 2, 3}) {
    compare_move_with_two_calls(4, 3, 700, 0.1, false, threads);   // whole runs of 3 particles per block
    compare_move_with_two_calls(4, 3, 700, 0.1, true, threads);    // run keys: each run on its own
    compare_move_with_two_calls(8, 1, 3001, 0.1, false, threads);  // replacement's shape, a partial last block
    compare_move_with_two_calls(20, 40, 30, 0.0, false, threads);  // runs split across blocks, noiseless
    compare_move_with_two_calls(300, 1, 45, 0.1, false, threads);  // rows past the in-lanes size
  }
}

}  // namespace

// The per-run step scores small runs in groups (smc_step.cc kScoreGroupRows: runs of 8
// particles four at a time, the last of 13 runs alone). A step scored by a RowScore
// gives the bytes of the same score given as an array; and when one row of a group's second
// run is not finite, the step names that element, leaves that run's score in mu and its
// state as it was, and takes every other run (the rest of its group included) through the
// step as with a finite score.
void test_scored_groups() {
  // D = 40: a run's 320 means take the per-run path (kRunMeansMinFloats).
  constexpr int64_t D = 40, n = 8, runs = 13, rows = n * runs, elems = rows * D;
  const std::vector<int32_t> observed = {3, 8, 17, 30};
  std::vector<int32_t> latent;
  for (int32_t k = 0; k < D; ++k)
    if (std::find(observed.begin(), observed.end(), k) == observed.end()) latent.push_back(k);
  const Coordinates c{latent.data(), static_cast<int64_t>(latent.size()), observed.data(), 4};
  const Batch b{runs, n, D, 0};
  std::vector<float> y(runs * 4);
  for (size_t i = 0; i < y.size(); ++i) y[i] = 0.1f * static_cast<float>(i % 7) - 0.3f;
  StreamKey s{9, 0, 0, 6, purpose_word(Purpose::kInitial)};
  std::vector<float> z0(elems);
  init_state(b, c, y.data(), s, z0.data(), 1);
  StreamKey rs = s, ks = s;
  rs.purpose = purpose_word(Purpose::kResampling);
  ks.purpose = purpose_word(Purpose::kKernelNoise);
  constexpr int64_t kBadRow = 5 * n + 3, kBadCoordinate = 3;
  struct Out {
    std::vector<float> z, mu;
    std::vector<double> lw;
    StepResult r;
  };
  auto step = [&](int mode, int threads) {  // 0: score as an array; 1: a RowScore; 2: a RowScore with kBadRow poisoned
    Out o{z0, std::vector<float>(elems), std::vector<double>(rows, -std::log(double(n))), {}};
    std::vector<float> given(elems);
    for (int64_t i = 0; i < elems; ++i) given[i] = -0.5f * z0[i];
    const float* base = o.z.data();
    RowScore score;
    score.rows = [base, mode](const float* z, int64_t m, float* out, float*) -> int64_t {
      for (int64_t i = 0; i < m * D; ++i) out[i] = -0.5f * z[i];
      const int64_t row0 = (z - base) / D;
      if (mode == 2 && kBadRow >= row0 && kBadRow < row0 + m)
        out[(kBadRow - row0) * D + kBadCoordinate] = std::numeric_limits<float>::quiet_NaN();
      return first_non_finite(out, m * D);
    };
    std::vector<double> inc(rows), ev(runs), ess(runs);
    std::vector<uint8_t> flags(runs);
    std::vector<uint64_t> cdf(rows);
    std::vector<int32_t> anc(rows);
    const BootstrapArrays x{o.z.data(), mode == 0 ? given.data() : nullptr, o.mu.data(), y.data(), o.lw.data(), inc.data(),
                            ev.data(), ess.data(), flags.data(), cdf.data(), anc.data()};
    BootstrapParams p{0.98, 0.02, 0.4, 1.0, ResamplingScheme::kSystematic, rs, 0.1, ks};
    if (mode != 0) p.score = &score;
    o.r = bootstrap_step(b, c, x, p, threads);
    return o;
  };
  for (int threads : {1, 2}) {
    const Out given = step(0, threads), scored = step(1, threads), poisoned = step(2, threads);
    CHECK(given.r.status == StepStatus::kOk && scored.r.status == StepStatus::kOk, "%d threads: steps ok", threads);
    CHECK(same_bytes(given.z, scored.z) && same_bytes(given.lw, scored.lw),
          "%d threads: scored in groups differs from the score given as an array", threads);
    CHECK(poisoned.r.status == StepStatus::kScoreNotFinite && poisoned.r.index == kBadRow * D + kBadCoordinate,
          "%d threads: a non-finite score in a group's second run: status %d at %lld", threads,
          static_cast<int>(poisoned.r.status), static_cast<long long>(poisoned.r.index));
    const int64_t bad_run = kBadRow / n;
    for (int64_t r = 0; r < runs; ++r) {
      const bool same = same_bytes(run_slice(poisoned.z, runs, r), run_slice(r == bad_run ? z0 : scored.z, runs, r));
      CHECK(same, "%d threads: run %lld after a step where run %lld's score failed", threads, static_cast<long long>(r),
            static_cast<long long>(bad_run));
    }
    const std::vector<float> left = run_slice(poisoned.mu, runs, bad_run);
    bool score_left = std::isnan(left[(kBadRow % n) * D + kBadCoordinate]);
    for (int64_t i = 0; i < n * D; ++i)
      if (i != (kBadRow % n) * D + kBadCoordinate) score_left = score_left && left[i] == -0.5f * z0[bad_run * n * D + i];
    CHECK(score_left, "%d threads: the failed run's score is left in mu", threads);
  }
}

void run_step_tests(CheckCounts& c) {
  counts = &c;
  test_run_keys();
  test_bootstrap_step();
  test_bootstrap_step_paths();
  test_move_step();
  test_scored_groups();
  test_refused_threads();
}
