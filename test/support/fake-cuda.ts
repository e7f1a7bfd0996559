// A stand-in for a CUDA context (lib/native.ts CudaContext) on the CPU: its "device
// arrays" wrap host typed arrays, its operations are the CPU addon's on them, and its
// transfers copy between them, with the same argument rules as the binding's (whole arrays
// of equal length, or a range from `offset`). It records what lib/backend.ts asks of it
// (page-locked allocations, transfers), and can be lost as after a sticky device failure:
// every call is then refused with the cause, as native/cuda's Context::require_usable does.
// With it the CUDA backend's host-side logic runs without a device.
import { native, CudaContext, DeviceArray, NativeMixture } from '../../lib/native';

type HostArray = Float32Array | Float64Array | Int32Array | Uint8Array;
type ElementType = DeviceArray['type'];

const CTORS = { float32: Float32Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array } as const;

export class FakeDeviceArray implements DeviceArray {
  freed = false;
  constructor(readonly data: HostArray, readonly type: ElementType) {}
  get length(): number {
    return this.data.length;
  }
  get byteLength(): number {
    return this.data.byteLength;
  }
  free(): void {
    this.freed = true;
  }
}

export const isFakeDeviceArray = (a: unknown): boolean => a instanceof FakeDeviceArray;

/** The particle operations a context runs (lib/backend.ts DEVICE_OPS). */
const OPS = [
  'normals', 'initState', 'forwardContextPath', 'kernelMean', 'gaussianYLogWeights', 'reweight', 'resampleBatch',
  'propagate', 'langevin', 'renoise', 'firstNonFinite', 'predictionToScore', 'resample', 'resampleAsync', 'gatherRows',
  'gatherRowsAsync',
] as const;

export interface FakeCuda extends CudaContext {
  lost: string | null;
  /** Lengths asked of hostArray (page-locked memory), in order. */
  readonly pinned: number[];
  /** Every transfer: direction, host length, offset (undefined: a whole array). */
  readonly transfers: Array<{ dir: 'up' | 'down'; length: number; offset: number | undefined }>;
  /** Called before each operation by name (a test can lose the context there). */
  onCall?: (name: string) => void;
}

function unwrap(a: unknown): unknown {
  if (!(a instanceof FakeDeviceArray)) return a;
  if (a.freed) throw new TypeError('a DeviceArray was used after free()');
  return a.data;
}

function range(device: FakeDeviceArray, host: HostArray, offset: number | undefined): number {
  if (offset === undefined) {
    if (host.length !== device.length) throw new RangeError(`host must have length ${device.length} (the DeviceArray's length), got ${host.length}`);
    return 0;
  }
  if (!Number.isInteger(offset) || offset < 0 || offset > device.length - host.length) {
    throw new RangeError(`offset must be an integer in [0, ${device.length - host.length}], got ${offset}`);
  }
  return offset;
}

export function fakeCuda(): FakeCuda {
  const ctx = { lost: null, pinned: [], transfers: [] } as unknown as FakeCuda;
  const refuse = (name: string) => {
    ctx.onCall?.(name);
    if (ctx.lost !== null) {
      throw new Error(`${name}: the CUDA context of this process was lost after an earlier error (${ctx.lost}), so it refuses further calls: restart the process to use the GPU again`);
    }
  };
  const methods: Record<string, unknown> = {
    alloc: (type: ElementType, length: number) => {
      refuse('alloc');
      return new FakeDeviceArray(new CTORS[type](length), type);
    },
    hostArray: (type: ElementType, length: number) => {
      refuse('hostArray');
      ctx.pinned.push(length);
      return new CTORS[type](length);
    },
    upload: async (host: HostArray, device: FakeDeviceArray, offset?: number) => {
      refuse('upload');
      const at = range(device, host, offset);
      ctx.transfers.push({ dir: 'up', length: host.length, offset });
      (unwrap(device) as HostArray).set(host, at);
      return 0;
    },
    download: async (device: FakeDeviceArray, host: HostArray, offset?: number) => {
      refuse('download');
      const at = range(device, host, offset);
      ctx.transfers.push({ dir: 'down', length: host.length, offset });
      host.set((unwrap(device) as HostArray).subarray(at, at + host.length));
      return 0;
    },
    copy: async (source: FakeDeviceArray, target: FakeDeviceArray) => {
      refuse('copy');
      (unwrap(target) as HostArray).set(unwrap(source) as HostArray);
      return 0;
    },
    synchronize: () => refuse('synchronize'),
    mixtureScore: (mixture: NativeMixture, z: unknown, alpha: number, sigma2: number, out: unknown, threads: number) => {
      refuse('mixtureScore');
      return mixture.score(unwrap(z) as Float32Array, alpha, sigma2, unwrap(out) as Float32Array, threads);
    },
  };
  for (const name of OPS) {
    const op = (native as unknown as Record<string, (...args: unknown[]) => unknown>)[name];
    methods[name] = (...args: unknown[]) => {
      refuse(name);
      return op(...args.map(unwrap));
    };
  }
  return Object.assign(ctx, methods);
}
