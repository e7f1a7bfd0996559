// The conditioning (docs/MATH.md §8): y = A x_0 + noiseStd ε with A a mask (observed
// coordinates), a dense d_y x D matrix, or an operator given by callbacks, and its thin SVD
// A = U S V_r^T when there is one (computed once: natively for a dense A, in closed form for
// a mask and for average pooling, or given by the caller).
import { typeError, rangeError, describe } from './errors';
import { native } from './native';

/** Observed coordinates and their values: exact (today's conditioning) or with Gaussian noise. */
export interface Observation {
  /** Observed coordinates, distinct, each in [0, D). */
  indices: ArrayLike<number>;
  /** Their values, one per index. */
  values: ArrayLike<number>;
  /** Standard deviation σ_y of the observation noise (default 0: observed exactly). */
  noiseStd?: number;
}

/** y = A x_0 + noiseStd ε with a dense d_y x D matrix A. */
export interface MatrixObservation {
  /** d_y rows of D numbers, or a row-major Float64Array/Float32Array with `rows`. */
  A: ArrayLike<ArrayLike<number>> | Float64Array | Float32Array;
  /** d_y, when A is a flat row-major array. */
  rows?: number;
  y: ArrayLike<number>;
  noiseStd?: number;
}

/** The thin SVD of an operator, A = U diag(s) V_r^T, by callbacks (docs/MATH.md §8). */
export interface OperatorSvd {
  /** R^r → R^D: V_r c. */
  Vr(c: Float64Array): ArrayLike<number>;
  /** R^D → R^r: V_r^T x. */
  Vrt(x: Float64Array): ArrayLike<number>;
  /** R^r → R^{d_y}: U ȳ. */
  U(ybar: Float64Array): ArrayLike<number>;
  /** R^{d_y} → R^r: U^T y. */
  Ut(y: Float64Array): ArrayLike<number>;
  /** Singular values s_1 ≥ … ≥ s_r > 0. */
  s: ArrayLike<number>;
}

export interface LinearOperator {
  /** R^D → R^{d_y}: A x. */
  apply(x: Float64Array): ArrayLike<number>;
  /** R^{d_y} → R^D: A^T u. */
  applyT(u: Float64Array): ArrayLike<number>;
  /** The thin SVD: needed by the SVD samplers (smc). */
  svd?: OperatorSvd;
}

/** y = A x_0 + noiseStd ε with A given by callbacks. */
export interface OperatorObservation {
  operator: LinearOperator;
  y: ArrayLike<number>;
  noiseStd?: number;
}

/** Every form of observation the samplers and the exact posterior take. */
export type ObservationInput = Observation | MatrixObservation | OperatorObservation;

/** An exact mask, as the seed's samplers use it. */
export interface NormalizedObservation {
  indices: Int32Array;
  values: Float32Array;
  latent: Int32Array;
}

/** The thin SVD of A and the observation in its basis: ȳ = U^T y, y_⊥ = y − U ȳ (docs/MATH.md §8). */
export interface ObservationSvd {
  rank: number;
  /** Singular values, descending, all above 1e-12 s_max. */
  s: Float64Array;
  /** ȳ = U^T y (r). */
  ybar: Float64Array;
  /** ‖y_⊥‖². */
  yPerpNorm2: number;
  /** V_r^T as a dense r x D row-major matrix (masks and dense A), else undefined. */
  vt?: Float64Array;
  /** V_r^T x (r) and V_r c (D). */
  project(x: Float64Array): Float64Array;
  lift(c: Float64Array): Float64Array;
}

/** A checked linear-Gaussian observation (docs/MATH.md §8). */
export interface LinearObservation {
  kind: 'mask' | 'matrix' | 'operator';
  /** D. */
  dim: number;
  /** d_y. */
  rows: number;
  y: Float64Array;
  noiseStd: number;
  /** The mask's coordinates (kind 'mask'). */
  mask?: { indices: Int32Array; values: Float64Array };
  apply(x: Float64Array): Float64Array;
  applyT(u: Float64Array): Float64Array;
  /** Undefined for an operator given without its SVD. */
  svd?: ObservationSvd;
  /** A as a dense d_y x D row-major matrix (for the exact posterior; an operator is applied D times). */
  dense(): Float64Array;
}

