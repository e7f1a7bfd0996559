// The mutants of npm run test:mutants (tools/mutants.ts): plausible single-line bugs in the
// formulas of MATH.md §1–§5 and §7, each with the jest files (path patterns) that must
// notice it. A search text must occur exactly once in its file; when code moves, update the
// text here (the tool reports such a mutant as "not applicable" rather than guessing).

export interface Edit {
  search: string;
  replace: string;
}

export interface Mutant {
  id: string;
  /** The MATH.md section whose formula it breaks. */
  section: string;
  description: string;
  file: string;
  /** Applied together (one bug may need the same change on two lines, as a and b of one kernel). */
  edits: Edit[];
  /** jest path patterns of the tests that must fail. */
  tests: string[];
}

const KALMAN = 'numerics/kalman';
const TRANSITIONS = 'numerics/transitions';
const CORRECTORS = 'numerics/correctors';
const CHOICE = 'numerics/output-choice';
const SAMPLERS = 'numerics/samplers';
const STRUCTURE = 'numerics/mixture-structure';
const TDS = 'numerics/tds';
const VJP = 'numerics/mixture-vjp';
const GIBBS = 'numerics/gibbs-fixed-path';
const GIBBS_JOINT = 'numerics/gibbs-joint';
const SVD_FILTER = 'numerics/svd-filter';
const GUIDANCE = 'numerics/guidance';
const GUIDANCE_API = 'api/guidance';
const DPS = 'numerics/dps';
const ONNX_CLASS = 'api/onnx-class';
const FIRST_RUN = 'queue/first-run';
const MCGDIFF = 'numerics/mcgdiff.test';
const FPS = 'numerics/fps.test';

