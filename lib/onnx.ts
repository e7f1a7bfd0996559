// OnnxScore: any ONNX diffusion network as a score model. The network is run with
// onnxruntime-node (an optional peer dependency, loaded lazily) and its output (epsilon,
// x0, v or a score) is converted to the score of p_t by MATH.md §1, in float64 per element.
import * as fs from 'node:fs';
import { Schedule, schedules, isSchedule } from './schedules';
import { NativeScore, ScoreContext } from './score';
import { typeError, rangeError, positiveInteger, finiteNumber, oneOf, describe as describeValue } from './errors';

/** What the network outputs (MATH.md §1): noise, clean sample, v = alpha eps - sigma x0, or the score. */
export type OnnxParameterization = 'epsilon' | 'x0' | 'v' | 'score';

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
}

/** A model input or output as onnxruntime describes it. */
export interface OnnxValueInfo {
  name: string;
  /** Element type ('float32', 'int64', ...), or 'non-tensor'. */
  type: string;
  /** Dimensions: numbers, or strings for symbolic ones (e.g. 'batch'). */
  shape: (number | string)[];
}

// ---------------------------------------------------------------------------------------
// The subset of onnxruntime-node used here, typed locally so that condiff's types do not
// depend on the optional package.

interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
  dispose?(): void;
}
interface OrtValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: ReadonlyArray<number | string>;
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly OrtValueMetadata[];
  readonly outputMetadata?: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>, fetches?: readonly string[]): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface OnnxRuntimeModule {
  InferenceSession: { create(model: string | Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;
  listSupportedBackends?: () => { name: string; bundled: boolean }[];
}

let ortModule: OnnxRuntimeModule | undefined;

/**
 * Loads onnxruntime-node on first use. `load` is for tests (a stand-in for `require`);
 * without it the real package is required once and cached.
 */
export function loadOnnxRuntime(load?: (id: string) => unknown): OnnxRuntimeModule {
  if (load === undefined && ortModule !== undefined) return ortModule;
  let mod: unknown;
  try {
    mod = (load ?? require)('onnxruntime-node');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    const why = code === 'MODULE_NOT_FOUND' ? 'it is not installed' : `it failed to load: ${(e as Error)?.message ?? String(e)}`;
    const err = new Error(
      `OnnxScore needs the optional peer dependency onnxruntime-node, and ${why}. ` +
        'Install it with: npm install onnxruntime-node (its CPU binaries ship inside the package; ' +
        'set onnxruntime-node-install=skip in .npmrc where its installer cannot download the CUDA ones).',
      { cause: e },
    );
    err.name = 'OnnxRuntimeMissingError';
    throw err;
  }
  const m = mod as OnnxRuntimeModule;
  if (typeof m?.InferenceSession?.create !== 'function' || typeof m?.Tensor !== 'function') {
    throw new Error('onnxruntime-node loaded but does not export InferenceSession and Tensor: is it a supported version (>= 1.20)?');
  }
  if (load === undefined) ortModule = m;
  return m;
}

// ---------------------------------------------------------------------------------------
// ONNX model metadata (ModelProto.metadata_props, field 14), read from the protobuf
// without a protobuf library: only the top-level fields are walked, and the others (the
// graph, with its weights) are skipped by length, so a model file is never read whole.

/** Random access to the model's bytes: `size` bytes, `read(pos, len)` returns up to len of them. */
interface ByteSource {
  size: number;
  read(pos: number, len: number): Uint8Array;
}

/** A position in a ByteSource with the protobuf primitives. */
class Cursor {
  pos = 0;
  constructor(readonly src: ByteSource) {}
  varint(end: number): number {
    const head = this.src.read(this.pos, Math.min(10, end - this.pos));
    let result = 0, scale = 1;
    for (let i = 0; i < head.length; i++) {
      const b = head[i];
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.pos += i + 1;
        return result;
      }
      scale *= 128;
    }
    throw new RangeError('truncated ONNX protobuf');
  }
  skip(wire: number, end: number): void {
    if (wire === 0) this.varint(end);
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const len = this.varint(end); // (not `pos += varint()`: that would add to the old pos)
      this.pos += len;
    } else if (wire === 5) this.pos += 4;
    else throw new RangeError(`unsupported protobuf wire type ${wire}`);
    if (this.pos > end) throw new RangeError('truncated ONNX protobuf');
  }
}

