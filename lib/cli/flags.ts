// Command-line flags: --name value, --name=value and switches, parsed against each
// command's table; typed readers that say what was expected; the choices that several
// commands share (--schedule, --kernel, --context, --backend, the method-only flags).
import { BACKEND_NAMES, BackendName, cudaUnavailableReason } from '../backend';
import { UsageError } from './errors';

export type FlagKind = 'value' | 'switch';
export type Flags = Map<string, string | true>;

export const METHODS = ['replacement', 'langevin', 'repaint', 'smc', 'mcgdiff', 'fps', 'tds', 'particle-gibbs', 'pmmh'] as const;
export type Method = (typeof METHODS)[number];
export const SCHEDULES = ['ou', 'vp'] as const;
export const KERNELS = ['euler', 'ddpm'] as const;
export const CONTEXTS = ['fixed', 'forward'] as const;

/** The methods that weight particles (their flags: --particles, --resampling, --ess-threshold, --out-evidence, --out-ess). */
export const WEIGHTED_METHODS: readonly Method[] = ['smc', 'mcgdiff', 'fps', 'tds'];

/** Flags that belong to some methods: given with another, they are a mistake (sample, bench). */
export const METHOD_ONLY_FLAGS: Readonly<Record<string, readonly Method[]>> = {
  particles: WEIGHTED_METHODS,
  resampling: WEIGHTED_METHODS,
  'ess-threshold': WEIGHTED_METHODS,
  'out-evidence': WEIGHTED_METHODS,
  'out-ess': WEIGHTED_METHODS,
  'langevin-steps': ['langevin'],
  'langevin-gamma': ['langevin'],
  jumps: ['repaint'],
  'twist-tau2': ['tds'],
  gradient: ['tds'],
  kappa: ['mcgdiff'],
  'final-weight': ['mcgdiff'],
};

/** "--method smc" or "--method a or b". */
export function methodsText(methods: readonly Method[]): string {
  return `--method ${methods.join(' or ')}`;
}
/** The Markov-chain methods (MATH.md §11): they take --particles too, and the flags below. */
export const CHAIN_METHODS: readonly Method[] = ['particle-gibbs', 'pmmh'];

/** Flags of the chain methods, with the methods each belongs to. */
export const CHAIN_ONLY_FLAGS: Readonly<Record<string, readonly Method[]>> = {
  sweeps: CHAIN_METHODS,
  'burn-in': CHAIN_METHODS,
  thin: CHAIN_METHODS,
  refresh: ['particle-gibbs'],
  'pcn-beta': ['pmmh'],
};

/** A flag's raw value as an error message quotes it: numbers bare, anything else as JSON. */
function shown(raw: string): string {
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) ? raw : JSON.stringify(raw);
}

export function parseFlags(args: readonly string[], spec: Record<string, FlagKind>, command: string): Flags {
  const flags: Flags = new Map();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '-h') {
      flags.set('help', true);
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) throw new UsageError(`unknown option ${arg} for 'condiff ${command}' (see condiff help ${command})`);
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)} for 'condiff ${command}' (options start with --; see condiff help ${command})`);
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = Object.prototype.hasOwnProperty.call(spec, name) ? spec[name] : undefined;
    if (kind === undefined) throw new UsageError(`unknown option --${name} for 'condiff ${command}' (see condiff help ${command})`);
    if (flags.has(name)) throw new UsageError(`--${name} given more than once`);
    if (kind === 'switch') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    let value: string;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = args[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      value = next;
      i++;
    }
    if (value === '') throw new UsageError(`--${name} needs a value, got an empty string`);
    flags.set(name, value);
  }
  return flags;
}

export function stringFlag(flags: Flags, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function requiredFlag(flags: Flags, name: string, what: string): string {
  const v = stringFlag(flags, name);
  if (v === undefined) throw new UsageError(`missing --${name} (${what})`);
  return v;
}

export function integerFlag(flags: Flags, name: string, fallback: number, min: 0 | 1, max = Number.MAX_SAFE_INTEGER): number {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return fallback;
  const kind = min === 1 ? 'a positive integer' : 'a non-negative integer';
  const n = /^\+?\d+(e\+?\d+)?$/i.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be ${kind}, got ${shown(raw)}`);
  if (n > max) throw new UsageError(`--${name} must be ${kind} at most ${max}, got ${shown(raw)}`);
  return n;
}

export function numberFlag(flags: Flags, name: string, fallback: number, check: { positive?: boolean; min?: number; max?: number } = {}): number {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return fallback;
  const n = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) ? Number(raw) : NaN;
  if (check.positive) {
    if (!Number.isFinite(n) || !(n > 0)) throw new UsageError(`--${name} must be a positive number, got ${shown(raw)}`);
  } else if (check.min !== undefined && check.max !== undefined) {
    if (!Number.isFinite(n) || n < check.min || n > check.max) throw new UsageError(`--${name} must be a number in [${check.min}, ${check.max}], got ${shown(raw)}`);
  } else if (!Number.isFinite(n)) {
    throw new UsageError(`--${name} must be a finite number, got ${shown(raw)}`);
  }
  return n;
}

export function choiceFlag<T extends string>(flags: Flags, name: string, options: readonly T[], fallback: T): T {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return fallback;
  if (!options.includes(raw as T)) throw new UsageError(`--${name} must be one of ${options.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

/** --backend auto|cpu|cuda; 'cuda' where there is none is a usage error naming the reason. */
export function backendFlag(flags: Flags): BackendName {
  const backend = choiceFlag(flags, 'backend', BACKEND_NAMES, 'auto');
  if (backend === 'cuda') {
    const reason = cudaUnavailableReason();
    if (reason !== null) throw new UsageError(`--backend cuda is not available: ${reason}`);
  }
  return backend;
}
