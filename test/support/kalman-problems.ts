// The test problems shared by the numerics tests: a 5-D Gaussian prior with two observed
// coordinates, and every schedule × kernel pair on a non-uniform grid (MATH.md §1–§2).
import { schedules, Schedule } from '../../lib/schedules';
import { ScheduleSpec, KernelKind } from './exact-schedules';
import { Matrix, matmul, transpose, zeros } from './matrix';
import { GaussianPrior } from './gaussian-model';

/** The library's schedule object for a spec (the oracle builds its own from the same spec). */
export function libSchedule(spec: ScheduleSpec): Schedule {
  if (spec.kind === 'ou') return schedules.ou({ T: spec.T });
  if (spec.kind === 'vp') return schedules.vp({ T: spec.T, betaMin: spec.betaMin, betaMax: spec.betaMax });
  return schedules.ddpm({ K: spec.K, betas: spec.betas });
}

// ---- the 5-D Gaussian prior -----------------------------------------------------------
// Latent X = (z0, z2, z4) ~ N(m_X, 4R); observed Y1 = z0 + 0.5 z2 + 0.5ε, Y3 = z4 − 0.7 z2 + 0.5ε:
// X and Y strongly correlated, so conditioning matters, and Y_0 lies 1.2 and 1.4 marginal
// sd from m_Y. (Further out, or with less noise on Y, the DDPM kernel's paths get so
// unlikely under its chain that Var log Ẑ passes 1 at N = 100–200: the z-tests of the
// filter need Var log Ẑ ≲ 0.5, MATH.md §3.)
export const D = 5;
export const OBSERVED = [1, 3];
export const LATENT = [0, 2, 4];
export const MEAN = [0.5, -1, 0.3, 1.2, -0.4];

function covariance(): Matrix {
  const R = [
    [1, 0.3, -0.2],
    [0.3, 1, 0.4],
    [-0.2, 0.4, 1],
  ];
  const G = [
    [1, 0.5, 0],
    [0, -0.7, 1],
  ];
  const SXX = R.map((r) => r.map((x) => 4 * x));
  const SYX = matmul(G, SXX);
  const SYY = matmul(SYX, transpose(G)).map((r, i) => r.map((x, j) => x + (i === j ? 0.25 : 0)));
  const S = zeros(D, D);
  LATENT.forEach((a, i) => LATENT.forEach((b, j) => (S[a][b] = SXX[i][j])));
  OBSERVED.forEach((a, i) =>
    LATENT.forEach((b, j) => {
      S[a][b] = SYX[i][j];
      S[b][a] = SYX[i][j];
    }),
  );
  OBSERVED.forEach((a, i) => OBSERVED.forEach((b, j) => (S[a][b] = SYY[i][j])));
  return S;
}
export const SIGMA = covariance();
export const PRIOR: GaussianPrior = { mean: MEAN, cov: SIGMA };
export const Y0 = [MEAN[1] + 3, MEAN[3] - 3.5];

/** The library's form of the prior (a one-component GaussianMixture spec). */
export const PRIOR_JSON = { weights: [1], means: [MEAN], covariances: [SIGMA] };

// ---- schedule × kernel pairs on non-uniform grids ---------------------------------------
export interface KernelConfig {
  name: string;
  spec: ScheduleSpec;
  kernel: KernelKind;
  grid: number[];
}

/** OU, T = 3: steps growing from 0.02 to 0.6 (never uniform, so an index reversed shows). */
const OU_GRID = [0, 0.02, 0.06, 0.13, 0.25, 0.42, 0.65, 0.95, 1.35, 1.85, 2.4, 3];
/** VP (linear beta 0.1 → 20), T = 1. */
const VP_GRID = [0, 0.01, 0.03, 0.07, 0.13, 0.2, 0.3, 0.42, 0.56, 0.72, 0.88, 1];
/** DDPM K = 1000 respaced to 11 non-uniform integer levels. */
const DDPM_GRID = [0, 5, 15, 40, 80, 140, 220, 320, 450, 600, 780, 1000];

export const OU: ScheduleSpec = { kind: 'ou', T: 3 };
export const VP: ScheduleSpec = { kind: 'vp', T: 1, betaMin: 0.1, betaMax: 20 };
export const DDPM_LINEAR: ScheduleSpec = { kind: 'ddpm', K: 1000, betas: 'linear' };
export const DDPM_COSINE: ScheduleSpec = { kind: 'ddpm', K: 1000, betas: 'cosine' };

export const KERNEL_CONFIGS: KernelConfig[] = [
  { name: 'ou × euler', spec: OU, kernel: 'euler', grid: OU_GRID },
  { name: 'ou × ddpm', spec: OU, kernel: 'ddpm', grid: OU_GRID },
  { name: 'vp × euler', spec: VP, kernel: 'euler', grid: VP_GRID },
  { name: 'vp × ddpm', spec: VP, kernel: 'ddpm', grid: VP_GRID },
  { name: 'ddpm linear (respaced)', spec: DDPM_LINEAR, kernel: 'ddpm', grid: DDPM_GRID },
  { name: 'ddpm cosine (respaced)', spec: DDPM_COSINE, kernel: 'ddpm', grid: DDPM_GRID },
];