/** Below this s_i / s_max a noiseless problem is ill-posed: ȳ_i / s_i amplifies float32 rounding past any use. */
export const ILL_POSED_RATIO = 1e-6;
/** A noiseless y is infeasible when ‖y_⊥‖ > FEASIBILITY_TOLERANCE ‖y‖ (rounding of y = A x in float32 stays far below). */
export const FEASIBILITY_TOLERANCE = 1e-6;

function arrayLike(name: string, v: unknown): ArrayLike<unknown> {
  if (v === undefined || v === null || typeof v !== 'object' || typeof (v as ArrayLike<unknown>).length !== 'number') throw typeError(name, 'an array of numbers', v);
  return v as ArrayLike<unknown>;
}

function finiteVector(name: string, v: unknown, length?: number): Float64Array {
  const a = arrayLike(name, v);
  if (length !== undefined && a.length !== length) throw rangeError(name, `an array of length ${length}`, v);
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) throw rangeError(`${name}[${i}]`, 'a finite number', x);
    out[i] = x;
  }
  return out;
}

export function noiseOf(name: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number') throw typeError(name, 'a non-negative finite number', v);
  if (!Number.isFinite(v) || v < 0) throw rangeError(name, 'a non-negative finite number', v);
  // Every formula uses σ²: one that underflows to 0 or overflows to Infinity gave NaN answers.
  if (v > 0 && !(v * v >= Number.MIN_VALUE * 2 ** 52 && Number.isFinite(v * v))) {
    throw rangeError(name, '0, or a number whose square is a normal double (about 1.5e-154 to 1.3e154)', v);
  }
  return v;
}

/** The seed's exact mask: indices, float32 values and the latent coordinates. */
export function normalizeObservation(observed: unknown, dim: number): NormalizedObservation {
  if (typeof observed !== 'object' || observed === null) throw typeError('observed', 'an object { indices, values }', observed);
  const o = observed as Record<string, unknown>;
  const idx = o.indices as ArrayLike<number> | undefined;
  const vals = o.values as ArrayLike<number> | undefined;
  if (idx === undefined || typeof idx !== 'object' || typeof idx.length !== 'number') throw typeError('observed.indices', 'an array of integers', idx);
  if (vals === undefined || typeof vals !== 'object' || typeof vals.length !== 'number') throw typeError('observed.values', 'an array of numbers', vals);
  if (idx.length !== vals.length) {
    throw new RangeError(`observed.values must have one value per index (${idx.length}), got ${vals.length}`);
  }
  const indices = new Int32Array(idx.length);
  const values = new Float32Array(idx.length);
  const seen = new Uint8Array(dim);
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i];
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= dim) throw rangeError(`observed.indices[${i}]`, `an integer in [0, ${dim})`, k);
    if (seen[k]) throw new RangeError(`observed.indices must be distinct, got index ${k} twice`);
    seen[k] = 1;
    indices[i] = k;
    const v = vals[i];
    // Finite as float32 too: 1e39 would become Infinity in the Float32Array.
    if (typeof v !== 'number' || !Number.isFinite(Math.fround(v))) throw rangeError(`observed.values[${i}]`, 'a finite float32 number', v);
    values[i] = v;
  }
  // After the indices' own checks, so that a repeated index is named as such.
  if (idx.length >= dim) throw rangeError('observed.indices', `fewer than D = ${dim} indices (something must be unobserved)`, idx);
  const latent = new Int32Array(dim - idx.length);
  for (let k = 0, j = 0; k < dim; k++) if (!seen[k]) latent[j++] = k;
  return { indices, values, latent };
}

