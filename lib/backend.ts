// Backends: which native core runs the per-particle work. 'cpu' is the addon built by
// binding.gyp; 'cuda' (when built) has the same operations on the GPU. 'auto' takes the
// best one that is available; asking for one that is not is an error, never a silent
// fallback.
import { native, NativeAddon } from './native';
import { oneOf } from './errors';

export type BackendName = 'auto' | 'cpu' | 'cuda';

export interface Backend {
  readonly name: 'cpu' | 'cuda';
  /** The operations of MATH.md §2–§7 on host typed arrays. */
  readonly ops: NativeAddon;
}

const cpu: Backend = { name: 'cpu', ops: native };

/** Why the CUDA backend is unavailable, or null when it is available. */
export function cudaUnavailableReason(): string | null {
  return 'this build of condiff has no CUDA backend (build one with "npm run build:cuda")';
}

export function selectBackend(requested: unknown = 'auto'): Backend {
  const name = oneOf('backend', requested, ['auto', 'cpu', 'cuda'] as const);
  if (name === 'cuda') {
    const reason = cudaUnavailableReason();
    if (reason !== null) throw new Error(`backend 'cuda' is not available: ${reason}`);
  }
  return cpu;
}
