// How an ONNX diffusion network is read (MATH.md §1): which input is the noisy sample and
// which the time, their shapes and element types, what the network predicts, what its time
// input receives (and for a step input, the training schedule), x0-hat clipping and the
// batch size. Resolved once per model from the options, the model's `condiff.*` metadata
// and its declared inputs and outputs; every mismatch is an error that names the model's
// actual inputs and outputs. Also the network's time value for a sampler time.
import { Schedule, schedules, isSchedule } from '../schedules';
import type { ScoreContext } from '../score';
import type { Prediction } from '../prediction';
import { typeError, rangeError, positiveInteger, finiteNumber, oneOf, describe as describeValue } from '../errors';
import type { OrtValueMetadata } from './runtime';

/** What the network outputs (MATH.md §1): noise, clean sample, v = alpha eps - sigma x0, or the score. */
export type OnnxParameterization = Prediction;

/**
 * What the network's time input receives: 't' the sampler's continuous time (times
 * `timeScale`), 'step' a discrete DDPM step index of the training schedule, or 'sigma'
 * the noise level sigma_t.
 */
export type OnnxTimeInput = 't' | 'step' | 'sigma';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface OnnxScoreOptions {
  /** Name of the noisy-sample input (default: metadata `condiff.input`, else the only input that is not the time). */
  input?: string;
  /** Name of the time input (default: metadata `condiff.time_input`, else the other input). */
  timeInput?: string;
  /** Name of the output (default: metadata `condiff.output`, else the only output). */
  output?: string;
  /** What the network predicts (default: metadata `condiff.parameterization`, else 'epsilon'). */
  parameterization?: OnnxParameterization;
  /** What the time input receives (default: metadata `condiff.time`, else 'step' for an integer input, 't' for a float one). */
  time?: OnnxTimeInput;
  /** With time 't': the network sees t * timeScale (e.g. 1000 for a network trained on t in [0, 1000]). Default 1. */
  timeScale?: number;
  /**
   * With time 'step': the discrete schedule the network was trained with (default:
   * metadata `condiff.schedule` ('ddpm-linear' | 'ddpm-cosine') and `condiff.K`, else
   * schedules.ddpm({ K: 1000, betas: 'linear' })).
   */
  schedule?: Schedule;
  /**
   * With time 'step': the network's step n means condiff's alpha-bar_{n + stepOffset}
   * (alpha-bar_k = prod_{i <= k} (1 - beta_i), alpha-bar_0 = 1). Default: metadata
   * `condiff.step_offset`, else 1, the convention of Ho et al.'s code and of most
   * trained DDPMs: n = 0..K-1 indexes alphas_cumprod[n] = alpha-bar_{n+1}.
   */
  stepOffset?: number;
  /**
   * Clip the implied x0-hat = (z + sigma^2 s) / alpha to [lo, hi] before converting to a
   * score. `true` uses metadata `condiff.data_range`, else [-1, 1]. Default false (off).
   */
  clipX0?: boolean | readonly [number, number];
  /** Largest batch per network call (larger batches are split). Default 4096, or the model's fixed batch size. */
  maxBatch?: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, all physical cores). */
  threads?: number;
  /** 'cpu' (default) or 'cuda' (an error when this onnxruntime-node install has no CUDA provider). */
  executionProvider?: ExecutionProvider;
  /** State dimension D, needed only when the model's input shape does not fix it. */
  dim?: number;
  /**
   * Name of a class-label input of a conditional network (int32/int64, [batch]): it receives
   * each row's context.condition (docs/MATH.md §12). Default: metadata `condiff.class_input`;
   * without either the model has no class input.
   */
  classInput?: string;
  /** The label the network was trained with for "no class" (guidance dropout). Default: metadata `condiff.null_class`. */
  nullClass?: number;
}

/** A model input or output as onnxruntime describes it. */
export interface OnnxValueInfo {
  name: string;
  /** Element type ('float32', 'int64', ...), or 'non-tensor'. */
  type: string;
  /** Dimensions: numbers, or strings for symbolic ones (e.g. 'batch'). */
  shape: (number | string)[];
}

const FLOAT_TYPES = ['float32', 'float64'];
const TIME_TYPES = ['float32', 'float64', 'int32', 'int64'];

/** How the time input is shaped: a scalar, [1], one value per row ([batch]) or [batch, 1]. */
export type TimeLayout = 'scalar' | 'one' | 'rows' | 'rows1';

