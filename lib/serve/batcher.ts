// Continuous batching for particle filters: requests that share a batching key run as one
// driver call (lib/serve/batched.ts), each with its own seed and observed values, so each gets
// the bytes it would get alone. While no batch of a key runs, a request waits a short window
// (default 5 ms) for others; while one runs, requests queue and start together as soon as it
// ends, so under load the batches grow instead of running side by side. A member
// whose client goes away is answered with its AbortError at once and its result dropped; the
// others are unaffected. The batch itself stops only when every member has gone.
import type { StepInfo } from '../driver';
import { abortError } from '../errors';
import { sampleBatched, BatchMember, SharedOptions } from './batched';
import type { SampleResult, SmcResult } from '../samplers';

interface Entry {
  member: BatchMember;
  signal: AbortSignal;
  onStep?: (info: StepInfo) => void;
  resolve(r: SampleResult | SmcResult): void;
  reject(e: unknown): void;
  settled: boolean;
}

interface Pending {
  shared: SharedOptions;
  entries: Entry[];
}

export class Batcher {
  private readonly pending = new Map<string, Pending>();
  /** Batches of each key now running. */
  private readonly running = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    /** Called with each batch's size when it starts (metrics). */
    private readonly onBatch: (size: number) => void = () => undefined,
  ) {}

  /** Joins (or opens) the batch of `key`; resolves to this member's result. */
  submit(key: string, shared: SharedOptions, member: BatchMember, signal: AbortSignal, onStep?: (info: StepInfo) => void): Promise<SampleResult | SmcResult> {
    return new Promise((resolve, reject) => {
      const entry: Entry = { member, signal, onStep, resolve, reject, settled: false };
      const settle = (f: () => void) => {
        if (entry.settled) return;
        entry.settled = true;
        f();
      };
      entry.resolve = (r) => settle(() => resolve(r));
      entry.reject = (e) => settle(() => reject(e));
      if (signal.aborted) return entry.reject(abortError(signal));
      signal.addEventListener('abort', () => entry.reject(abortError(signal)), { once: true });
      let batch = this.pending.get(key);
      if (!batch) {
        batch = { shared, entries: [] };
        this.pending.set(key, batch);
        // Busy: it starts when the running batch ends (fire's finally). Idle: after the window.
        if (!this.running.get(key)) setTimeout(() => this.fire(key), this.windowMs);
      }
      batch.entries.push(entry);
    });
  }

  private async fire(key: string): Promise<void> {
    const batch = this.pending.get(key);
    if (!batch) return;
    this.pending.delete(key);
    const entries = batch.entries.filter((e) => !e.settled);
    if (entries.length === 0) return;
    this.running.set(key, (this.running.get(key) ?? 0) + 1);
    // The batch stops when every member's client has gone.
    const controller = new AbortController();
    const gone = () => {
      if (entries.every((e) => e.signal.aborted)) controller.abort(new Error('every client of the batch disconnected'));
    };
    for (const e of entries) e.signal.addEventListener('abort', gone, { once: true });
    const onStep = (info: StepInfo) => {
      for (const e of entries) if (!e.settled) e.onStep?.(info);
    };
    try {
      this.onBatch(entries.length);
      const results = await sampleBatched({ ...batch.shared, signal: controller.signal }, entries.map((e) => e.member), onStep);
      entries.forEach((e, i) => e.resolve(results[i]));
    } catch (err) {
      for (const e of entries) e.reject(err);
    } finally {
      const n = this.running.get(key)! - 1;
      if (n > 0) this.running.set(key, n);
      else {
        this.running.delete(key);
        // The requests that queued meanwhile start now.
        if (this.pending.has(key)) void this.fire(key);
      }
    }
  }
}