/** Whether an observation is an exact mask: the seed's samplers and today's filter take it unchanged. */
export function isExactMask(observed: unknown): boolean {
  if (typeof observed !== 'object' || observed === null) return false;
  const o = observed as Record<string, unknown>;
  return o.A === undefined && o.operator === undefined && (o.noiseStd === undefined || o.noiseStd === 0);
}

/**
 * Checks any observation against the model dimension D and returns it with its SVD
 * (docs/MATH.md §8). A noiseless observation must be feasible (y_⊥ = 0) and well-posed
 * (every kept s_i above 1e-6 s_max); each failure is a RangeError naming it.
 */
export function normalizeLinearObservation(observed: unknown, dim: number, name = 'observed'): LinearObservation {
  if (typeof observed !== 'object' || observed === null || Array.isArray(observed)) {
    throw typeError(name, 'an object { indices, values, noiseStd? }, { A, y, noiseStd? } or { operator, y, noiseStd? }', observed);
  }
  const o = observed as Record<string, unknown>;
  const forms = ['indices', 'A', 'operator'].filter((k) => o[k] !== undefined);
  if (forms.length !== 1) {
    throw new TypeError(`${name} must have exactly one of indices (a mask), A (a matrix) or operator (callbacks), got ${forms.length === 0 ? 'none' : forms.join(' and ')}`);
  }
  const noiseStd = noiseOf(`${name}.noiseStd`, o.noiseStd);
  let obs: LinearObservation;
  if (forms[0] === 'indices') obs = maskObservation(o, dim, noiseStd, name);
  else if (forms[0] === 'A') obs = matrixObservation(o, dim, noiseStd, name);
  else obs = operatorObservation(o, dim, noiseStd, name);
  if (noiseStd === 0 && obs.svd) checkNoiseless(obs, name);
  return obs;
}

function checkNoiseless(obs: LinearObservation, name: string): void {
  const svd = obs.svd!;
  let y2 = 0;
  for (const v of obs.y) y2 += v * v;
  if (Math.sqrt(svd.yPerpNorm2) > FEASIBILITY_TOLERANCE * Math.sqrt(y2)) {
    throw new RangeError(
      `${name}.y is infeasible with noiseStd = 0: its component outside the range of A has norm ${Math.sqrt(svd.yPerpNorm2)} ` +
        `(at most ${FEASIBILITY_TOLERANCE} ||y|| = ${FEASIBILITY_TOLERANCE * Math.sqrt(y2)}); no x gives A x = y (docs/MATH.md §8): give a positive noiseStd`,
    );
  }
  const sMax = svd.s[0];
  for (let i = 0; i < svd.rank; i++) {
    if (svd.s[i] < ILL_POSED_RATIO * sMax) {
      throw new RangeError(
        `${name}.A makes the noiseless problem ill-posed: singular value ${i} is ${svd.s[i]}, below ${ILL_POSED_RATIO} s_max = ${ILL_POSED_RATIO * sMax} ` +
          `(pinning x̄ = ȳ/s would amplify rounding by ${sMax / svd.s[i]}; docs/MATH.md §8): give a positive noiseStd`,
      );
    }
  }
}

function maskObservation(o: Record<string, unknown>, dim: number, noiseStd: number, name: string): LinearObservation {
  if (noiseStd === 0) {
    const m = normalizeObservation(o, dim);
    return fromMask(dim, m.indices, Float64Array.from(m.values), 0);
  }
  // A noisy mask may observe every coordinate: the observed ones are still sampled.
  const idx = arrayLike(`${name}.indices`, o.indices);
  const values = finiteVector(`${name}.values`, o.values);
  if (idx.length !== values.length) throw new RangeError(`${name}.values must have one value per index (${idx.length}), got ${values.length}`);
  if (idx.length < 1) throw rangeError(`${name}.indices`, 'a non-empty array', o.indices);
  const indices = new Int32Array(idx.length);
  const seen = new Uint8Array(dim);
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i];
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= dim) throw rangeError(`${name}.indices[${i}]`, `an integer in [0, ${dim})`, k);
    if (seen[k]) throw new RangeError(`${name}.indices must be distinct, got index ${k} twice`);
    seen[k] = 1;
    indices[i] = k;
  }
  return fromMask(dim, indices, values, noiseStd);
}