/** Everything fixed about a network once it is loaded. */
export interface OnnxLayout {
  /** Every input and output of the model, as onnxruntime reports them. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  inputName: string;
  timeInputName: string;
  outputName: string;
  /** State dimension D: the values in one row of the sample input. */
  dim: number;
  /** The sample input's element type and the shape of one row of it. */
  xType: string;
  xRowShape: number[];
  /** The batch size the model was exported with, or null for a symbolic one. */
  fixedBatch: number | null;
  timeType: string;
  timeLayout: TimeLayout;
  prediction: OnnxParameterization;
  time: OnnxTimeInput;
  timeScale: number;
  /** With time 'step': the training schedule and the step offset (network step n = k - stepOffset). */
  trainingSchedule: Schedule | null;
  stepOffset: number;
  /** log alpha-bar_k of the training schedule, k = 0..K (time 'step'). */
  logAlphaBar: Float64Array | null;
  /** The clipping interval of x0-hat, or null (off). */
  clipX0: readonly [number, number] | null;
  /** Largest batch per network call. */
  maxBatch: number;
  /** The class-label input (docs/MATH.md §12), its element type, and the label of the null class (null: none). */
  classInputName: string | null;
  classType: string;
  nullClass: number | null;
}

/** What onnxruntime says of a session's inputs and outputs. */
export interface SessionSignature {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly OrtValueMetadata[];
  readonly outputMetadata?: readonly OrtValueMetadata[];
}

function infoOf(m: OrtValueMetadata | undefined, name: string): OnnxValueInfo {
  if (m === undefined || !m.isTensor) return { name, type: m === undefined ? 'unknown' : 'non-tensor', shape: [] };
  return { name, type: m.type ?? 'unknown', shape: [...(m.shape ?? [])] };
}

export function formatInfo(v: OnnxValueInfo): string {
  return `${v.name}: ${v.type} [${v.shape.join(', ')}]`;
}

/**
 * Resolves how to read the network `session` describes. Options default to the model's
 * `condiff.*` metadata where present, then to what its inputs' shapes and types imply.
 */