function walkMetadata(src: ByteSource): Record<string, string> {
  const out: Record<string, string> = {};
  const decoder = new TextDecoder();
  const top = new Cursor(src);
  while (top.pos < src.size) {
    const key = top.varint(src.size);
    const field = Math.floor(key / 8), wire = key % 8;
    if (field === 0) throw new RangeError('field number 0');
    if (field !== 14 || wire !== 2) {
      top.skip(wire, src.size);
      continue;
    }
    // metadata_props: a StringStringEntryProto (key = 1, value = 2).
    const len = top.varint(src.size);
    if (top.pos + len > src.size) throw new RangeError('truncated ONNX protobuf');
    const bytes = src.read(top.pos, len);
    top.pos += len;
    const entry = new Cursor({ size: len, read: (p, l) => bytes.subarray(p, p + l) });
    let k = '', v = '';
    while (entry.pos < len) {
      const kk = entry.varint(len);
      const f = Math.floor(kk / 8), w = kk % 8;
      if ((f === 1 || f === 2) && w === 2) {
        const l = entry.varint(len);
        if (entry.pos + l > len) throw new RangeError('truncated ONNX protobuf');
        const text = decoder.decode(bytes.subarray(entry.pos, entry.pos + l));
        entry.pos += l;
        if (f === 1) k = text;
        else v = text;
      } else {
        entry.skip(w, len);
      }
    }
    out[k] = v;
  }
  return out;
}

