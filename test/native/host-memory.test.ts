// A run's large host arrays (lib/host-memory.ts): the huge-page advice (native
// adviseHugePages) and the reuse of finished runs' memory. Both only change where the memory
// comes from, so the arrays are the zeroed arrays `new` makes and the answers are the same
// bytes with them and without them (CONDIFF_HUGE_PAGES=off, CONDIFF_HOST_POOL=off); memory is
// only reused once nothing holds it: never an array a caller was handed, never a failed run's.
import { describe, expect, jest, test } from '@jest/globals';
import { native } from '../../lib/native';
import { HUGE_PAGE_ADVICE_BYTES, HOST_POOL_BYTES, HOST_POOL_IDLE_MS, clearHostPool, hostPoolBytes, hostFloat32, hostFloat32Unset, hostFloat64, hostInt32, hostPoolIdleBytes, recycleHost } from '../../lib/host-memory';
import { GaussianMixture } from '../../lib/mixture';
import { replacement, smc } from '../../lib/samplers';
import { schedules } from '../../lib/schedules';
import { throwsWith, Loose } from '../support/errors';

const raw = native as unknown as Record<string, Loose>;

// The samplers' problem: D = 32, J = 3, three coordinates observed; the calls below make
// state-sized arrays of more than HUGE_PAGE_ADVICE_BYTES.
const D = 32, J = 3;
const model = GaussianMixture.fromJSON({
  weights: [1, 2, 1],
  means: Array.from({ length: J }, (_, j) => Array.from({ length: D }, (_, k) => ((j + 1) * (k % 5)) / 4 - 1)),
  variances: Array.from({ length: J }, () => new Array(D).fill(0.5)),
});
const observed = { indices: [0, 5, 9], values: [0.5, -0.25, 1] };
const common = { score: model, schedule: schedules.ou({ T: 3 }), observed, threads: 2, seed: 11 };

describe('adviseHugePages', () => {
  test('takes a Float32Array, Float64Array or Int32Array and answers a boolean; anything else is a TypeError', () => {
    for (const a of [new Float32Array(3 << 20), new Float64Array(3 << 20), new Int32Array(3 << 20), new Float32Array(0), new Float32Array(4)]) {
      expect(typeof native.adviseHugePages(a)).toBe('boolean');
    }
    // Nothing whole inside: no page to advise.
    expect(native.adviseHugePages(new Float32Array(0))).toBe(false);
    expect(native.adviseHugePages(new Float32Array(4))).toBe(false);
    throwsWith(() => raw.adviseHugePages(new Uint8Array(16)), 'TypeError', /^array must be a Float32Array, a Float64Array or an Int32Array, got /);
    throwsWith(() => raw.adviseHugePages([1, 2]), 'TypeError', /^array must be a Float32Array, a Float64Array or an Int32Array, got an Array$/);
    throwsWith(() => raw.adviseHugePages(), 'TypeError', /^array must be a Float32Array, a Float64Array or an Int32Array, got undefined$/);
  });

  test('a detached array is answered false, not touched', () => {
    const a = new Float32Array(2 << 20);
    structuredClone(a.buffer, { transfer: [a.buffer] });
    expect(native.adviseHugePages(a)).toBe(false);
  });

  test('on Linux, a large fresh array takes the advice (where the kernel offers transparent huge pages)', () => {
    if (process.platform !== 'linux') return;
    let thp = '';
    try {
      thp = require('node:fs').readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
    } catch {
      return; // no THP in this kernel: madvise may refuse, which is allowed
    }
    if (!/\[(always|madvise)\]/.test(thp)) return;
    expect(native.adviseHugePages(new Float32Array(4 << 20))).toBe(true);
  });
});