function fromMask(dim: number, indices: Int32Array, values: Float64Array, noiseStd: number): LinearObservation {
  const r = indices.length;
  const vt = new Float64Array(r * dim);
  for (let i = 0; i < r; i++) vt[i * dim + indices[i]] = 1;
  const apply = (x: Float64Array) => Float64Array.from(indices, (k) => x[k]);
  const applyT = (u: Float64Array) => {
    const out = new Float64Array(dim);
    for (let i = 0; i < r; i++) out[indices[i]] = u[i];
    return out;
  };
  return {
    kind: 'mask', dim, rows: r, y: values, noiseStd, mask: { indices, values }, apply, applyT,
    svd: { rank: r, s: new Float64Array(r).fill(1), ybar: values.slice(), yPerpNorm2: 0, vt, project: apply, lift: applyT },
    dense: () => vt.slice(),
  };
}

function matrixObservation(o: Record<string, unknown>, dim: number, noiseStd: number, name: string): LinearObservation {
  const A = o.A;
  let rows: number, a: Float64Array;
  if (A instanceof Float64Array || A instanceof Float32Array) {
    if (o.rows === undefined) throw typeError(`${name}.rows`, 'the number of rows d_y of the flat row-major A', o.rows);
    if (typeof o.rows !== 'number' || !Number.isInteger(o.rows) || o.rows < 1) throw rangeError(`${name}.rows`, 'a positive integer', o.rows);
    rows = o.rows;
    if (A.length !== rows * dim) throw rangeError(`${name}.A`, `a row-major ${rows} x ${dim} array (length ${rows * dim}: D = ${dim} columns)`, A);
    a = new Float64Array(A.length);
    for (let i = 0; i < A.length; i++) {
      if (!Number.isFinite(A[i])) throw rangeError(`${name}.A[${Math.floor(i / dim)}][${i % dim}]`, 'a finite number', A[i]);
      a[i] = A[i];
    }
  } else {
    if (o.rows !== undefined) throw new TypeError(`${name}.rows is only for a flat row-major A, got ${describe(o.rows)} with nested rows`);
    const outer = arrayLike(`${name}.A`, A);
    rows = outer.length;
    if (rows < 1) throw rangeError(`${name}.A`, 'at least one row', A);
    a = new Float64Array(rows * dim);
    for (let i = 0; i < rows; i++) {
      const row = arrayLike(`${name}.A[${i}]`, outer[i]);
      if (row.length !== dim) throw rangeError(`${name}.A[${i}]`, `a row of D = ${dim} numbers (A must be d_y x ${dim})`, row);
      for (let j = 0; j < dim; j++) {
        const x = row[j];
        if (typeof x !== 'number' || !Number.isFinite(x)) throw rangeError(`${name}.A[${i}][${j}]`, 'a finite number', x);
        a[i * dim + j] = x;
      }
    }
  }
  const y = finiteVector(`${name}.y`, o.y);
  if (y.length !== rows) throw rangeError(`${name}.y`, `an array of length d_y = ${rows} (one value per row of A)`, o.y);
  const d = native.thinSvd(rows, dim, a);
  const r = d.rank;
  if (r === 0) throw new RangeError(`${name}.A must not be zero: it observes nothing`);
  const ybar = new Float64Array(r);
  for (let k = 0; k < r; k++) for (let i = 0; i < rows; i++) ybar[k] += d.u[i * r + k] * y[i];
  let yPerpNorm2 = 0;
  for (let i = 0; i < rows; i++) {
    let yi = y[i];
    for (let k = 0; k < r; k++) yi -= d.u[i * r + k] * ybar[k];
    yPerpNorm2 += yi * yi;
  }
  const matvec = (m: Float64Array, nr: number, nc: number, x: Float64Array) => {
    const out = new Float64Array(nr);
    for (let i = 0; i < nr; i++) {
      let acc = 0;
      for (let j = 0; j < nc; j++) acc += m[i * nc + j] * x[j];
      out[i] = acc;
    }
    return out;
  };
  const matTvec = (m: Float64Array, nr: number, nc: number, u: Float64Array) => {
    const out = new Float64Array(nc);
    for (let i = 0; i < nr; i++) for (let j = 0; j < nc; j++) out[j] += m[i * nc + j] * u[i];
    return out;
  };
  const vt = d.vt;
  return {
    kind: 'matrix', dim, rows, y, noiseStd,
    apply: (x) => matvec(a, rows, dim, x),
    applyT: (u) => matTvec(a, rows, dim, u),
    svd: { rank: r, s: d.s, ybar, yPerpNorm2, vt, project: (x) => matvec(vt, r, dim, x), lift: (c) => matTvec(vt, r, dim, c) },
    dense: () => a.slice(),
  };
}

