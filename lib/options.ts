// The option names each sampler accepts, so that a misspelt one (essTreshold, treads) is an
// error naming it and the nearest valid name instead of an option silently left at its
// default. The lists are typed against the option interfaces: an option added to an
// interface and not here is a compile error.
import type { CommonOptions, ReplacementOptions, SmcOptions, LangevinCorrectorOptions, RepaintCorrectorOptions } from './samplers';
import { describe } from './errors';
import type { ChainOptions, ParticleGibbsOptions, PmmhOptions } from './chains';

type KeySet<T> = { readonly [K in keyof Required<T>]: true };

const COMMON: KeySet<CommonOptions> = {
  score: true,
  schedule: true,
  steps: true,
  grid: true,
  observed: true,
  dim: true,
  kernel: true,
  seed: true,
  threads: true,
  finalNoise: true,
  signal: true,
  onStep: true,
  backend: true,
  condition: true,
  guidance: true,
};
const REPLACEMENT: KeySet<ReplacementOptions> = { ...COMMON, samples: true, context: true, corrector: true, firstRun: true };
const SMC: KeySet<SmcOptions> = { ...COMMON, particles: true, samples: true, resampling: true, essThreshold: true, context: true, output: true, firstRun: true };
const { onStep: _onStep, finalNoise: _finalNoise, condition: _condition, guidance: _guidance, ...CHAIN_COMMON } = COMMON;
const CHAIN: KeySet<ChainOptions> = { ...CHAIN_COMMON, particles: true, samples: true, sweeps: true, burnIn: true, thin: true, onSweep: true };
const PARTICLE_GIBBS: KeySet<ParticleGibbsOptions> = { ...CHAIN, refresh: true, selection: true, pathSampling: true, initialParticles: true, contextPath: true, initialReference: true };
const PMMH: KeySet<PmmhOptions> = { ...CHAIN, pcnBeta: true, acceptance: true };
const LANGEVIN: KeySet<LangevinCorrectorOptions> = { kind: true, steps: true, gamma: true, snr: true };
const REPAINT: KeySet<RepaintCorrectorOptions> = { kind: true, jumps: true };

/**
 * Throws a TypeError for an option `smc` or `replacement` does not know. Anything that is
 * not an object is left to the sampler's own checks, which say what was expected.
 */
export function checkOptionNames(sampler: 'replacement' | 'smc', options: unknown): void {
  if (typeof options !== 'object' || options === null) return;
  // smc names `corrector` itself: the filter has none, which is a clearer message than "unknown".
  const known = sampler === 'smc' ? [...Object.keys(SMC), 'corrector'] : Object.keys(REPLACEMENT);
  unknownKeys(options, known, 'option', sampler);
  const corrector = (options as { corrector?: unknown }).corrector;
  if (sampler === 'replacement' && typeof corrector === 'object' && corrector !== null) {
    const kind = (corrector as { kind?: unknown }).kind;
    if (kind === 'langevin') unknownKeys(corrector, Object.keys(LANGEVIN), 'corrector option', "kind 'langevin'");
    if (kind === 'repaint') unknownKeys(corrector, Object.keys(REPAINT), 'corrector option', "kind 'repaint'");
  }
}

/**
 * The same for the chain samplers (lib/chains.ts). onStep and finalNoise are named: a chain
 * reports sweeps (onSweep), and its last step always carries the nominal noise (docs/MATH.md §11).
 */
export function checkChainOptionNames(sampler: 'particleGibbs' | 'pmmh', options: unknown): void {
  if (typeof options !== 'object' || options === null) return;
  if ('onStep' in options) throw new TypeError(`onStep is not supported by ${sampler}: it reports each sweep through onSweep`);
  if ('finalNoise' in options) throw new TypeError(`finalNoise is not supported by ${sampler}: its last step always carries noise of the nominal variance (MATH.md §11)`);
  unknownKeys(options, Object.keys(sampler === 'pmmh' ? PMMH : PARTICLE_GIBBS), 'option', sampler);
}

function unknownKeys(object: object, known: readonly string[], what: string, where: string): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const near = nearest(key, known);
    const hint = near !== undefined ? `did you mean ${JSON.stringify(near)}?` : `the ${what}s are ${known.join(', ')}`;
    throw new TypeError(`unknown ${what} ${JSON.stringify(key)} for ${where} (${hint})`);
  }
}

/** The known name closest to `key` (case-insensitive edit distance), when it is close enough to be a slip. */
export function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined, bestDistance = Infinity;
  for (const name of known) {
    const d = editDistance(key.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  // A third of the name's letters (at least 2) wrong still reads as a slip; more is another word.
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Edits (insert, delete, substitute, swap two neighbours) that turn a into b. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1, cols = b.length + 1;
  const d = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[rows - 1][cols - 1];
}

/** The options every sampler shares, for samplers defined in their own files. */
export const COMMON_OPTION_NAMES: readonly string[] = Object.keys(COMMON);

/**
 * The options argument of a function outside the samplers (sampleExact, the metrics, the
 * building blocks): undefined for none, else an object of known keys only (a misspelt option
 * was silently left at its default before).
 */
export function optionsOf<T extends object>(where: string, options: T | undefined, known: readonly string[]): Partial<T> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`the options of ${where} must be an object, got ${describe(options)}`);
  }
  unknownKeys(options, known, 'option', where);
  return options;
}

/** Throws a TypeError for a key of `options` not in `known`, naming the nearest valid one. */
export function checkOptionKeys(where: string, options: unknown, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null) return;
  unknownKeys(options, known, 'option', where);
}