describe('host arrays', () => {
  test('are zeroed (or filled) typed arrays of the asked length, above and below the advice threshold', () => {
    const big = HUGE_PAGE_ADVICE_BYTES / 4 + 5;
    for (const n of [0, 7, big]) {
      const f = hostFloat32(n), i = hostInt32(n), d = hostFloat64(n), g = hostFloat64(n, -2.5);
      expect([f.length, i.length, d.length, g.length]).toEqual([n, n, n, n]);
      expect(f.every((x) => x === 0) && i.every((x) => x === 0) && d.every((x) => x === 0)).toBe(true);
      expect(g.every((x) => x === -2.5)).toBe(true);
    }
  });

  test('only arrays of HUGE_PAGE_ADVICE_BYTES or more are advised, and none under CONDIFF_HUGE_PAGES=off', () => {
    const spy = jest.spyOn(native, 'adviseHugePages');
    const before = process.env.CONDIFF_HUGE_PAGES;
    try {
      delete process.env.CONDIFF_HUGE_PAGES;
      hostFloat32(HUGE_PAGE_ADVICE_BYTES / 4 - 1);
      hostInt32(16);
      expect(spy).not.toHaveBeenCalled();
      hostFloat32(HUGE_PAGE_ADVICE_BYTES / 4);
      hostFloat64(HUGE_PAGE_ADVICE_BYTES / 8, 1);
      hostInt32(HUGE_PAGE_ADVICE_BYTES / 4);
      expect(spy).toHaveBeenCalledTimes(3);
      process.env.CONDIFF_HUGE_PAGES = 'off';
      hostFloat32(HUGE_PAGE_ADVICE_BYTES);
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      spy.mockRestore();
      if (before === undefined) delete process.env.CONDIFF_HUGE_PAGES;
      else process.env.CONDIFF_HUGE_PAGES = before;
    }
  });

  test('smc and replacement give the same bytes with the advice and without it (CONDIFF_HUGE_PAGES=off)', async () => {
    // 1024 particles x 40 runs x D = 32: the state and the score buffer (5.2 MB each) are advised.
    const once = async () => ({
      smc: (await smc({ ...common, steps: 6, particles: 1024, samples: 40 })).samples,
      replacement: (await replacement({ ...common, steps: 6, samples: 41000 })).samples,
    });
    const advised = await once();
    const before = process.env.CONDIFF_HUGE_PAGES;
    process.env.CONDIFF_HUGE_PAGES = 'off';
    try {
      const plain = await once();
      expect(Buffer.compare(Buffer.from(advised.smc.buffer), Buffer.from(plain.smc.buffer))).toBe(0);
      expect(Buffer.compare(Buffer.from(advised.replacement.buffer), Buffer.from(plain.replacement.buffer))).toBe(0);
    } finally {
      if (before === undefined) delete process.env.CONDIFF_HUGE_PAGES;
      else process.env.CONDIFF_HUGE_PAGES = before;
    }
  });
});