export function resolveLayout(session: SessionSignature, metadata: Record<string, string>, o: OnnxScoreOptions): OnnxLayout {
  let xRowShape: number[];
  let trainingSchedule: Schedule | null;
  let stepOffset: number;
  let logAlphaBar: Float64Array | null;
  let clipX0: readonly [number, number] | null;
  let maxBatch: number;
  const inputs = session.inputNames.map((n, i) => infoOf(session.inputMetadata?.[i], n));
  const outputs = session.outputNames.map((n, i) => infoOf(session.outputMetadata?.[i], n));
  const models = `the model's inputs are ${inputs.map(formatInfo).join(', ') || 'none'}; its outputs are ${outputs.map(formatInfo).join(', ') || 'none'}`;
  function fail(message: string, kind: 'type' | 'range' = 'type'): never {
    throw new (kind === 'type' ? TypeError : RangeError)(`OnnxScore: ${message} (${models})`);
  }
  const meta = (key: string): string | undefined => metadata[`condiff.${key}`];

  // A class input (docs/MATH.md §12) is set aside first; the other two are the sample and the time.
  const allNames = inputs.map((v) => v.name);
  if (o.classInput !== undefined && typeof o.classInput !== 'string') throw typeError('classInput', 'a string', o.classInput);
  if (o.classInput !== undefined && !allNames.includes(o.classInput)) fail(`classInput ${JSON.stringify(o.classInput)} is not one of the model's inputs`);
  const metaClass = meta('class_input');
  if (o.classInput === undefined && metaClass !== undefined && !allNames.includes(metaClass)) fail(`metadata condiff.class_input names ${JSON.stringify(metaClass)}, which is not one of the model's inputs`);
  const classInputName = o.classInput ?? metaClass ?? null;
  let classType = 'int64';
  let nullClass: number | null = null;
  if (classInputName !== null) {
    const c = inputs.find((v) => v.name === classInputName)!;
    if (c.type !== 'int64' && c.type !== 'int32') fail(`class input ${JSON.stringify(c.name)} must be an int32 or int64 tensor, it is ${c.type}`);
    if (c.shape.length !== 1) fail(`class input ${JSON.stringify(c.name)} must have shape [batch], it has [${c.shape.join(', ')}]`, 'range');
    classType = c.type;
    const metaNull = meta('null_class');
    const n = o.nullClass ?? (metaNull === undefined ? undefined : Number(metaNull));
    if (n !== undefined) {
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) fail(`nullClass must be an integer >= 0, got ${describeValue(o.nullClass ?? metaNull)}`, 'range');
      nullClass = n;
    }
  } else if (o.nullClass !== undefined) {
    throw new TypeError('nullClass applies to a model with a class input (options.classInput or metadata condiff.class_input)');
  }
  const sampleInputs = inputs.filter((v) => v.name !== classInputName);

  // Names.
  const inputNames = sampleInputs.map((v) => v.name);
  const pickName = (option: string, given: string | undefined, fromMeta: string | undefined, list: string[], what: string): string | undefined => {
    if (given !== undefined) {
      if (typeof given !== 'string') throw typeError(option, 'a string', given);
      if (!list.includes(given)) fail(`${option} ${JSON.stringify(given)} is not one of the model's ${what}`);
      return given;
    }
    if (fromMeta !== undefined && list.includes(fromMeta)) return fromMeta;
    return undefined;
  };
  let xName = pickName('input', o.input, meta('input'), inputNames, 'inputs');
  let tName = pickName('timeInput', o.timeInput, meta('time_input'), inputNames, 'inputs');
  if (inputs.length !== (classInputName === null ? 2 : 3)) {
    fail(classInputName === null
      ? `the model must have exactly 2 inputs (the noisy sample and the time), it has ${inputs.length}; a class-conditional network names its class input (options.classInput or metadata condiff.class_input)`
      : `the model must have exactly 3 inputs (the noisy sample, the time and the class ${JSON.stringify(classInputName)}), it has ${inputs.length}`);
  }
  if (xName === undefined && tName !== undefined) xName = inputNames.find((n) => n !== tName);
  if (tName === undefined && xName !== undefined) tName = inputNames.find((n) => n !== xName);
  if (xName === undefined || tName === undefined) {
    // The sample is the input of rank >= 2 (a batch of rows); the time has rank <= 2 with one value per row at most.
    const ranked = sampleInputs.filter((v) => v.shape.length >= 2 && !(v.shape.length === 2 && v.shape[1] === 1));
    if (ranked.length !== 1) fail('cannot tell which input is the sample and which the time: give options.input and options.timeInput');
    xName = ranked[0].name;
    tName = inputNames.find((n) => n !== xName);
  }
  if (xName === tName) fail(`input and timeInput must differ, both are ${JSON.stringify(xName)}`);
  const outputNames = outputs.map((v) => v.name);
  let outName = pickName('output', o.output, meta('output'), outputNames, 'outputs');
  if (outName === undefined) {
    if (outputs.length !== 1) fail(`the model has ${outputs.length} outputs: give options.output`);
    outName = outputNames[0];
  }
  const inputName = xName!;
  const timeInputName = tName!;
  const outputName = outName;
  const x = sampleInputs.find((v) => v.name === inputName)!;
  const tInfo = sampleInputs.find((v) => v.name === timeInputName)!;
  const out = outputs.find((v) => v.name === outputName)!;

  // The sample input: [batch, ...row], float32 or float64.
  if (!FLOAT_TYPES.includes(x.type)) fail(`input ${JSON.stringify(x.name)} must be a float32 or float64 tensor, it is ${x.type}`);
  if (x.shape.length < 2) fail(`input ${JSON.stringify(x.name)} must have a batch dimension and at least one more, it has shape [${x.shape.join(', ')}]`, 'range');
  const batchDim = x.shape[0];
  const fixedBatch = typeof batchDim === 'number' ? batchDim : null;
  if (fixedBatch !== null && fixedBatch < 1) fail(`input ${JSON.stringify(x.name)} has batch dimension ${fixedBatch}`, 'range');
  const rowDims = x.shape.slice(1);
  let dim: number;
  if (rowDims.every((d) => typeof d === 'number')) {
    dim = (rowDims as number[]).reduce((a, b) => a * b, 1);
    if (o.dim !== undefined && o.dim !== dim) fail(`dim ${describeValue(o.dim)} does not match input ${JSON.stringify(x.name)}, whose rows hold ${dim} values`, 'range');
    xRowShape = rowDims as number[];
  } else {
    if (o.dim === undefined) fail(`input ${JSON.stringify(x.name)} has symbolic row dimensions: give options.dim`);
    dim = positiveInteger('dim', o.dim);
    if (rowDims.length !== 1) fail(`input ${JSON.stringify(x.name)} has several symbolic row dimensions: export it with fixed ones`);
    xRowShape = [dim];
  }
  if (!(dim >= 1)) fail(`input ${JSON.stringify(x.name)} has rows of ${dim} values`, 'range');
  const xType = x.type;

  // The output: same rows, same row size.
  if (!FLOAT_TYPES.includes(out.type)) fail(`output ${JSON.stringify(out.name)} must be a float32 or float64 tensor, it is ${out.type}`);
  const outRow = out.shape.slice(1);
  const outputRowShapeOk = out.shape.length >= 2 && outRow.every((d) => typeof d === 'number') ? (outRow as number[]).reduce((a, b) => a * b, 1) === dim : true;
  if (!outputRowShapeOk) fail(`output ${JSON.stringify(out.name)} has rows of ${(outRow as number[]).reduce((a, b) => a * b, 1)} values, the input ${JSON.stringify(x.name)} ${dim}`, 'range');
  if (out.shape.length >= 1 && typeof out.shape[0] === 'number' && fixedBatch !== null && out.shape[0] !== fixedBatch) {
    fail(`output ${JSON.stringify(out.name)} has batch ${out.shape[0]}, the input ${fixedBatch}`, 'range');
  }

  // The time input.
  if (!TIME_TYPES.includes(tInfo.type)) fail(`time input ${JSON.stringify(tInfo.name)} must be a float32, float64, int32 or int64 tensor, it is ${tInfo.type}`);
  const timeType = tInfo.type;
  const ts = tInfo.shape;
  let timeLayout: TimeLayout;
  if (ts.length === 0) timeLayout = 'scalar';
  else if (ts.length === 1 && ts[0] === 1 && fixedBatch !== 1) timeLayout = 'one';
  else if (ts.length === 1) timeLayout = 'rows';
  else if (ts.length === 2 && ts[1] === 1) timeLayout = 'rows1';
  else fail(`time input ${JSON.stringify(tInfo.name)} must have shape [], [1], [batch] or [batch, 1], it has [${ts.join(', ')}]`, 'range');
  if ((timeLayout === 'rows' || timeLayout === 'rows1') && typeof ts[0] === 'number' && ts[0] !== fixedBatch) {
    fail(`time input ${JSON.stringify(tInfo.name)} has batch ${ts[0]}, the input ${JSON.stringify(x.name)} ${batchDim}`, 'range');
  }
  const integerTime = tInfo.type.startsWith('int');
  const metaTime = meta('time');
  const timeOption = o.time ?? (metaTime === 't' || metaTime === 'step' || metaTime === 'sigma' ? metaTime : integerTime ? 'step' : 't');
  const time = oneOf('time', timeOption, ['t', 'step', 'sigma'] as const);
  if (integerTime && time !== 'step') fail(`time '${time}' needs a float time input, ${JSON.stringify(tInfo.name)} is ${tInfo.type}`);

  const metaParam = meta('parameterization');
  const prediction = oneOf(
    'parameterization',
    o.parameterization ?? (metaParam === 'epsilon' || metaParam === 'x0' || metaParam === 'v' || metaParam === 'score' ? metaParam : 'epsilon'),
    ['epsilon', 'x0', 'v', 'score'] as const,
  );
  const timeScale = o.timeScale === undefined ? 1 : finiteNumber('timeScale', o.timeScale);
  if (!(timeScale > 0)) throw rangeError('timeScale', 'a positive number', o.timeScale);

  // Training schedule for step inputs.
  if (time === 'step') {
    let sched: Schedule;
    if (o.schedule !== undefined) {
      if (!isSchedule(o.schedule) || o.schedule.name !== 'ddpm') throw typeError('schedule', "a discrete schedule from schedules.ddpm() (the network's training schedule)", o.schedule);
      sched = o.schedule;
    } else {
      const kind = meta('schedule') ?? 'ddpm-linear';
      if (kind !== 'ddpm-linear' && kind !== 'ddpm-cosine') fail(`metadata condiff.schedule must be 'ddpm-linear' or 'ddpm-cosine', got ${JSON.stringify(kind)}: give options.schedule`, 'range');
      const K = meta('K') === undefined ? 1000 : Number(meta('K'));
      sched = schedules.ddpm({ K, betas: kind === 'ddpm-cosine' ? 'cosine' : 'linear' });
    }
    const K = sched.T;
    trainingSchedule = sched;
    const metaOffset = meta('step_offset');
    const offset = o.stepOffset ?? (metaOffset === undefined ? 1 : Number(metaOffset));
    if (!Number.isInteger(offset)) throw rangeError('stepOffset', 'an integer', offset);
    stepOffset = offset;
    logAlphaBar = new Float64Array(K + 1);
    for (let k = 0; k <= K; k++) logAlphaBar[k] = 2 * sched.logAlpha(k);
  } else {
    if (o.schedule !== undefined) throw new TypeError(`schedule applies to time 'step' only, this model's time input receives '${time}'`);
    if (o.stepOffset !== undefined) throw new TypeError(`stepOffset applies to time 'step' only, this model's time input receives '${time}'`);
    trainingSchedule = null;
    stepOffset = 0;
    logAlphaBar = null;
  }

  // Clipping.
  if (o.clipX0 === undefined || o.clipX0 === false) {
    clipX0 = null;
  } else if (o.clipX0 === true) {
    const range = meta('data_range');
    const parts = range === undefined ? [-1, 1] : range.split(',').map(Number);
    if (parts.length !== 2 || !parts.every(Number.isFinite) || !(parts[0] < parts[1])) fail(`metadata condiff.data_range must be "lo,hi", got ${JSON.stringify(range)}`, 'range');
    clipX0 = [parts[0], parts[1]];
  } else if (Array.isArray(o.clipX0) && o.clipX0.length === 2) {
    const lo = finiteNumber('clipX0[0]', o.clipX0[0]), hi = finiteNumber('clipX0[1]', o.clipX0[1]);
    if (!(lo < hi)) throw rangeError('clipX0', 'an interval [lo, hi] with lo < hi', o.clipX0);
    clipX0 = [lo, hi];
  } else {
    throw typeError('clipX0', 'a boolean or [lo, hi]', o.clipX0);
  }

  if (fixedBatch !== null) {
    if (o.maxBatch !== undefined && o.maxBatch !== fixedBatch) {
      fail(`maxBatch ${describeValue(o.maxBatch)} does not match the model's fixed batch ${fixedBatch}`, 'range');
    }
    maxBatch = fixedBatch;
  } else {
    maxBatch = positiveInteger('maxBatch', o.maxBatch ?? 4096);
  }
  return {
    inputs,
    outputs,
    inputName,
    timeInputName,
    outputName,
    dim,
    xType,
    xRowShape,
    fixedBatch,
    timeType,
    timeLayout,
    prediction,
    time,
    timeScale,
    trainingSchedule,
    stepOffset,
    logAlphaBar,
    clipX0,
    maxBatch,
    classInputName,
    classType,
    nullClass,
  };
}

