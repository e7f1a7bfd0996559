// The huge-page advice for a run's large host arrays (lib/host-memory.ts, native
// adviseHugePages): only advice, so the arrays are the zeroed arrays `new` makes and the
// answers are the same bytes with it and without it (CONDIFF_HUGE_PAGES=off).
import { describe, expect, jest, test } from '@jest/globals';
import { native } from '../../lib/native';
import { HUGE_PAGE_ADVICE_BYTES, hostFloat32, hostFloat64, hostInt32 } from '../../lib/host-memory';
import { GaussianMixture } from '../../lib/mixture';
import { replacement, smc } from '../../lib/samplers';
import { schedules } from '../../lib/schedules';
import { throwsWith, Loose } from '../support/errors';

const raw = native as unknown as Record<string, Loose>;

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
    const D = 32, J = 3;
    const model = GaussianMixture.fromJSON({
      weights: [1, 2, 1],
      means: Array.from({ length: J }, (_, j) => Array.from({ length: D }, (_, k) => ((j + 1) * (k % 5)) / 4 - 1)),
      variances: Array.from({ length: J }, () => new Array(D).fill(0.5)),
    });
    const observed = { indices: [0, 5, 9], values: [0.5, -0.25, 1] };
    const common = { score: model, schedule: schedules.ou({ T: 3 }), observed, steps: 6, threads: 2, seed: 11 };
    const once = async () => ({
      smc: (await smc({ ...common, particles: 1024, samples: 40 })).samples,
      replacement: (await replacement({ ...common, samples: 41000 })).samples,
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
