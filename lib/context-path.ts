// The forward context path of MATH.md §3 without the whole path in memory (CPU only).
// A path of S steps for R runs is (S + 1) × R × d_Y floats: for replacement, which runs one
// sample per run, hundreds of MB per call, most of whose cost on a VM is the first touch of
// fresh pages. Here only every K-th slice (and the last) is kept, K = ⌈√(S + 1)⌉; the slices
// between two kept ones are regenerated together from the lower one when one of them is first
// asked for (native forwardContextSegment: the same values as the whole path's, since every
// draw is a function of its run, step and element, MATH.md §6). The backward kernel asks for
// grid indices S, S − 1, …, 0, so each stretch but the last (still held after the first pass)
// is regenerated once: the path's normals are drawn nearly twice, and ⌈S / K⌉ + 1 + K slices
// are held instead of S + 1.
import { native, StreamArgs } from './native';
import { hostFloat32Unset, recycleHost } from './host-memory';

export interface ContextPathSpec {
  /** Y_0, d_Y values, the same for every run. */
  y0: Float32Array;
  runs: number;
  runOffset: number;
  /** alpha and sigma² of each step's transition, step i at i − 1. */
  alphaTs: Float64Array;
  sigma2Ts: Float64Array;
  stream: StreamArgs;
  threads: number;
}

export class CheckpointedContextPath {
  readonly steps: number;
  /** Slices between two kept ones. */
  readonly stride: number;
  private readonly slice: number;
  private readonly kept: Float32Array;
  private readonly stretch: Float32Array;
  private cached = -1;
  private released = false;

  private constructor(private readonly spec: ContextPathSpec) {
    this.steps = spec.alphaTs.length;
    this.stride = Math.max(1, Math.ceil(Math.sqrt(this.steps + 1)));
    this.slice = spec.runs * spec.y0.length;
    // Every slice is written before it is read: kept ones by create, the stretch by segment.
    this.kept = hostFloat32Unset(CheckpointedContextPath.keptCount(this.steps, this.stride) * this.slice);
    this.stretch = hostFloat32Unset(this.stride * this.slice);
  }

  /** Floats this path holds (its kept slices and its stretch). */
  get heldFloats(): number {
    return this.kept.length + this.stretch.length;
  }

  /** Floats held for a path of `steps` steps and `slice` floats a slice (for the size check before allocating). */
  static floats(steps: number, slice: number): number {
    const stride = Math.max(1, Math.ceil(Math.sqrt(steps + 1)));
    return (CheckpointedContextPath.keptCount(steps, stride) + stride) * slice;
  }

  private static keptCount(steps: number, stride: number): number {
    return Math.floor(steps / stride) + 1 + (steps % stride === 0 ? 0 : 1);
  }

  /**
   * Draws the path once, keeping every stride-th slice and the last. The stretch then holds
   * the last segment's slices, the first the backward kernel asks for: it is not drawn again.
   */
  static async create(spec: ContextPathSpec): Promise<CheckpointedContextPath> {
    const p = new CheckpointedContextPath(spec);
    const L = p.slice, dY = spec.y0.length;
    for (let r = 0; r < spec.runs; r++) p.kept.set(spec.y0, r * dY);
    let last = -1;
    for (let first = 0, k = 0; first < p.steps; first += p.stride, k++) {
      const count = Math.min(p.stride, p.steps - first);
      await p.segment(k, first, p.stretch.subarray(0, count * L));
      p.kept.set(p.stretch.subarray((count - 1) * L, count * L), (k + 1) * L);
      last = k;
    }
    // Slices first + 1 … first + count − 1 of the last segment sit where at() regenerates them.
    p.cached = last;
    return p;
  }

  /**
   * The context of every run at grid index i (runs × d_Y). A slice between kept ones is a view
   * of the stretch regenerated last: it stays valid until a slice of another stretch is asked
   * for, which i − 1 and i + 1 never are (each is in i's stretch or kept), so a step may hold
   * the context at t while it asks for the one at s.
   */
  async at(i: number): Promise<Float32Array> {
    if (!Number.isInteger(i) || i < 0 || i > this.steps) throw new RangeError(`the grid index must be an integer in [0, ${this.steps}], got ${i}`);
    if (this.released) throw new Error('this context path was released: its memory belongs to the next run');
    const L = this.slice;
    if (i === this.steps) return this.kept.subarray((this.kept.length / L - 1) * L);
    const k = Math.floor(i / this.stride), first = k * this.stride;
    if (i === first) return this.kept.subarray(k * L, (k + 1) * L);
    if (this.cached !== k) {
      this.cached = -1;
      await this.segment(k, first, this.stretch.subarray(0, (Math.min(this.stride, this.steps - first) - 1) * L));
      this.cached = k;
    }
    return this.stretch.subarray((i - first - 1) * L, (i - first) * L);
  }

  /**
   * Gives the path's memory to the next run (lib/host-memory.ts): call it once the run that
   * asked for slices has succeeded. Every slice at() returned is then dead; at() throws.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    recycleHost(this.kept, this.stretch);
  }

  /** Slices first + 1 … into out, from kept slice k (grid index first). */
  private async segment(k: number, first: number, out: Float32Array): Promise<void> {
    if (out.length === 0) return;
    const s = this.spec;
    await native.direct.forwardContextSegment(this.kept.subarray(k * this.slice, (k + 1) * this.slice), s.runs, s.runOffset, first, s.alphaTs, s.sigma2Ts, s.stream, out, s.threads);
  }
}