/** The network's time input value for a sampler time (see OnnxScore.timeValue). */
export function networkTime(layout: OnnxLayout, t: number, context: Pick<ScoreContext, 'alpha' | 'sigma'>): number {
  if (layout.time === 'sigma') return context.sigma;
  if (layout.time === 't') return t * layout.timeScale;
  return trainingStep(layout, t, context.alpha) - layout.stepOffset;
}

/**
 * The training step k (condiff's alpha-bar_k) for a sampler time: k = t when the sampler
 * runs the training schedule (the respaced grid of schedules.ddpm is a subset of its
 * steps), otherwise the step whose alpha-bar is nearest the sampler's alpha_t^2 (for a
 * float step input, interpolated linearly in log alpha-bar between neighbours).
 */
function trainingStep(layout: OnnxLayout, t: number, alpha: number): number {
  const lab = layout.logAlphaBar!;
  const K = lab.length - 1;
  const target = 2 * Math.log(alpha);
  // Steps the network knows: n = k - stepOffset >= 0, and k >= 1 (k = 0 is the data).
  const first = Math.max(1, layout.stepOffset);
  if (first >= K) return K;
  if (Number.isInteger(t) && t >= first && t <= K && Math.abs(lab[t] - target) <= 1e-9 * Math.max(1, Math.abs(target))) return t;
  if (!(target <= lab[first])) return first;
  if (!(target > lab[K])) return K;
  // lab is decreasing: the largest k with lab[k] >= target, then its neighbour.
  let lo = first, hi = K;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (lab[mid] >= target) lo = mid;
    else hi = mid;
  }
  const frac = (lab[lo] - target) / (lab[lo] - lab[hi]);
  if (layout.timeType.startsWith('int')) return frac < 0.5 ? lo : hi;
  return lo + frac;
}