export const MUTANTS: Mutant[] = [
  // ---- the survivors of the first mutation run, and the grid-index bug ----
  {
    id: 'output-choice-uniform',
    section: '§3',
    description: "smc's output draw chosen uniformly instead of by final weight",
    file: 'lib/samplers.ts',
    edits: [{ search: 'result.logWeights, { seed: p.seed, step: 0, purpose: p.backend.ops.purposes.outputChoice }', replace: 'new Float64Array(runs * particles), { seed: p.seed, step: 0, purpose: p.backend.ops.purposes.outputChoice }' }],
    tests: [CHOICE, KALMAN],
  },
  {
    id: 'ddpm-x0-alpha-t',
    section: '§2',
    description: "DDPM kernel's x̂0 coefficient with alpha_t instead of alpha_s (in a and b)",
    file: 'native/core/kernels.h',
    edits: [
      { search: 'const double c0 = q.alpha_s * q.sigma2_ts / q.sigma2_t;', replace: 'const double c0 = q.alpha_t * q.sigma2_ts / q.sigma2_t;' },
      { search: 'c.b = q.alpha_s * q.sigma2_ts / q.alpha_t;', replace: 'c.b = q.alpha_t * q.sigma2_ts / q.alpha_t;' },
    ],
    tests: [TRANSITIONS, KALMAN],
  },
  {
    id: 'langevin-noise-sqrt-delta',
    section: '§3',
    description: 'Langevin noise √δ instead of √(2δ)',
    file: 'native/core/particles.cc',
    edits: [{ search: 'const double noise = std::sqrt(2.0 * delta);', replace: 'const double noise = std::sqrt(delta);' }],
    tests: [CORRECTORS],
  },
  {
    id: 'repaint-renoise-y-s',
    section: '§3',
    description: 'RePaint re-noised state carries Y_s instead of Y_t',
    file: 'lib/models/correctors.ts',
    edits: [{ search: 'const yT = kernel.contextAt(step.index);', replace: 'const yT = kernel.contextAt(step.index - 1);' }],
    tests: [CORRECTORS],
  },
  {
    id: 'context-path-reversed',
    section: '§3',
    description: 'forward context path: step i uses the transition of step S − i + 1 (indexed S − i, not i − 1)',
    file: 'native/core/particles.cc',
    // Both copies: one run at a time (with per-run keys) and sixteen runs at a time.
    edits: [
      {
        search: 'fill_normals(s, 0, static_cast<uint64_t>(d_obs), xi.data());\n          const double a = alpha_ts[i - 1], sd = std::sqrt(sigma2_ts[i - 1]);',
        replace: 'fill_normals(s, 0, static_cast<uint64_t>(d_obs), xi.data());\n          const double a = alpha_ts[steps - i], sd = std::sqrt(sigma2_ts[steps - i]);',
      },
      {
        search: 'xi.data(), d_obs);\n        const double a = alpha_ts[i - 1], sd = std::sqrt(sigma2_ts[i - 1]);',
        replace: 'xi.data(), d_obs);\n        const double a = alpha_ts[steps - i], sd = std::sqrt(sigma2_ts[steps - i]);',
      },
    ],
    tests: [TRANSITIONS, KALMAN],
  },
  {
    id: 'context-y-s-index-reversed',
    section: '§3',
    description: 'the filter weighs against Y_s at grid index S − i instead of i − 1 (the fused CPU step)',
    file: 'lib/models/bootstrap.ts',
    edits: [{ search: 'c.a, c.b, m, kernel.contextAt(step.index - 1),', replace: 'c.a, c.b, m, kernel.contextAt(run.steps - step.index),' }],
    tests: [TRANSITIONS, KALMAN],
  },
  // ---- §1 schedules ----
  {
    id: 'vp-transition-alphabar',
    section: '§1',
    description: 'alpha_{t|s} = alphā_t/alphā_s (no square root)',
    file: 'lib/schedules.ts',
    edits: [{ search: 'return { alpha: Math.exp(0.5 * d), sigma2: -Math.expm1(d) };', replace: 'return { alpha: Math.exp(d), sigma2: -Math.expm1(d) };' }],
    tests: [TRANSITIONS, KALMAN],
  },
  {
    id: 'cosine-without-offset',
    section: '§1',
    description: 'cosine schedule without the offset s = 0.008',
    file: 'lib/schedules.ts',
    edits: [{ search: 'const f = (t: number) => Math.cos(((t / K + 0.008) / 1.008) * (Math.PI / 2)) ** 2;', replace: 'const f = (t: number) => Math.cos((t / K) * (Math.PI / 2)) ** 2;' }],
    tests: [TRANSITIONS, KALMAN],
  },
  // ---- §2 kernels ----
  {
    id: 'euler-drops-z',
    section: '§2',
    description: 'Euler mean without the `Z_t +` term (the slide\'s formula)',
    file: 'native/core/kernels.h',
    edits: [{ search: 'c.a = 1.0 - q.h * q.drift_t;', replace: 'c.a = -q.h * q.drift_t;' }],
    tests: [TRANSITIONS, KALMAN],
  },
  {
    id: 'euler-variance-g',
    section: '§2',
    description: 'Euler variance g h instead of g² h',
    file: 'native/core/kernels.h',
    edits: [{ search: 'c.v = q.diffusion2_t * q.h;', replace: 'c.v = __builtin_sqrt(q.diffusion2_t) * q.h;' }],
    tests: [TRANSITIONS, KALMAN],
  },
  {
    id: 'ddpm-variance-large',
    section: '§2',
    description: 'DDPM variance sigma²_{t|s} (the "large" choice) instead of the posterior variance',
    file: 'native/core/kernels.h',
    edits: [{ search: 'c.v = q.sigma2_ts * q.sigma2_s / q.sigma2_t;', replace: 'c.v = q.sigma2_ts;' }],
    tests: [TRANSITIONS, KALMAN],
  },
  {
    id: 'ddpm-z-coefficient-alpha-s',
    section: '§2',
    description: "DDPM kernel's z coefficient alpha_s sigma_s²/sigma_t² instead of alpha_{t|s} sigma_s²/sigma_t²",
    file: 'native/core/kernels.h',
    edits: [{ search: 'const double c1 = q.alpha_ts * q.sigma2_s / q.sigma2_t;', replace: 'const double c1 = q.alpha_s * q.sigma2_s / q.sigma2_t;' }],
    tests: [TRANSITIONS, KALMAN],
  },
  {
    id: 'last-step-noisy',
    section: '§2',
    description: 'the last step keeps its kernel noise',
    file: 'lib/models/backward-kernel.ts',
    edits: [{ search: '(step.last && !spec.finalNoise ? 0 : Math.sqrt(coefficients[step.index - 1].v))', replace: '(Math.sqrt(coefficients[step.index - 1].v))' }],
    tests: [TRANSITIONS, KALMAN],
  },
  // ---- §3 weights, correctors ----
  {
    id: 'weight-constant-dropped',
    section: '§3',
    description: 'Gaussian constant dropped from the log-weights (resampling unchanged, evidence wrong)',
    file: 'native/core/weights.h',
    edits: [{ search: 'return -sq / (2.0 * v) - log_norm;', replace: 'return -sq / (2.0 * v);' }],
    tests: [KALMAN],
  },
  {
    id: 'weight-variance-halved',
    section: '§3',
    description: 'log-weight −‖Y_s − μ_Y‖²/v instead of /(2v)',
    file: 'native/core/weights.h',
    edits: [{ search: 'return -sq / (2.0 * v) - log_norm;', replace: 'return -sq / v - log_norm;' }],
    tests: [KALMAN],
  },
  {
    id: 'weights-not-reset-after-resampling',
    section: '§3',
    description: 'after resampling the log-weights keep their old values instead of log(1/N)',
    file: 'native/core/particles.cc',
    edits: [{ search: '      for (int64_t k = 0; k < n; ++k) lw[k] = uniform;', replace: '      (void)uniform;' }],
    tests: [KALMAN],
  },
  {
    id: 'ess-threshold-inverted',
    section: '§3',
    description: 'resample when ESS > τN instead of ESS < τN',
    file: 'native/core/particles.cc',
    edits: [{ search: 'ess[r] < tau * static_cast<double>(n)', replace: 'ess[r] > tau * static_cast<double>(n)' }],
    tests: [KALMAN],
  },
  {
    id: 'langevin-gamma-sigma-t',
    section: '§3',
    description: 'gamma rule δ = γ sigma_t² (the step start) instead of γ sigma_s²',
    file: 'lib/models/correctors.ts',
    edits: [{ search: 'const sigma2 = run.schedule.sigma2(tScore);', replace: 'const sigma2 = run.schedule.sigma2(step.t);' }],
    tests: [CORRECTORS],
  },
  {
    id: 'snr-alpha-not-squared',
    section: '§3',
    description: 'SNR rule with alpha_{t|s} instead of alpha_{t|s}²',
    file: 'lib/models/correctors.ts',
    edits: [{ search: 'corrector.snr, c.alphaTs * c.alphaTs,', replace: 'corrector.snr, c.alphaTs,' }],
    tests: [CORRECTORS],
  },
  {
    id: 'snr-factor-two',
    section: '§3',
    description: 'SNR rule δ = α(r‖ξ‖/‖g‖)², without the factor 2',
    file: 'native/core/particle_math.h',
    edits: [{ search: 'return g_sq > 0.0 ? 2.0 * snr_alpha * gamma_or_r * gamma_or_r * xi_sq / g_sq : 0.0;', replace: 'return g_sq > 0.0 ? snr_alpha * gamma_or_r * gamma_or_r * xi_sq / g_sq : 0.0;' }],
    tests: [CORRECTORS],
  },
  {
    id: 'renoise-variance-as-sd',
    section: '§3',
    description: 'RePaint re-noising with sigma²_{t|s} ξ instead of sigma_{t|s} ξ',
    file: 'native/core/particle_math.h',
    edits: [{ search: 'return static_cast<float>(alpha_ts * x + sd_ts * xi);', replace: 'return static_cast<float>(alpha_ts * x + sd_ts * sd_ts * xi);' }],
    tests: [CORRECTORS],
  },
  // ---- §5 resampling ----
  {
    id: 'resampling-tempered-weights',
    section: '§5',
    description: 'ancestors (and the output draw) from weights W^{1/2} instead of W',
    file: 'native/core/resampling_math.h',
    edits: [{ search: 'CONDIFF_HD double relative_weight(double lw, double mx) { return exp_nonpositive_d(lw - mx); }', replace: 'CONDIFF_HD double relative_weight(double lw, double mx) { return exp_nonpositive_d(0.5 * (lw - mx)); }' }],
    tests: [KALMAN, CHOICE],
  },
  // ---- §7 the Gaussian-mixture score ----
  {
    id: 'mixture-covariance-alpha',
    section: '§7',
    description: 'C_j = alpha Σ_j + sigma² I instead of alpha² Σ_j + sigma² I',
    file: 'native/core/mixture.cc',
    // The dense path and the shared one (a one-component prior, as the Kalman tests', is "shared").
    edits: [
      { search: 'const double c = alpha * alpha * lambda_[j * d + k] + sigma2;', replace: 'const double c = alpha * lambda_[j * d + k] + sigma2;' },
      { search: '        const double c = alpha * alpha * lambda_[k] + sigma2;', replace: '        const double c = alpha * lambda_[k] + sigma2;' },
    ],
    tests: [KALMAN, STRUCTURE],
  },
  {
    id: 'mixture-logdet-dropped',
    section: '§7',
    description: 'responsibilities without the −½ log det C_j term',
    file: 'native/core/mixture.cc',
    edits: [{ search: 'q.log_norm[j] = static_cast<float>(log_weights_[j] - 0.5 * logdet);', replace: 'q.log_norm[j] = static_cast<float>(log_weights_[j]);' }],
    tests: [SAMPLERS, STRUCTURE],
  },
  // ---- §10 twisted SMC ----
  {
    id: 'tds-proposal-ratio-sign',
    section: '§10',
    description: 'log K/q with the sign of (μ − μ̃) flipped',
    file: 'native/core/twist.cc',
    edits: [{ search: 'acc += (static_cast<double>(xs[k]) - 0.5 * (m + mt)) * (m - mt);', replace: 'acc += (static_cast<double>(xs[k]) - 0.5 * (m + mt)) * (mt - m);' }],
    tests: [TDS],
  },
  {
    id: 'tds-twist-not-advanced',
    section: '§10',
    description: 'the next step divides by the old twist log p̃_t instead of log p̃_s',
    file: 'lib/models/twisted.ts',
    edits: [{ search: '      lpt.set(lps);\n    },', replace: '    },' }],
    tests: [TDS],
  },
  {
    id: 'tds-initial-weight-dropped',
    section: '§10',
    description: 'no initial weight log p̃_T(y | x_T)',
    file: 'lib/models/twisted.ts',
    edits: [{ search: '      increment.set(lpt);', replace: '      increment.fill(0);' }],
    tests: [TDS],
  },
  {
    id: 'tds-final-weight-keeps-twist',
    section: '§10',
    description: 'the final weight leaves out − log p̃_{t₁}',
    file: 'lib/models/twisted.ts',
    edits: [{ search: 'for (let k = 0; k < rows; k++) increment[k] = lps[k] - lpt[k];', replace: 'for (let k = 0; k < rows; k++) increment[k] = lps[k];' }],
    tests: [TDS],
  },
  {
    id: 'tds-score-not-resampled',
    section: '§10',
    description: 'resampling gathers the states but not their scores',
    file: 'lib/models/twisted.ts',
    edits: [{ search: '    await ops.gatherRowsAsync(sc, D, global, tmp, threads);\n    sc.set(tmp);\n', replace: '' }],
    tests: [TDS],
  },
  {
    id: 'mixture-vjp-precision-sign',
    section: '§10',
    description: 'the mixture Jacobian-vector product adds C_j⁻¹u instead of subtracting it',
    file: 'native/core/mixture_vjp.cc',
    edits: [{ search: 'acc[k] += rj * (gj[k] * gu - cu[k]);', replace: 'acc[k] += rj * (gj[k] * gu + cu[k]);' }],
    tests: [VJP],
  },
  {
    id: 'mixture-vjp-outer-term-dropped',
    section: '§10',
    description: 'the mixture Jacobian-vector product leaves out − s (sᵀu)',
    file: 'native/core/mixture_vjp.cc',
    edits: [{ search: 'for (int64_t k = 0; k < D; ++k) acc[k] = -s[k] * su;', replace: 'for (int64_t k = 0; k < D; ++k) acc[k] = 0 * su;' }],
    tests: [VJP],
  },
  // ---- §11 particle Gibbs and PMMH ----
  {
    id: 'gibbs-backward-weight-after-increment',
    section: '§11',
    description: 'backward sampling weights a candidate with the weight after the step\'s increment (N(Y_s; μ_Y) counted twice)',
    file: 'lib/models/conditional-smc.ts',
    edits: [{ search: 'incHist[(i - 1) * rows + r * N + k] - q / (2 * v);', replace: '2 * incHist[(i - 1) * rows + r * N + k] - q / (2 * v);' }],
    tests: [GIBBS],
  },
  {
    id: 'gibbs-backward-y-block-only',
    section: '§11',
    description: 'backward sampling without the X block of the kernel density',
    file: 'lib/models/conditional-smc.ts',
    edits: [{ search: 'logB[k] = beforeHist[(i - 1) * rows + r * N + k] + incHist[(i - 1) * rows + r * N + k] - q / (2 * v);', replace: 'logB[k] = beforeHist[(i - 1) * rows + r * N + k] + incHist[(i - 1) * rows + r * N + k];' }],
    tests: [GIBBS],
  },
  {
    id: 'gibbs-reference-not-kept',
    section: '§11',
    description: 'the reference path is placed at t_S only, not kept in its slot after each move',
    file: 'lib/models/conditional-smc.ts',
    edits: [{ search: '          pinReference(i - 1);\n', replace: '' }],
    tests: [GIBBS],
  },
  {
    id: 'gibbs-reference-ancestor-resampled',
    section: '§11',
    description: 'the reference slot\'s ancestor drawn like the others instead of a^b = b',
    file: 'lib/models/conditional-smc.ts',
    edits: [{ search: 'a[r * N + n] = ref && n === REFERENCE_SLOT ? n : searchCumulative(cdf, N, u.at(n));', replace: 'a[r * N + n] = searchCumulative(cdf, N, u.at(n));' }],
    tests: [GIBBS],
  },
  {
    id: 'gibbs-last-step-no-noise',
    section: '§11',
    description: 'the last step without the nominal noise on X (the filter\'s convention, not the sweep\'s)',
    file: 'lib/models/conditional-smc.ts',
    edits: [{ search: 'const scale = Math.sqrt(kernel.coefficients[i - 1].weightVariance);', replace: 'const scale = step.last ? 0 : Math.sqrt(kernel.coefficients[i - 1].weightVariance);' }],
    tests: [GIBBS],
  },
  {
    id: 'gibbs-mh-refresh-without-proposal',
    section: '§11',
    description: 'the MH path refresh accepts with p_θ(Z\')/p_θ(Z) alone, leaving out the forward proposal densities',
    file: 'lib/chains.ts',
    edits: [{ search: 'const logRatio = logProposed[r] - logForward(proposal, K, r, D, tr) - (current.logDensity[r] - logForward(currentZ, K, r, D, tr));', replace: 'const logRatio = logProposed[r] - current.logDensity[r];' }],
    tests: [GIBBS_JOINT],
  },
  {
    id: 'pmmh-prior-term-dropped',
    section: '§11',
    description: 'PMMH\'s ratio without N(Y_S; 0, I)',
    file: 'lib/chains.ts',
    edits: [{ search: 'return -0.5 * q - logForward(path, K, r, dY, tr);', replace: 'return -logForward(path, K, r, dY, tr);' }],
    tests: [GIBBS_JOINT],
  },
  {
    id: 'pmmh-pcn-not-reversible',
    section: '§11',
    description: 'pCN with √(1 − β) instead of √(1 − β²) on the fresh innovation',
    file: 'lib/chains.ts',
    edits: [{ search: 'const xiNew = beta * xi + Math.sqrt(1 - beta * beta) * eta[(i - 1) * dY + j];', replace: 'const xiNew = beta * xi + Math.sqrt(1 - beta) * eta[(i - 1) * dY + j];' }],
    tests: [GIBBS_JOINT],
  },
  {
    id: 'svd-pin-sign',
    section: '§9.1',
    description: 'the native pin moves a dense observation\'s pinned coordinates away from the path (Ỹ − c negated)',
    file: 'native/core/subspace.cc',
    edits: [{ search: 'for (int64_t j = 0; j < v.count; ++j) delta[j] = static_cast<double>(y[j]) - delta[j];', replace: 'for (int64_t j = 0; j < v.count; ++j) delta[j] = delta[j] - static_cast<double>(y[j]);' }],
    tests: [SVD_FILTER],
  },
  {
    id: 'svd-weight-variance',
    section: '§9.1',
    description: 'the native log weight of a dense observation divides the squared residual by v instead of 2v',
    file: 'native/core/subspace.cc',
    edits: [{ search: 'increment[r] = constant - quad / (2.0 * variance);', replace: 'increment[r] = constant - quad / variance;' }],
    tests: [SVD_FILTER],
  },
  {
    id: 'svd-projection-last-coordinate',
    section: '§9.1',
    description: 'the native projection leaves out the last coordinate',
    file: 'native/core/subspace.cc',
    edits: [{ search: '    for (int64_t k = 0; k < dim; ++k) {\n      const double* col', replace: '    for (int64_t k = 0; k + 1 < dim; ++k) {\n      const double* col' }],
    tests: [SVD_FILTER],
  },
  {
    id: 'tds-linear-final-keeps-twist',
    section: '§10',
    description: "tds with a dense A: the final weight is the likelihood alone, without − log p̃_{t₁}",
    file: 'lib/models/twisted.ts',
    edits: [{ search: 'for (let k = 0; k < rows; k++) increment[k] = lpt[k] === -Infinity ? -Infinity : lps[k] - lpt[k];', replace: 'for (let k = 0; k < rows; k++) increment[k] = lps[k];' }],
    tests: [TDS],
  },
  {
    id: 'tds-linear-normaliser-dropped',
    section: '§10',
    description: "tds with a dense A: log N(ȳ_i; s_i c_i, ν_i) without −½ log 2πν_i (the final likelihood loses its constant)",
    file: 'lib/models/twisted.ts',
    edits: [{ search: 'for (let i = 0; i < linR; i++) constant -= 0.5 * Math.log(2 * Math.PI * nu[i]);', replace: 'for (let i = 0; i < linR; i++) constant -= 0;' }],
    tests: [TDS],
  },
  {
    id: 'tds-linear-residual-unscaled',
    section: '§10',
    description: 'tds with a dense A: the squared residual not divided by ν_i (the final likelihood with unit variance)',
    file: 'lib/models/twisted.ts',
    edits: [{ search: 'q += (e * e) / nu[i];', replace: 'q += e * e;' }],
    tests: [TDS],
  },
  {
    id: 'tds-linear-noiseless-not-projected',
    section: '§10',
    description: 'tds with a noiseless dense A: x₀ = μ, not projected onto {A x = y}',
    file: 'lib/models/twisted.ts',
    edits: [{ search: 'await native.direct.svdPin(z, svd.vt, linIndex, target, N, threads);', replace: 'void target;' }],
    tests: [TDS],
  },
  {
    id: 'tds-linear-noiseless-weight-after-projection',
    section: '§10',
    description: 'tds with a noiseless dense A: the last weight N(y; A x, v AAᵀ) at the projected x₀ instead of the kernel mean μ',
    file: 'lib/models/twisted.ts',
    edits: [{ search: 'else await linearAt(mu, 0, lps, false, coefficients[0].weightVariance);', replace: 'else await linearAt(z, 0, lps, false, coefficients[0].weightVariance);' }],
    tests: [TDS],
  },
  // ---- guidance (§12) ----
  {
    id: 'cfg-blend-swapped',
    section: '§12',
    description: 'CFG blends (1 − w) s_c + w s_∅: the two predictions swapped',
    file: 'lib/guidance.ts',
    edits: [{ search: 'out[k] = (1 - w) * pair[n + k] + w * pair[k];', replace: 'out[k] = (1 - w) * pair[k] + w * pair[n + k];' }],
    tests: [GUIDANCE],
  },
  {
    id: 'cfg-null-rows-everywhere',
    section: '§12',
    description: 'the CFG pair call gives the null class to every row (the conditional rows lose their class)',
    file: 'lib/guidance.ts',
    edits: [{ search: 'condition.fill(NULL_CLASS, rows);', replace: 'condition.fill(NULL_CLASS, 0);' }],
    tests: [GUIDANCE],
  },
  {
    id: 'cfg-rescale-inverted',
    section: '§12',
    description: 'the rescale multiplies by std(s̃)/std(s_c) instead of std(s_c)/std(s̃)',
    file: 'lib/guidance.ts',
    edits: [{ search: 'const f = sg > 0 ? phi * (std(conditional, o) / sg) + (1 - phi) : 1;', replace: 'const f = sg > 0 ? phi * (sg / std(conditional, o)) + (1 - phi) : 1;' }],
    tests: [GUIDANCE],
  },
  {
    id: 'classifier-scale-ignored',
    section: '§12',
    description: 'classifier guidance adds the gradient with scale 1 whatever the scale',
    file: 'lib/guidance.ts',
    edits: [{ search: 'for (let k = 0; k < z.length; k++) out[k] = s[k] + scale * g[k];', replace: 'for (let k = 0; k < z.length; k++) out[k] = s[k] + g[k];' }],
    tests: [GUIDANCE],
  },
  {
    id: 'classifier-x0-identity-lambda',
    section: '§12',
    description: 'the x̂0 classifier\'s identity Jacobian c_t with λ_t = σ_t² instead of σ_t²/α_t²',
    file: 'lib/guidance.ts',
    edits: [{ search: 'const tau2 = this.guidance.tau2, c = tau2 / (a * (tau2 + s2 / (a * a)));', replace: 'const tau2 = this.guidance.tau2, c = tau2 / (a * (tau2 + s2));' }],
    tests: [GUIDANCE_API],
  },
  {
    id: 'weighted-cfg-ratio-sign',
    section: '§12',
    description: 'weighted CFG weighs by K_w/K_1 instead of K_1/K_w (the fused difference with its sign flipped)',
    file: 'lib/models/cfg-weighted.ts',
    edits: [{ search: 'acc += (z[i] - 0.5 * (mu1[i] + muw[i])) * (mu1[i] - muw[i]);', replace: 'acc += (z[i] - 0.5 * (mu1[i] + muw[i])) * (muw[i] - mu1[i]);' }],
    tests: [GUIDANCE],
  },
  {
    id: 'weighted-cfg-last-step-guided',
    section: '§12',
    description: 'weighted CFG takes the last step with the guided kernel, weighed by K_1/K_w as if it were random',
    file: 'lib/models/cfg-weighted.ts',
    edits: [{ search: 'if (step.last) {', replace: 'if (step.last && false) {' }],
    tests: [GUIDANCE, GUIDANCE_API],
  },
  {
    id: 'conditional-mixture-scatter',
    section: '§12',
    description: 'the conditional mixture writes each class group back to the group\'s own row order instead of the rows it came from',
    file: 'lib/conditional-mixture.ts',
    edits: [{ search: 'list.forEach((r, i) => out.set(oc.subarray(i * D, (i + 1) * D), r * D));', replace: 'list.forEach((_r, i) => out.set(oc.subarray(i * D, (i + 1) * D), i * D));' }],
    tests: [GUIDANCE],
  },
  {
    id: 'onnx-null-class-zero',
    section: '§12',
    description: 'OnnxScore gives the null-class rows label 0 instead of the null class',
    file: 'lib/onnx/score.ts',
    edits: [{ search: '        out[r] = nullClass;', replace: '        out[r] = 0;' }],
    tests: [ONNX_CLASS],
  },
  {
    id: 'dps-residual-sign',
    section: '§12',
    description: 'DPS steps along A x̂0 − y instead of y − A x̂0',
    file: 'lib/models/dps.ts',
    edits: [{ search: 'res[i] = obs.y[i] - res[i];', replace: 'res[i] = res[i] - obs.y[i];' }],
    tests: [DPS],
  },
  {
    id: 'dps-batch-norm',
    section: '§12',
    description: 'DPS without the normalisation by ‖r‖ (the step ζ Jᵀ Aᵀ r)',
    file: 'lib/models/dps.ts',
    edits: [{ search: 'for (let k = 0; k < D; k++) u[r * D + k] = norm > 0 ? back[k] / norm : 0;', replace: 'for (let k = 0; k < D; k++) u[r * D + k] = back[k];' }],
    tests: [DPS],
  },
  {
    id: 'tweedie-fd-without-alpha',
    section: '§12',
    description: 'the finite-difference J u of x̂0 without the 1/α_t',
    file: 'lib/jacobian.ts',
    edits: [{ search: 'g[k] += (f * (probe[k] + s2 * s[k])) / alpha;', replace: 'g[k] += f * (probe[k] + s2 * s[k]);' }],
    tests: [DPS, GUIDANCE_API],
  },
  // ---- §6: a job split by firstRun draws the bytes of one call (the queue's chunks) ----
  {
    id: 'first-run-path-offset',
    section: '§6',
    description: "replacement's and smc's forward context path drawn with run words from 0 instead of firstRun",
    file: 'lib/samplers.ts',
    edits: [{ search: 'forwardContextPath(p.obs!.values, runs, runOffset, alphaTs', replace: 'forwardContextPath(p.obs!.values, runs, 0, alphaTs' }],
    tests: [FIRST_RUN],
  },
  {
    id: 'first-run-driver-offset',
    section: '§6',
    description: 'the driver run with run offset 0 whatever firstRun says (moves, weights and resampling)',
    file: 'lib/samplers.ts',
    edits: [{ search: '    runOffset: shape.runOffset ?? 0,', replace: '    runOffset: 0,' }],
    tests: [FIRST_RUN],
  },
  {
    id: 'first-run-output-choice',
    section: '§6',
    description: "smc's output draw keyed by the chunk's run index instead of the job's",
    file: 'lib/samplers.ts',
    edits: [{ search: 'chooseByWeight({ runs, particles, dim: p.dim, runOffset }, result.logWeights', replace: 'chooseByWeight({ runs, particles, dim: p.dim, runOffset: 0 }, result.logWeights' }],
    tests: [FIRST_RUN],
  },
  {
    id: 'first-run-pinned-path',
    section: '§6',
    description: "the pinned path of a noisy or dense observation drawn with run words from 0 instead of firstRun",
    file: 'lib/matching.ts',
    edits: [{ search: 'await ops.forwardContextPath(new Float32Array(r), runs, runOffset, new Float64Array(S)', replace: 'await ops.forwardContextPath(new Float32Array(r), runs, 0, new Float64Array(S)' }],
    tests: [FIRST_RUN],
    id: 'mcgdiff-public-division-form',
    section: '§9.2',
    description: 'the public code\'s division form: the step\'s denominator over O_t, which divides out the pinning factor N(x̄_τ; ỹ, κ) at release',
    file: 'lib/models/mcgdiff.ts',
    edits: [{ search: 'const denominator = Os;', replace: 'const denominator = twisted(k);' }],
    tests: [MCGDIFF],
  },
  {
    id: 'mcgdiff-initial-weight-dropped',
    section: '§9.2',
    description: 'no initial weight Π N(m; 0, 1 + w) (the public code has none)',
    file: 'lib/models/mcgdiff.ts',
    edits: [{ search: 'tw.forEach(({ m, w }) => (initialLogWeight += logNormal(m, 0, 1 + w)));', replace: 'void tw;' }],
    tests: [MCGDIFF],
  },
  {
    id: 'mcgdiff-gaussian-constants-dropped',
    section: '§9.2',
    description: 'the step weight\'s numerator without its Gaussian constant (the public code\'s gauss_loglik)',
    file: 'lib/models/mcgdiff.ts',
    edits: [{ search: 'lw += logNormal(atS[j].m, zeta[i], v + atS[j].w);', replace: 'lw += -((atS[j].m - zeta[i]) ** 2) / (2 * (v + atS[j].w));' }],
    tests: [MCGDIFF],
  },
  {
    id: 'mcgdiff-gain-swapped',
    section: '§9.2',
    description: 'the proposal\'s gain w/(v + w) instead of v/(v + w)',
    file: 'lib/models/mcgdiff.ts',
    edits: [{ search: 'const K = v / (v + w), mb = muBar[a * r + i];', replace: 'const K = w / (v + w), mb = muBar[a * r + i];' }],
    tests: [MCGDIFF],
  },
  {
    id: 'mcgdiff-proposal-variance',
    section: '§9.2',
    description: 'the proposal\'s variance w instead of K w',
    file: 'lib/models/mcgdiff.ts',
    edits: [{ search: 'delta[i] = mb + K * (ms - mb) + Math.sqrt(K * w) * zeta[i] - xBar[i];', replace: 'delta[i] = mb + K * (ms - mb) + Math.sqrt(w) * zeta[i] - xBar[i];' }],
    tests: [MCGDIFF],
  },
  {
    id: 'mcgdiff-w0-without-pin-term',
    section: '§9.2',
    description: 'w₀ without the pinning factor\'s term (p(ȳ | x₀) alone)',
    file: 'lib/models/mcgdiff.ts',
    edits: [{ search: 'if (l) lw -= logNormal(yTilde[i], l.alpha * xBar[i], l.sigma2 + kappa);', replace: 'void l;' }],
    tests: [MCGDIFF],
  },
  {
    id: 'mcgdiff-w0-pin-without-kappa',
    section: '§9.2',
    description: 'w₀\'s pinning term with variance σ²_τ instead of σ²_τ + κ',
    file: 'lib/models/mcgdiff.ts',
    edits: [{ search: 'if (l) lw -= logNormal(yTilde[i], l.alpha * xBar[i], l.sigma2 + kappa);', replace: 'if (l) lw -= logNormal(yTilde[i], l.alpha * xBar[i], l.sigma2);' }],
    tests: [MCGDIFF],
  },
  {
    id: 'mcgdiff-initial-draw-variance',
    section: '§9.2',
    description: 'the initial draw on O_T with variance 1/(1 + w) instead of w/(1 + w)',
    file: 'lib/models/mcgdiff.ts',
    edits: [{ search: 'delta[i] = m / (1 + w) + Math.sqrt(w / (1 + w)) * xBar[i] - xBar[i];', replace: 'delta[i] = m / (1 + w) + Math.sqrt(1 / (1 + w)) * xBar[i] - xBar[i];' }],
    tests: [MCGDIFF],
  },
  {
    id: 'mcgdiff-ancestor-mean',
    section: '§9.2',
    description: 'the proposal\'s μ̄ of the particle\'s own row instead of its ancestor\'s',
    file: 'lib/models/mcgdiff.ts',
    edits: [{ search: 'const a = anc ? Math.floor(row / N) * N + anc[row] : row;', replace: 'const a = row;' }],
    tests: [MCGDIFF],
  },
  {
    id: 'mcgdiff-evidence-no-alpha',
    section: '§9.2',
    description: 'log p̂(y) without w₀: Σ −log s_i instead of Σ log(α_τ/s_i)',
    file: 'lib/models/mcgdiff.ts',
    edits: [{ search: 'if (!finalWeight) for (let i = 0; i < r; i++) c += levelTimes.logAlpha[i] - Math.log(svd.s[i]);', replace: 'if (!finalWeight) for (let i = 0; i < r; i++) c -= Math.log(svd.s[i]);' }],
    tests: [MCGDIFF],
  },
  {
    id: 'fps-matheron-step',
    section: '§9.3',
    description: 'the Matheron update scaled by 0.98',
    file: 'lib/models/fps.ts',
    edits: [{ search: 'for (let c = 0; c < D; c++) zr[c] = zr[c] + v * d[c];', replace: 'for (let c = 0; c < D; c++) zr[c] = zr[c] + 0.98 * v * d[c];' }],
    tests: [FPS],
  },
  {
    id: 'fps-weight-no-determinant',
    section: '§9.3',
    description: 'the step weight without log det(v AA^T + r I)',
    file: 'lib/models/fps.ts',
    edits: [{ search: 'inc[row] = (step.index === S ? initialLogWeight[q] : 0) - 0.5 * m * LOG_2PI - logDet - 0.5 * u.reduce((a, b) => a + b * b, 0);', replace: 'inc[row] = (step.index === S ? initialLogWeight[q] : 0) - 0.5 * m * LOG_2PI - 0.5 * u.reduce((a, b) => a + b * b, 0);' }],
    tests: [FPS],
  },
  {
    id: 'fps-weight-variance',
    section: '§9.3',
    description: 'the step weight\'s covariance v AA^T + r I with v × 1.1',
    file: 'lib/models/fps.ts',
    edits: [{ search: 'const l = factor(g, m, v, k === 0 ? s2 : rAt(k), step.where);', replace: 'const l = factor(g, m, 1.1 * v, k === 0 ? s2 : rAt(k), step.where);' }],
    tests: [FPS],
  },
];