/** Runs f with the environment variable set (or deleted for undefined), restoring it after. */
async function withEnv<T>(name: string, value: string | undefined, f: () => T | Promise<T>): Promise<T> {
  const before = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return await f();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

const BIG = HUGE_PAGE_ADVICE_BYTES / 4; // floats in the smallest pooled array

describe('the pool of finished runs\' memory', () => {
  test('an array that may be handed out takes only an idle buffer of its exact size, zeroed or filled, and spans it whole', () => {
    clearHostPool();
    const a = hostFloat32(BIG + 100);
    a.fill(7);
    recycleHost(a);
    expect(hostPoolIdleBytes()).toBe(a.byteLength);
    // Smaller: a fresh array (on the larger buffer, a.buffer would carry another run's values past its end).
    const smaller = hostFloat32(BIG + 99);
    expect(smaller.buffer).not.toBe(a.buffer);
    expect(smaller.buffer.byteLength).toBe(smaller.byteLength);
    expect(hostFloat32(BIG + 101).buffer).not.toBe(a.buffer);
    const b = hostFloat32(BIG + 100);
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(BIG + 100);
    expect(b.every((x) => x === 0)).toBe(true);
    expect(hostPoolIdleBytes()).toBe(0);
    // Another element type over the same memory, filled or zeroed.
    b.fill(9);
    recycleHost(b);
    const d = hostFloat64((BIG + 100) / 2, -1.5);
    expect(d.buffer).toBe(a.buffer);
    expect(d.every((x) => x === -1.5)).toBe(true);
    recycleHost(d);
    const i = hostInt32(BIG + 100);
    expect(i.buffer).toBe(a.buffer);
    expect(i.every((x) => x === 0)).toBe(true);
    clearHostPool();
  });

  test('an array that never leaves the library (hostFloat32Unset) takes the smallest idle buffer that holds it under twice its size, as it was left', () => {
    clearHostPool();
    const large = hostFloat32(2 * BIG + 3000), small = hostFloat32(2 * BIG + 1000);
    small.fill(3);
    recycleHost(large, small);
    const u = hostFloat32Unset(BIG + 501);
    expect(u.buffer).toBe(small.buffer);
    expect(u.length).toBe(BIG + 501);
    expect(u[0]).toBe(3);
    // The large buffer is twice this request or more: a fresh array.
    expect(hostFloat32Unset(BIG + 1500).buffer).not.toBe(large.buffer);
    expect(hostFloat32Unset(BIG + 1501).buffer).toBe(large.buffer);
    clearHostPool();
  });

  test('only whole buffers this module made are kept, each once; small arrays never', () => {
    clearHostPool();
    const mine = hostFloat32(BIG);
    recycleHost(new Float32Array(BIG), mine.subarray(4), hostFloat32(BIG - 1), null, undefined);
    expect(hostPoolIdleBytes()).toBe(0);
    recycleHost(mine, mine);
    expect(hostPoolIdleBytes()).toBe(mine.byteLength);
    // Taken again, then given back twice: held once.
    const again = hostFloat32(BIG);
    expect(again.buffer).toBe(mine.buffer);
    recycleHost(again);
    recycleHost(again);
    expect(hostPoolIdleBytes()).toBe(mine.byteLength);
    expect(hostFloat32(BIG).buffer).toBe(mine.buffer);
    expect(hostFloat32(BIG).buffer).not.toBe(mine.buffer);
    // A detached buffer has no memory to keep.
    const moved = hostFloat32(BIG);
    structuredClone(moved.buffer, { transfer: [moved.buffer] });
    recycleHost(moved);
    expect(hostPoolIdleBytes()).toBe(0);
    clearHostPool();
  });

  test('idle memory is bounded (the oldest let go first) and let go after HOST_POOL_IDLE_MS', () => {
    clearHostPool();
    const n = Math.floor(HOST_POOL_BYTES / HUGE_PAGE_ADVICE_BYTES);
    // n + 2 arrays of the smallest pooled size: only the newest n fit under the bound.
    const arrays = Array.from({ length: n + 2 }, () => hostFloat32(BIG));
    recycleHost(...arrays);
    expect(hostPoolIdleBytes()).toBe(n * HUGE_PAGE_ADVICE_BYTES);
    // The two oldest were let go; among equal sizes the one kept first is taken first.
    expect(hostFloat32(BIG).buffer).toBe(arrays[2].buffer);
    expect(hostFloat32(BIG).buffer).toBe(arrays[3].buffer);
    clearHostPool();
    jest.useFakeTimers();
    try {
      recycleHost(hostFloat32(BIG));
      jest.advanceTimersByTime(HOST_POOL_IDLE_MS - 1);
      expect(hostPoolIdleBytes()).toBe(HUGE_PAGE_ADVICE_BYTES);
      jest.advanceTimersByTime(1);
      expect(hostPoolIdleBytes()).toBe(0);
    } finally {
      jest.useRealTimers();
      clearHostPool();
    }
  });

  test('the bound: 1 GiB, or an eighth of the machine\'s memory or of a container\'s limit where less', () => {
    const GiB = 2 ** 30;
    expect(hostPoolBytes(24e9, 2 ** 64)).toBe(GiB); // no limit: constrainedMemory's ~2^64
    expect(hostPoolBytes(24e9, 0)).toBe(GiB);
    expect(hostPoolBytes(24e9, undefined)).toBe(GiB);
    expect(hostPoolBytes(24e9, 2e9)).toBe(250e6); // a 2 GB container on a 24 GB host
    expect(hostPoolBytes(4e9, undefined)).toBe(500e6);
    expect(hostPoolBytes(4e9, 16e9)).toBe(500e6); // a limit above the machine's memory
    expect(HOST_POOL_BYTES).toBeLessThanOrEqual(GiB);
  });

  test('CONDIFF_HOST_POOL=off keeps nothing', async () => {
    clearHostPool();
    await withEnv('CONDIFF_HOST_POOL', 'off', () => {
      const a = hostFloat32(BIG);
      recycleHost(a);
      expect(hostPoolIdleBytes()).toBe(0);
      expect(hostFloat32(BIG).buffer).not.toBe(a.buffer);
    });
  });

  // replacement with 41000 samples (a 5.2 MB state and score buffer, and a checkpointed
  // context path of 3 observed coordinates x 41000 runs a slice over 64 steps:
  // contextPathPolicy lowered so it is kept in part), smc 1024 particles x 40 runs.
  const hash = (a: ArrayBufferView) => require('node:crypto').createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

  test('what a caller is handed is never reused, and repeated calls give the bytes of calls without the pool', async () => {
    const { contextPathPolicy } = require('../../lib/samplers');
    const policy = contextPathPolicy.checkpointAboveBytes;
    contextPathPolicy.checkpointAboveBytes = 1 << 20;
    try {
      const calls = async (seed: number) => {
        const rep = await replacement({ ...common, seed, steps: 63, samples: 41000 });
        const one = await smc({ ...common, seed, steps: 8, particles: 1024, samples: 40 });
        const all = await smc({ ...common, seed, steps: 8, particles: 1024, samples: 40, output: 'all' });
        return [rep.samples, one.samples, all.samples, all.particles!];
      };
      clearHostPool();
      // Two seeds, so that memory handed out twice would show as changed bytes.
      const expected = await withEnv('CONDIFF_HOST_POOL', 'off', async () => [(await calls(11)).map(hash), (await calls(12)).map(hash)]);
      const first = await calls(11);
      // The finished runs' buffers wait for the next: the state and score buffer of each, the path.
      expect(hostPoolIdleBytes()).toBeGreaterThan(0);
      expect(first.map(hash)).toEqual(expected[0]);
      const later = [await calls(12), await calls(11), await calls(12)];
      // What the first calls handed over is unchanged by the later calls, which give the same bytes.
      expect(first.map(hash)).toEqual(expected[0]);
      later.forEach((r, k) => expect(r.map(hash)).toEqual(expected[(k + 1) % 2]));
      // Nothing handed to a caller shares memory with anything else handed out, and each
      // spans its whole buffer.
      const handed = [first, ...later].flat();
      expect(new Set(handed.map((a) => a.buffer)).size).toBe(handed.length);
      for (const a of handed) expect(a.buffer.byteLength).toBe(a.byteLength);
      // A smaller call after a larger one: its samples on a buffer of their own size.
      const smaller = (await replacement({ ...common, steps: 8, samples: 34000 })).samples;
      expect(smaller.buffer.byteLength).toBe(smaller.byteLength);
    } finally {
      contextPathPolicy.checkpointAboveBytes = policy;
      clearHostPool();
    }
  });

  test('a released context path gives its memory back and answers no more', async () => {
    const { CheckpointedContextPath } = require('../../lib/context-path');
    clearHostPool();
    const path = await CheckpointedContextPath.create({
      y0: new Float32Array([0.5, -1]), runs: 1 << 20, runOffset: 0, alphaTs: new Float64Array(8).fill(0.9), sigma2Ts: new Float64Array(8).fill(0.1),
      stream: { seed: 3, step: 0, purpose: native.purposes.contextPath }, threads: 2,
    });
    await path.at(4);
    path.release();
    expect(hostPoolIdleBytes()).toBe(4 * path.heldFloats);
    await expect(path.at(4)).rejects.toThrow(/^this context path was released/);
    path.release();
    expect(hostPoolIdleBytes()).toBe(4 * path.heldFloats);
    clearHostPool();
  });

  test('a failed run gives nothing back (a job may still hold its buffers)', async () => {
    clearHostPool();
    const ac = new AbortController();
    const failing = replacement({ ...common, steps: 20, samples: 41000, signal: ac.signal, onStep: (i) => i.step === 3 && ac.abort() });
    await expect(failing).rejects.toThrow();
    expect(hostPoolIdleBytes()).toBe(0);
    clearHostPool();
  });
});