/** The `metadata_props` key/value pairs of an ONNX model, from its bytes or its file. */
export function readOnnxMetadata(model: Uint8Array | string): Record<string, string> {
  if (model instanceof Uint8Array) return walkMetadata({ size: model.length, read: (p, l) => model.subarray(p, p + l) });
  const fd = fs.openSync(model, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    return walkMetadata({
      size,
      read: (p, l) => {
        const buf = Buffer.alloc(Math.max(0, Math.min(l, size - p)));
        let got = 0;
        while (got < buf.length) {
          const n = fs.readSync(fd, buf, got, buf.length - got, p + got);
          if (n === 0) break;
          got += n;
        }
        return buf.subarray(0, got);
      },
    });
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------

const FLOAT_TYPES = ['float32', 'float64'];
const TIME_TYPES = ['float32', 'float64', 'int32', 'int64'];

function infoOf(m: OrtValueMetadata | undefined, name: string): OnnxValueInfo {
  if (m === undefined || !m.isTensor) return { name, type: m === undefined ? 'unknown' : 'non-tensor', shape: [] };
  return { name, type: m.type ?? 'unknown', shape: [...(m.shape ?? [])] };
}

function formatInfo(v: OnnxValueInfo): string {
  return `${v.name}: ${v.type} [${v.shape.join(', ')}]`;
}

type TimeLayout = 'scalar' | 'one' | 'rows' | 'rows1';

/** A network's time input for one call: its value and where it comes from. */
interface TimeValue {
  value: number;
}

/**
 * A trained diffusion network in ONNX format as a condiff score model. Create it with
 * `await OnnxScore.load(file, options)`; pass it as `score` to any sampler; call
 * `release()` when done.
 */
export class OnnxScore implements NativeScore {
  /** What `score()` returns: always the score (the network's output is converted). */
  readonly parameterization = 'score' as const;
  /** State dimension D. */
  readonly dim: number;
  /** What the network predicts. */
  readonly prediction: OnnxParameterization;
  /** What its time input receives. */
  readonly time: OnnxTimeInput;
  readonly inputName: string;
  readonly timeInputName: string;
  readonly outputName: string;
  /** Every input and output of the model, as onnxruntime reports them. */
  readonly inputs: OnnxValueInfo[];
  readonly outputs: OnnxValueInfo[];
  /** The model's metadata_props. */
  readonly metadata: Record<string, string>;
  /** Largest batch per network call. */
  readonly maxBatch: number;
  readonly executionProvider: ExecutionProvider;
  /** The clipping interval of x0-hat, or null (off). */
  readonly clipX0: readonly [number, number] | null;
  /** With time 'step': the training schedule and the step offset (network step n = k - stepOffset). */
  readonly trainingSchedule: Schedule | null;
  readonly stepOffset: number;
  readonly timeScale: number;

  private readonly ort: OnnxRuntimeModule;
  private readonly session: OrtSession;
  private readonly xType: string;
  private readonly xRowShape: number[];
  private readonly fixedBatch: number | null;
  private readonly timeType: string;
  private readonly timeLayout: TimeLayout;
  private readonly outputRowShapeOk: boolean;
  /** log alpha-bar_k of the training schedule, k = 0..K (time 'step'). */
  private readonly logAlphaBar: Float64Array | null;
  private released = false;

  private constructor(init: {
    ort: OnnxRuntimeModule;
    session: OrtSession;
    metadata: Record<string, string>;
    options: OnnxScoreOptions;
    executionProvider: ExecutionProvider;
  }) {
    const { ort, session, metadata, options: o, executionProvider } = init;
    this.ort = ort;
    this.session = session;
    this.metadata = metadata;
    this.executionProvider = executionProvider;
    this.inputs = session.inputNames.map((n, i) => infoOf(session.inputMetadata?.[i], n));
    this.outputs = session.outputNames.map((n, i) => infoOf(session.outputMetadata?.[i], n));
    const models = `the model's inputs are ${this.inputs.map(formatInfo).join(', ') || 'none'}; its outputs are ${this.outputs.map(formatInfo).join(', ') || 'none'}`;
    const fail = (message: string, kind: 'type' | 'range' = 'type'): never => {
      throw new (kind === 'type' ? TypeError : RangeError)(`OnnxScore: ${message} (${models})`);
    };
    const meta = (key: string): string | undefined => metadata[`condiff.${key}`];

    // Names.
    const inputNames = this.inputs.map((v) => v.name);
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
    if (this.inputs.length !== 2) fail(`the model must have exactly 2 inputs (the noisy sample and the time), it has ${this.inputs.length}`);
    if (xName === undefined && tName !== undefined) xName = inputNames.find((n) => n !== tName);
    if (tName === undefined && xName !== undefined) tName = inputNames.find((n) => n !== xName);
    if (xName === undefined || tName === undefined) {
      // The sample is the input of rank >= 2 (a batch of rows); the time has rank <= 2 with one value per row at most.
      const ranked = this.inputs.filter((v) => v.shape.length >= 2 && !(v.shape.length === 2 && v.shape[1] === 1));
      if (ranked.length !== 1) fail('cannot tell which input is the sample and which the time: give options.input and options.timeInput');
      xName = ranked[0].name;
      tName = inputNames.find((n) => n !== xName);
    }
    if (xName === tName) fail(`input and timeInput must differ, both are ${JSON.stringify(xName)}`);
    const outputNames = this.outputs.map((v) => v.name);
    let outName = pickName('output', o.output, meta('output'), outputNames, 'outputs');
    if (outName === undefined) {
      if (this.outputs.length !== 1) fail(`the model has ${this.outputs.length} outputs: give options.output`);
      outName = outputNames[0];
    }
    this.inputName = xName!;
    this.timeInputName = tName!;
    this.outputName = outName;
    const x = this.inputs.find((v) => v.name === this.inputName)!;
    const tInfo = this.inputs.find((v) => v.name === this.timeInputName)!;
    const out = this.outputs.find((v) => v.name === this.outputName)!;

    // The sample input: [batch, ...row], float32 or float64.
    if (!FLOAT_TYPES.includes(x.type)) fail(`input ${JSON.stringify(x.name)} must be a float32 or float64 tensor, it is ${x.type}`);
    if (x.shape.length < 2) fail(`input ${JSON.stringify(x.name)} must have a batch dimension and at least one more, it has shape [${x.shape.join(', ')}]`, 'range');
    const batchDim = x.shape[0];
    this.fixedBatch = typeof batchDim === 'number' ? batchDim : null;
    if (this.fixedBatch !== null && this.fixedBatch < 1) fail(`input ${JSON.stringify(x.name)} has batch dimension ${this.fixedBatch}`, 'range');
    const rowDims = x.shape.slice(1);
    let dim: number;
    if (rowDims.every((d) => typeof d === 'number')) {
      dim = (rowDims as number[]).reduce((a, b) => a * b, 1);
      if (o.dim !== undefined && o.dim !== dim) fail(`dim ${describeValue(o.dim)} does not match input ${JSON.stringify(x.name)}, whose rows hold ${dim} values`, 'range');
      this.xRowShape = rowDims as number[];
    } else {
      if (o.dim === undefined) fail(`input ${JSON.stringify(x.name)} has symbolic row dimensions: give options.dim`);
      dim = positiveInteger('dim', o.dim);
      if (rowDims.length !== 1) fail(`input ${JSON.stringify(x.name)} has several symbolic row dimensions: export it with fixed ones`);
      this.xRowShape = [dim];
    }
    if (!(dim >= 1)) fail(`input ${JSON.stringify(x.name)} has rows of ${dim} values`, 'range');
    this.dim = dim;
    this.xType = x.type;

    // The output: same rows, same row size.
    if (!FLOAT_TYPES.includes(out.type)) fail(`output ${JSON.stringify(out.name)} must be a float32 or float64 tensor, it is ${out.type}`);
    const outRow = out.shape.slice(1);
    this.outputRowShapeOk = out.shape.length >= 2 && outRow.every((d) => typeof d === 'number') ? (outRow as number[]).reduce((a, b) => a * b, 1) === dim : true;
    if (!this.outputRowShapeOk) fail(`output ${JSON.stringify(out.name)} has rows of ${(outRow as number[]).reduce((a, b) => a * b, 1)} values, the input ${JSON.stringify(x.name)} ${dim}`, 'range');
    if (out.shape.length >= 1 && typeof out.shape[0] === 'number' && this.fixedBatch !== null && out.shape[0] !== this.fixedBatch) {
      fail(`output ${JSON.stringify(out.name)} has batch ${out.shape[0]}, the input ${this.fixedBatch}`, 'range');
    }

    // The time input.
    if (!TIME_TYPES.includes(tInfo.type)) fail(`time input ${JSON.stringify(tInfo.name)} must be a float32, float64, int32 or int64 tensor, it is ${tInfo.type}`);
    this.timeType = tInfo.type;
    const ts = tInfo.shape;
    this.timeLayout = 'scalar';
    if (ts.length === 0) this.timeLayout = 'scalar';
    else if (ts.length === 1 && ts[0] === 1 && this.fixedBatch !== 1) this.timeLayout = 'one';
    else if (ts.length === 1) this.timeLayout = 'rows';
    else if (ts.length === 2 && ts[1] === 1) this.timeLayout = 'rows1';
    else fail(`time input ${JSON.stringify(tInfo.name)} must have shape [], [1], [batch] or [batch, 1], it has [${ts.join(', ')}]`, 'range');
    if ((this.timeLayout === 'rows' || this.timeLayout === 'rows1') && typeof ts[0] === 'number' && ts[0] !== this.fixedBatch) {
      fail(`time input ${JSON.stringify(tInfo.name)} has batch ${ts[0]}, the input ${JSON.stringify(x.name)} ${batchDim}`, 'range');
    }
    const integerTime = tInfo.type.startsWith('int');
    const metaTime = meta('time');
    const time = o.time ?? (metaTime === 't' || metaTime === 'step' || metaTime === 'sigma' ? metaTime : integerTime ? 'step' : 't');
    this.time = oneOf('time', time, ['t', 'step', 'sigma'] as const);
    if (integerTime && this.time !== 'step') fail(`time '${this.time}' needs a float time input, ${JSON.stringify(tInfo.name)} is ${tInfo.type}`);

    const metaParam = meta('parameterization');
    this.prediction = oneOf(
      'parameterization',
      o.parameterization ?? (metaParam === 'epsilon' || metaParam === 'x0' || metaParam === 'v' || metaParam === 'score' ? metaParam : 'epsilon'),
      ['epsilon', 'x0', 'v', 'score'] as const,
    );
    this.timeScale = o.timeScale === undefined ? 1 : finiteNumber('timeScale', o.timeScale);
    if (!(this.timeScale > 0)) throw rangeError('timeScale', 'a positive number', o.timeScale);

    // Training schedule for step inputs.
    if (this.time === 'step') {
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
      this.trainingSchedule = sched;
      const metaOffset = meta('step_offset');
      const offset = o.stepOffset ?? (metaOffset === undefined ? 1 : Number(metaOffset));
      if (!Number.isInteger(offset)) throw rangeError('stepOffset', 'an integer', offset);
      this.stepOffset = offset;
      this.logAlphaBar = new Float64Array(K + 1);
      for (let k = 0; k <= K; k++) this.logAlphaBar[k] = 2 * sched.logAlpha(k);
    } else {
      if (o.schedule !== undefined) throw new TypeError(`schedule applies to time 'step' only, this model's time input receives '${this.time}'`);
      if (o.stepOffset !== undefined) throw new TypeError(`stepOffset applies to time 'step' only, this model's time input receives '${this.time}'`);
      this.trainingSchedule = null;
      this.stepOffset = 0;
      this.logAlphaBar = null;
    }

    // Clipping.
    if (o.clipX0 === undefined || o.clipX0 === false) {
      this.clipX0 = null;
    } else if (o.clipX0 === true) {
      const range = meta('data_range');
      const parts = range === undefined ? [-1, 1] : range.split(',').map(Number);
      if (parts.length !== 2 || !parts.every(Number.isFinite) || !(parts[0] < parts[1])) fail(`metadata condiff.data_range must be "lo,hi", got ${JSON.stringify(range)}`, 'range');
      this.clipX0 = [parts[0], parts[1]];
    } else if (Array.isArray(o.clipX0) && o.clipX0.length === 2) {
      const lo = finiteNumber('clipX0[0]', o.clipX0[0]), hi = finiteNumber('clipX0[1]', o.clipX0[1]);
      if (!(lo < hi)) throw rangeError('clipX0', 'an interval [lo, hi] with lo < hi', o.clipX0);
      this.clipX0 = [lo, hi];
    } else {
      throw typeError('clipX0', 'a boolean or [lo, hi]', o.clipX0);
    }

    if (this.fixedBatch !== null) {
      if (o.maxBatch !== undefined && o.maxBatch !== this.fixedBatch) {
        fail(`maxBatch ${describeValue(o.maxBatch)} does not match the model's fixed batch ${this.fixedBatch}`, 'range');
      }
      this.maxBatch = this.fixedBatch;
    } else {
      this.maxBatch = positiveInteger('maxBatch', o.maxBatch ?? 4096);
    }
  }

  /**
   * Loads a model from a file path or its bytes. Options default to the model's
   * `condiff.*` metadata where present; an option that does not fit the model is an
   * error naming the model's actual inputs and outputs.
   */
  static async load(model: string | Uint8Array, options: OnnxScoreOptions = {}, runtime?: OnnxRuntimeModule): Promise<OnnxScore> {
    if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
    if (typeof model !== 'string' && !(model instanceof Uint8Array)) throw typeError('model', 'a file path or a Uint8Array of ONNX bytes', model);
    const provider = oneOf('executionProvider', options.executionProvider ?? 'cpu', ['cpu', 'cuda'] as const);
    const threads = options.threads === undefined ? undefined : positiveInteger('threads', options.threads, 1024);
    const ort = runtime ?? loadOnnxRuntime();
    let metadata: Record<string, string>;
    try {
      metadata = readOnnxMetadata(model);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof model === 'string' && code !== undefined) {
        throw new Error(`OnnxScore: cannot read the model file ${JSON.stringify(model)}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { cause: e });
      }
      throw new Error(`OnnxScore: ${typeof model === 'string' ? JSON.stringify(model) : 'the model bytes'} is not an ONNX model: ${(e as Error).message}`, { cause: e });
    }
    const sessionOptions: Record<string, unknown> = { executionProviders: [provider], graphOptimizationLevel: 'all' };
    if (threads !== undefined) sessionOptions.intraOpNumThreads = threads;
    if (provider === 'cuda') {
      const backends = ort.listSupportedBackends?.() ?? [];
      if (!backends.some((b) => b.name === 'cuda')) {
        throw new Error(`OnnxScore: executionProvider 'cuda' is not available: this onnxruntime-node supports ${backends.map((b) => b.name).join(', ') || 'no listed providers'} on this platform`);
      }
    }
    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(model, sessionOptions);
    } catch (e) {
      const message = (e as Error)?.message ?? String(e);
      if (provider === 'cuda') {
        throw new Error(
          `OnnxScore: executionProvider 'cuda' is not available: ${message.split('\n')[0]}. onnxruntime-node's CUDA provider is not bundled: ` +
            'it is downloaded by its installer (npm install onnxruntime-node --onnxruntime-node-install=cuda12) and needs CUDA 12 and cuDNN 9; use \'cpu\' otherwise',
          { cause: e },
        );
      }
      throw new Error(`OnnxScore: onnxruntime cannot load ${typeof model === 'string' ? JSON.stringify(model) : 'the model bytes'}: ${message}`, { cause: e });
    }
    try {
      return new OnnxScore({ ort, session, metadata, options, executionProvider: provider });
    } catch (e) {
      await session.release().catch(() => undefined);
      throw e;
    }
  }

  /** The network's time input value for a sampler time (see `time`, `stepOffset`). */
  timeValue(t: number, context: Pick<ScoreContext, 'alpha' | 'sigma'>): number {
    if (this.time === 'sigma') return context.sigma;
    if (this.time === 't') return t * this.timeScale;
    return this.stepFor(t, context.alpha) - this.stepOffset;
  }

  /**
   * The training step k (condiff's alpha-bar_k) for a sampler time: k = t when the sampler
   * runs the training schedule (the respaced grid of schedules.ddpm is a subset of its
   * steps), otherwise the step whose alpha-bar is nearest the sampler's alpha_t^2 (for a
   * float step input, interpolated linearly in log alpha-bar between neighbours).
   */
  private stepFor(t: number, alpha: number): number {
    const lab = this.logAlphaBar!;
    const K = lab.length - 1;
    const target = 2 * Math.log(alpha);
    // Steps the network knows: n = k - stepOffset >= 0, and k >= 1 (k = 0 is the data).
    const first = Math.max(1, this.stepOffset);
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
    if (this.timeType.startsWith('int')) return frac < 0.5 ? lo : hi;
    return lo + frac;
  }

  private timeTensor(value: number, rows: number): OrtTensor {
    const n = this.timeLayout === 'scalar' || this.timeLayout === 'one' ? 1 : rows;
    const dims = this.timeLayout === 'scalar' ? [] : this.timeLayout === 'one' ? [1] : this.timeLayout === 'rows' ? [rows] : [rows, 1];
    let data: unknown;
    switch (this.timeType) {
      case 'float32':
        data = new Float32Array(n).fill(value);
        break;
      case 'float64':
        data = new Float64Array(n).fill(value);
        break;
      case 'int32':
        data = new Int32Array(n).fill(value);
        break;
      default:
        data = new BigInt64Array(n).fill(BigInt(value));
    }
    return new this.ort.Tensor(this.timeType, data, dims);
  }

  /** The raw network output (rows x D) at time t, in float32: what it predicts, unconverted. */
  async predict(z: Float32Array, t: number, context: Pick<ScoreContext, 'alpha' | 'sigma'>): Promise<Float32Array> {
    if (!(z instanceof Float32Array)) throw typeError('z', 'a Float32Array', z);
    if (z.length % this.dim !== 0) throw rangeError('z.length', `a multiple of dim ${this.dim}`, z.length);
    if (this.released) throw new Error('OnnxScore: the model was released');
    const rows = z.length / this.dim;
    const out = new Float32Array(z.length);
    const tv = this.timeValue(t, context);
    if (!Number.isFinite(tv)) throw new RangeError(`OnnxScore: the time input must be finite, got ${tv} at t = ${t}`);
    const D = this.dim;
    for (let start = 0; start < rows; start += this.maxBatch) {
      const count = Math.min(this.maxBatch, rows - start);
      const batch = this.fixedBatch ?? count;
      let xData: Float32Array | Float64Array;
      const chunk = z.subarray(start * D, (start + count) * D);
      if (this.xType === 'float64') {
        xData = new Float64Array(batch * D);
        for (let i = 0; i < count * D; i++) xData[i] = chunk[i];
      } else if (batch === count) {
        xData = chunk;
      } else {
        xData = new Float32Array(batch * D);
        xData.set(chunk);
      }
      // Rows past `count` (a fixed-batch model's padding) repeat the last row.
      for (let r = count; r < batch; r++) xData.copyWithin(r * D, (count - 1) * D, count * D);
      const feeds: Record<string, OrtTensor> = {
        [this.inputName]: new this.ort.Tensor(this.xType, xData, [batch, ...this.xRowShape]),
        [this.timeInputName]: this.timeTensor(tv, batch),
      };
      const result = await this.session.run(feeds, [this.outputName]);
      const y = result[this.outputName];
      const data = y?.data as Float32Array | Float64Array | undefined;
      if (!(data instanceof Float32Array || data instanceof Float64Array) || data.length !== batch * D || y.dims[0] !== batch) {
        throw new RangeError(
          `OnnxScore: output ${JSON.stringify(this.outputName)} must hold ${batch} x ${D} float values for a batch of ${batch}, got ${y?.type ?? 'nothing'} [${y?.dims?.join(', ') ?? ''}]`,
        );
      }
      if (data instanceof Float32Array) out.set(data.subarray(0, count * D), start * D);
      else for (let i = 0; i < count * D; i++) out[start * D + i] = data[i];
      for (const v of Object.values(result)) v.dispose?.();
    }
    return out;
  }

  /** The score of p_t at each row of z (rows x D): the network's output converted by MATH.md §1. */
  async score(z: Float32Array, t: number, context: ScoreContext): Promise<Float32Array> {
    const out = new Float32Array(z.length);
    await this.convertInto(z, t, context, out);
    return out;
  }

  /** Internal fast path used by the samplers (lib/score.ts): writes into `out`. */
  async scoreInto(z: Float32Array, context: ScoreContext, out: Float32Array): Promise<void> {
    await this.convertInto(z, context.t, context, out);
  }

  private async convertInto(z: Float32Array, t: number, context: Pick<ScoreContext, 'alpha' | 'sigma'>, out: Float32Array): Promise<void> {
    const y = await this.predict(z, t, context);
    const alpha = context.alpha, sigma = context.sigma;
    const sigma2 = sigma * sigma;
    const n = z.length;
    const clip = this.clipX0;
    // All four as (a z + b y): score s = a z + b y; with clipping, x0-hat = c z + d y first.
    let a: number, b: number, c: number, d: number;
    switch (this.prediction) {
      case 'score': // x0 = (z + sigma^2 s) / alpha
        a = 0; b = 1; c = 1 / alpha; d = sigma2 / alpha;
        break;
      case 'epsilon': // s = -eps / sigma; x0 = (z - sigma eps) / alpha
        a = 0; b = -1 / sigma; c = 1 / alpha; d = -sigma / alpha;
        break;
      case 'x0': // s = (alpha x0 - z) / sigma^2
        a = -1 / sigma2; b = alpha / sigma2; c = 0; d = 1;
        break;
      default: {
        // v = alpha eps - sigma x0 with z = alpha x0 + sigma eps:
        // eps = (sigma z + alpha v) / (alpha^2 + sigma^2), x0 = (alpha z - sigma v) / (alpha^2 + sigma^2)
        const r = alpha * alpha + sigma2;
        a = -1 / r; b = -alpha / (sigma * r); c = alpha / r; d = -sigma / r;
      }
    }
    if (clip === null) {
      for (let i = 0; i < n; i++) out[i] = a * z[i] + b * y[i];
    } else {
      const [lo, hi] = clip;
      const ax = alpha / sigma2, az = -1 / sigma2;
      for (let i = 0; i < n; i++) {
        let x0 = c * z[i] + d * y[i];
        x0 = x0 < lo ? lo : x0 > hi ? hi : x0;
        out[i] = ax * x0 + az * z[i];
      }
    }
  }

  /** Frees the onnxruntime session. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }

  toString(): string {
    return `OnnxScore(dim ${this.dim}, ${this.prediction}, time '${this.time}'; inputs ${this.inputs.map(formatInfo).join(', ')}; outputs ${this.outputs.map(formatInfo).join(', ')})`;
  }
}