/** A callback checked on every call: it must return `length` finite numbers, and its throws name it. */
function checked(name: string, f: unknown, outLength: number): (x: Float64Array) => Float64Array {
  if (typeof f !== 'function') throw typeError(name, 'a function', f);
  return (x: Float64Array) => {
    let r: unknown;
    try {
      r = (f as (x: Float64Array) => unknown)(x);
    } catch (err) {
      throw new Error(`${name} threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (r === null || typeof r !== 'object' || typeof (r as ArrayLike<number>).length !== 'number') throw typeError(`the result of ${name}`, `an array of ${outLength} numbers`, r);
    const a = r as ArrayLike<unknown>;
    if (a.length !== outLength) throw rangeError(`the result of ${name}`, `an array of length ${outLength}`, r);
    const out = new Float64Array(outLength);
    for (let i = 0; i < outLength; i++) {
      const v = a[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw rangeError(`the result of ${name}[${i}]`, 'a finite number', v);
      out[i] = v;
    }
    return out;
  };
}

function operatorObservation(o: Record<string, unknown>, dim: number, noiseStd: number, name: string): LinearObservation {
  const op = o.operator;
  if (typeof op !== 'object' || op === null) throw typeError(`${name}.operator`, 'an object { apply, applyT, svd? }', op);
  const p = op as Record<string, unknown>;
  const y = finiteVector(`${name}.y`, o.y);
  const rows = y.length;
  if (rows < 1) throw rangeError(`${name}.y`, 'a non-empty array', o.y);
  const apply = checked(`${name}.operator.apply`, p.apply, rows);
  const applyT = checked(`${name}.operator.applyT`, p.applyT, dim);
  // One call of each up front, so a wrong length or a throw is reported before any run.
  apply(new Float64Array(dim));
  applyT(new Float64Array(rows));
  let svd: ObservationSvd | undefined;
  if (p.svd !== undefined) {
    if (typeof p.svd !== 'object' || p.svd === null) throw typeError(`${name}.operator.svd`, 'an object { Vr, Vrt, U, Ut, s }', p.svd);
    const q = p.svd as Record<string, unknown>;
    const s = finiteVector(`${name}.operator.svd.s`, q.s);
    const r = s.length;
    if (r < 1) throw rangeError(`${name}.operator.svd.s`, 'a non-empty array', q.s);
    for (let i = 0; i < r; i++) {
      if (!(s[i] > 0) || (i > 0 && s[i] > s[i - 1])) throw rangeError(`${name}.operator.svd.s[${i}]`, 'positive and at most the one before (s_1 ≥ … ≥ s_r > 0)', s[i]);
    }
    if (r > Math.min(rows, dim)) throw rangeError(`${name}.operator.svd.s`, `at most min(d_y, D) = ${Math.min(rows, dim)} values`, q.s);
    const Vr = checked(`${name}.operator.svd.Vr`, q.Vr, dim);
    const Vrt = checked(`${name}.operator.svd.Vrt`, q.Vrt, r);
    const U = checked(`${name}.operator.svd.U`, q.U, rows);
    const Ut = checked(`${name}.operator.svd.Ut`, q.Ut, r);
    const ybar = Ut(y);
    const back = U(ybar);
    let yPerpNorm2 = 0;
    for (let i = 0; i < rows; i++) yPerpNorm2 += (y[i] - back[i]) ** 2;
    Vr(new Float64Array(r));
    Vrt(new Float64Array(dim));
    svd = { rank: r, s, ybar, yPerpNorm2, project: Vrt, lift: Vr };
  }
  const dense = () => {
    const a = new Float64Array(rows * dim);
    const e = new Float64Array(dim);
    for (let j = 0; j < dim; j++) {
      e.fill(0);
      e[j] = 1;
      const col = apply(e);
      for (let i = 0; i < rows; i++) a[i * dim + j] = col[i];
    }
    return a;
  };
  return { kind: 'operator', dim, rows, y, noiseStd, apply, applyT, svd, dense };
}

export interface PoolShape {
  height: number;
  width: number;
  channels: number;
  /** Side of the square block averaged into one output pixel; divides height and width. */
  factor: number;
}

/**
 * Average pooling (super-resolution): each output pixel is the mean of a factor x factor block
 * of one channel; images laid out channels x height x width (CHW), row-major. Its SVD is
 * closed-form: the rows of A are orthogonal with norm 1/factor, so U = I, s_i = 1/factor and
 * V_r's columns are the block indicators times 1/factor.
 */
function averagePool(shape: PoolShape, y: ArrayLike<number>, noiseStd = 0): OperatorObservation {
  if (typeof shape !== 'object' || shape === null) throw typeError('averagePool shape', 'an object { height, width, channels, factor }', shape);
  const int = (k: keyof PoolShape) => {
    const v = shape[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw rangeError(`averagePool ${k}`, 'a positive integer', v);
    return v;
  };
  const H = int('height'), W = int('width'), C = int('channels'), f = int('factor');
  if (H % f !== 0) throw rangeError('averagePool factor', `a divisor of height = ${H}`, f);
  if (W % f !== 0) throw rangeError('averagePool factor', `a divisor of width = ${W}`, f);
  const h = H / f, w = W / f, D = C * H * W, r = C * h * w;
  const block = (c: number, i: number, j: number) => (c * h + i) * w + j;
  const Vrt = (x: Float64Array) => {
    const out = new Float64Array(r);
    for (let c = 0; c < C; c++) for (let a = 0; a < H; a++) for (let b = 0; b < W; b++) out[block(c, Math.floor(a / f), Math.floor(b / f))] += x[(c * H + a) * W + b];
    for (let k = 0; k < r; k++) out[k] /= f;
    return out;
  };
  const Vr = (u: Float64Array) => {
    const out = new Float64Array(D);
    for (let c = 0; c < C; c++) for (let a = 0; a < H; a++) for (let b = 0; b < W; b++) out[(c * H + a) * W + b] = u[block(c, Math.floor(a / f), Math.floor(b / f))] / f;
    return out;
  };
  const apply = (x: Float64Array) => Vrt(x).map((v) => v / f);
  const applyT = (u: Float64Array) => Vr(u).map((v) => v / f);
  const ident = (v: Float64Array) => v.slice();
  return { operator: { apply, applyT, svd: { Vr, Vrt, U: ident, Ut: ident, s: new Float64Array(r).fill(1 / f) } }, y, noiseStd };
}

/** Builders of structured observations with a closed-form SVD. */
export const observations = { averagePool };
