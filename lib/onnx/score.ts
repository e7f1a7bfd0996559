// OnnxScore: any ONNX diffusion network as a score model. The network is run with
// onnxruntime-node (an optional peer dependency, loaded lazily) in batches of at most
// maxBatch rows; its output (epsilon, x0, v or a score) is converted to the score of p_t
// by lib/prediction.ts (MATH.md §1).
import type { Schedule } from '../schedules';
import { SCORE_OWNED } from '../score';
import type { NativeScore, ScoreContext } from '../score';
import { predictionToScore } from '../prediction';
import { FACTORY, requireFactory, typeError, rangeError, positiveInteger, oneOf, FileError } from '../errors';
import { loadOnnxRuntime, OnnxRuntimeModule, OrtSession, OrtTensor } from './runtime';
import { readOnnxMetadata } from './metadata';
import { NULL_CLASS } from '../guidance';
import {
  resolveLayout,
  networkTime,
  formatInfo,
  OnnxLayout,
  OnnxScoreOptions,
  OnnxParameterization,
  OnnxTimeInput,
  OnnxValueInfo,
  ExecutionProvider,
} from './layout';

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
  /** The class-label input of a class-conditional network, and its null class (docs/MATH.md §12); null when none. */
  readonly classInput: string | null;
  /** Whether the network has a class input: without one, samplers refuse `condition`. */
  get takesCondition(): boolean {
    return this.classInput !== null;
  }
  readonly nullClass: number | null;

  private readonly layout: OnnxLayout;
  private released = false;

  private constructor(
    token: typeof FACTORY,
    private readonly ort: OnnxRuntimeModule,
    private readonly session: OrtSession,
    metadata: Record<string, string>,
    layout: OnnxLayout,
    executionProvider: ExecutionProvider,
  ) {
    requireFactory(token, 'OnnxScore', 'await OnnxScore.load(model, options)');
    this.metadata = metadata;
    this.executionProvider = executionProvider;
    this.layout = layout;
    this.dim = layout.dim;
    this.prediction = layout.prediction;
    this.time = layout.time;
    this.inputName = layout.inputName;
    this.timeInputName = layout.timeInputName;
    this.outputName = layout.outputName;
    this.inputs = layout.inputs;
    this.outputs = layout.outputs;
    this.maxBatch = layout.maxBatch;
    this.clipX0 = layout.clipX0;
    this.trainingSchedule = layout.trainingSchedule;
    this.stepOffset = layout.stepOffset;
    this.timeScale = layout.timeScale;
    this.classInput = layout.classInputName;
    this.nullClass = layout.nullClass;
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
        throw new FileError(model, `OnnxScore: cannot read the model file ${JSON.stringify(model)}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { cause: e });
      }
      const message = `OnnxScore: ${typeof model === 'string' ? JSON.stringify(model) : 'the model bytes'} is not an ONNX model: ${(e as Error).message}`;
      if (typeof model === 'string') throw new FileError(model, message, { cause: e });
      throw new Error(message, { cause: e });
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
            'its installer downloads it on linux-x64 unless ONNXRUNTIME_NODE_INSTALL=skip was set (fetch it with ' +
            'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node) and it needs CUDA 12 and cuDNN 9; use \'cpu\' otherwise',
          { cause: e },
        );
      }
      throw new Error(`OnnxScore: onnxruntime cannot load ${typeof model === 'string' ? JSON.stringify(model) : 'the model bytes'}: ${message}`, { cause: e });
    }
    try {
      return new OnnxScore(FACTORY, ort, session, metadata, resolveLayout(session, metadata, options), provider);
    } catch (e) {
      await session.release().catch(() => undefined);
      throw e;
    }
  }

  /** The network's time input value for a sampler time (see `time`, `stepOffset`). */
  timeValue(t: number, context: Pick<ScoreContext, 'alpha' | 'sigma'>): number {
    return networkTime(this.layout, t, context);
  }

  private timeTensor(value: number, rows: number): OrtTensor {
    const n = this.layout.timeLayout === 'scalar' || this.layout.timeLayout === 'one' ? 1 : rows;
    const dims = this.layout.timeLayout === 'scalar' ? [] : this.layout.timeLayout === 'one' ? [1] : this.layout.timeLayout === 'rows' ? [rows] : [rows, 1];
    let data: unknown;
    switch (this.layout.timeType) {
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
    return new this.ort.Tensor(this.layout.timeType, data, dims);
  }

  /** The raw network output (rows x D) at time t, in float32: what it predicts, unconverted. */
  async predict(z: Float32Array, t: number, context: Pick<ScoreContext, 'alpha' | 'sigma' | 'condition'>): Promise<Float32Array> {
    if (!(z instanceof Float32Array)) throw typeError('z', 'a Float32Array', z);
    if (z.length % this.dim !== 0) throw rangeError('z.length', `a multiple of dim ${this.dim}`, z.length);
    if (this.released) throw new Error('OnnxScore: the model was released');
    const rows = z.length / this.dim;
    const out = new Float32Array(z.length);
    const tv = this.timeValue(t, context);
    if (!Number.isFinite(tv)) throw new RangeError(`OnnxScore: the time input must be finite, got ${tv} at t = ${t}`);
    const D = this.dim;
    const labels = this.labels(rows, context.condition, t);
    for (let start = 0; start < rows; start += this.maxBatch) {
      const count = Math.min(this.maxBatch, rows - start);
      const batch = this.layout.fixedBatch ?? count;
      let xData: Float32Array | Float64Array;
      const chunk = z.subarray(start * D, (start + count) * D);
      if (this.layout.xType === 'float64') {
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
        [this.inputName]: new this.ort.Tensor(this.layout.xType, xData, [batch, ...this.layout.xRowShape]),
        [this.timeInputName]: this.timeTensor(tv, batch),
      };
      if (labels) {
        const lab = this.layout.classType === 'int64' ? new BigInt64Array(batch) : new Int32Array(batch);
        for (let r = 0; r < batch; r++) {
          const v = labels[start + Math.min(r, count - 1)];
          if (lab instanceof BigInt64Array) lab[r] = BigInt(v);
          else lab[r] = v;
        }
        feeds[this.layout.classInputName!] = new this.ort.Tensor(this.layout.classType, lab, [batch]);
      }
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

  /**
   * The class label of every row for a class-conditional network (docs/MATH.md §12): the row's
   * context.condition, NULL_CLASS (-1) and an unconditional run mapped to the null class. Null
   * for a network without a class input (the condition, if any, is ignored).
   */
  private labels(rows: number, condition: Int32Array | undefined, t: number): Int32Array | null {
    const name = this.layout.classInputName;
    if (name === null) return null;
    const nullClass = this.layout.nullClass;
    const noNull = () => new TypeError(`OnnxScore: the model's class input ${JSON.stringify(name)} needs a class per row, or a null class for the unconditional prediction (options.nullClass or metadata condiff.null_class) at t = ${t}`);
    if (condition === undefined) {
      if (nullClass === null) throw noNull();
      return new Int32Array(rows).fill(nullClass);
    }
    if (condition.length !== rows) throw new RangeError(`OnnxScore: context.condition must hold ${rows} classes (one per row), got ${condition.length}`);
    const out = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      if (condition[r] === NULL_CLASS) {
        if (nullClass === null) throw noNull();
        out[r] = nullClass;
      } else if (condition[r] >= 0) {
        out[r] = condition[r];
      } else {
        throw new RangeError(`OnnxScore: the class of row ${r} must be >= 0 or ${NULL_CLASS} (null), got ${condition[r]}`);
      }
    }
    return out;
  }

  /** The score of p_t at each row of z (rows x D): the network's output converted by MATH.md §1. */
  async score(z: Float32Array, t: number, context: ScoreContext): Promise<Float32Array> {
    const out = new Float32Array(z.length);
    await this.convertInto(z, t, context, out, 1);
    return out;
  }

  /** The score into `out`; the caller's arrays are converted through the copying entry, as GaussianMixture.scoreInto's. */
  async scoreInto(z: Float32Array, context: ScoreContext, out: Float32Array, threads: number): Promise<void> {
    await this.convertInto(z, context.t, context, out, threads);
  }

  /** Internal: scoreInto on a run's own arrays, zero-copy (lib/score.ts SCORE_OWNED). */
  async [SCORE_OWNED](z: Float32Array, context: ScoreContext, out: Float32Array, threads: number): Promise<void> {
    await this.convertInto(z, context.t, context, out, threads, true);
  }

  /** `owned`: a run's own arrays (zero-copy), not a user's (lib/prediction.ts). */
  private async convertInto(z: Float32Array, t: number, context: Pick<ScoreContext, 'alpha' | 'sigma' | 'condition'>, out: Float32Array, threads: number, owned = false): Promise<void> {
    const y = await this.predict(z, t, context);
    await predictionToScore(z, y, this.prediction, context, out, threads, this.clipX0, owned);
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
