// onnxruntime-node, an optional peer dependency, loaded on first use; and the subset of its
// API that condiff uses, typed here so that condiff's types do not depend on the package.
import { MissingDependencyError } from '../errors';

export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
  dispose?(): void;
}
export interface OrtValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: ReadonlyArray<number | string>;
}
export interface OrtSession {
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
    throw new MissingDependencyError(
      'onnxruntime-node',
      `OnnxScore needs the optional peer dependency onnxruntime-node, and ${why}. ` +
        'Install it with: npm install onnxruntime-node (its CPU binaries ship inside the package; on linux-x64 its installer ' +
        'also downloads the CUDA ones from NuGet: where it cannot reach api.nuget.org, skip them with ' +
        'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node).',
      { cause: e },
    );
  }
  const m = mod as OnnxRuntimeModule;
  if (typeof m?.InferenceSession?.create !== 'function' || typeof m?.Tensor !== 'function') {
    throw new Error('onnxruntime-node loaded but does not export InferenceSession and Tensor: is it a supported version (>= 1.20)?');
  }
  if (load === undefined) ortModule = m;
  return m;
}
