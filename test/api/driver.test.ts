// The driver's contract (lib/driver.ts): a model defined here, outside the library, runs
// through the driver unchanged; and a run that fails or is aborted at any point frees
// everything it allocated and releases its scorer.
import { describe, expect, test } from '@jest/globals';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { runFeynmanKac, FeynmanKacModel, DriverProblem } from '../../lib/driver';
import { selectBackend, Backend, BackendMemory } from '../../lib/backend';
import { schedules } from '../../lib/schedules';
import { GaussianMixture } from '../../lib/mixture';
import { smc, replacement } from '../../lib/samplers';
import { bootstrapModel } from '../../lib/models/bootstrap';
import { replacementModel } from '../../lib/models/replacement';

// A toy importance sampler with tempered potentials: X ~ N(0, I_D) at the start, never
// moved, weighted by S equal pieces of G(x) = exp(-|x - c|^2 / 2), resampled when the ESS
// falls below half. Exactly: the target is N(c/2, I/2) and Z = E[G] = 2^{-D/2} e^{-|c|^2/4}.
function temperedImportance(c: number[]): FeynmanKacModel {
  return {
    name: 'tempered-importance',
    weighted: true,
    start(run) {
      const z = run.z as Float32Array, inc = run.increment as Float64Array;
      const copy = new Float32Array(z.length);
      return {
        initial: async () => {
          await run.ops.normals(z, { ...run.stream(run.steps, 'user'), run: 0 }, 0, run.threads);
        },
        weigh: async (step) => {
          for (let k = 0; k < run.rows; k++) {
            let d2 = 0;
            for (let j = 0; j < run.dim; j++) d2 += (z[k * run.dim + j] - c[j]) ** 2;
            inc[k] = -d2 / (2 * run.steps);
          }
          expect(step.t).toBe(run.grid[step.index]);
        },
        move: async (_step, ancestors) => {
          if (ancestors === null) return;
          copy.set(z);
          const a = ancestors as Int32Array;
          for (let k = 0; k < run.rows; k++) {
            const src = Math.floor(k / run.particles) * run.particles + a[k];
            z.set(copy.subarray(src * run.dim, (src + 1) * run.dim), k * run.dim);
          }
        },
      };
    },
  };
}

function problem(model: FeynmanKacModel, over: Partial<DriverProblem> = {}): DriverProblem {
  return {
    backend: selectBackend('cpu'), model, schedule: schedules.ou(), grid: schedules.ou().grid(8), dim: 2,
    runs: 200, particles: 256, runOffset: 0, seed: 11, threads: 2, essThreshold: 0.5, scheme: 'systematic', ...over,
  };
}

describe('a model written outside the library runs through the driver', () => {
  test('the tempered importance sampler reaches N(c/2, I/2) and an unbiased Z', async () => {
    const c = [1.5, -1];
    const r = await runFeynmanKac(problem(temperedImportance(c)));
    const z = r.particles as Float32Array;
    const D = 2, N = 256, K = 200;
    // Weighted mean per run, averaged over runs; the exact mean is c / 2.
    const mean = [0, 0];
    for (let run = 0; run < K; run++) {
      for (let k = 0; k < N; k++) {
        const w = Math.exp(r.logWeights[run * N + k]);
        for (let j = 0; j < D; j++) mean[j] += (w * z[(run * N + k) * D + j]) / K;
      }
    }
    // Calibration over seeds 0–199 (this test's sizes): the error of this mean has sd 0.0044
    // per coordinate, bias ≤ 0.002 and largest |error| 0.015; the bound 0.03 is 6.4 sd past
    // the bias (normal tail: false-failure rate < 1e-9). Wrong targets (the prior's mean 0,
    // c itself, or weights dropped at resampling) miss it by ≥ 0.5.
    expect(Math.abs(mean[0] - c[0] / 2)).toBeLessThan(0.03);
    expect(Math.abs(mean[1] - c[1] / 2)).toBeLessThan(0.03);
    // Z-hat / Z has mean 1; over seeds 0–199 the mean over runs had sd 0.0051 and largest
    // |error| 0.014: the bound 0.05 is 9.8 sd (false-failure rate < 1e-20).
    const logZ = -(D / 2) * Math.log(2) - (c[0] ** 2 + c[1] ** 2) / 4;
    let ratio = 0;
    for (let run = 0; run < K; run++) ratio += Math.exp(r.logEvidence[run] - logZ) / K;
    expect(Math.abs(ratio - 1)).toBeLessThan(0.05);
    // The ESS trace and resampling flags are the driver's: recorded for every step.
    expect(r.ess.every((e) => e > 0 && e <= N)).toBe(true);
    expect(r.resampled.some((f) => f === 1)).toBe(true);
  });

  test('an unweighted model has no ESS or resampling trace (nothing steps x runs is allocated for it)', async () => {
    // replacement runs one particle per sample: a steps x samples trace of N would be the
    // largest array of the call after the state (61 MB at 25600 samples and 300 steps).
    const path = new Float32Array(9 * 50).fill(0.5);
    const spec = { kernel: 'euler' as const, latent: Int32Array.of(0), observed: Int32Array.of(1), context: { kind: 'path' as const, path }, finalNoise: false };
    const mixture = GaussianMixture.fromJSON({ weights: [1], means: [[0, 0]], covariances: [[[1, 0], [0, 1]]] });
    const r = await runFeynmanKac({ ...problem(replacementModel(spec), { runs: 50, particles: 1 }), score: mixture });
    expect(r.ess).toHaveLength(0);
    expect(r.resampled).toHaveLength(0);
    expect(Array.from(r.logEvidence)).toEqual(new Array(50).fill(0));
    const w = await runFeynmanKac({ ...problem(bootstrapModel(spec), { runs: 50, particles: 4 }), score: mixture });
    expect(w.ess).toHaveLength(8 * 50);
    expect(w.resampled).toHaveLength(8 * 50);
  });

  test('keepAncestry records identity where a run did not resample', async () => {
    const model = { ...temperedImportance([0, 0]), keepAncestry: true };
    const r = await runFeynmanKac(problem(model, { runs: 3, particles: 8, essThreshold: 0 }));
    expect(r.ancestry).toHaveLength(8 * 24);
    expect(Array.from(r.ancestry!.subarray(0, 8))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('a model may refine the grid; the driver runs on the refined one', async () => {
    const seen: number[] = [];
    const base = temperedImportance([0, 0]);
    const model: FeynmanKacModel = {
      ...base,
      refineGrid: (g) => Float64Array.from([...g.subarray(0, g.length - 1), (g[g.length - 2] + g[g.length - 1]) / 2, g[g.length - 1]]),
      start: async (run) => {
        const inner = await base.start(run);
        return { ...inner, weigh: async (step) => { seen.push(step.t); await inner.weigh!(step); } };
      },
    };
    const r = await runFeynmanKac(problem(model, { runs: 2, particles: 4 }));
    expect(r.grid).toHaveLength(10);
    expect(seen).toHaveLength(9);
  });
});

// A backend whose memory counts what is allocated and freed, around the CPU backend.
function countingBackend(): { backend: Backend; live: () => number; created: () => number; released: () => number } {
  const cpu = selectBackend('cpu');
  const liveArrays = new Set<unknown>();
  let releases = 0, scorers = 0;
  const memory: BackendMemory = {
    ...cpu.memory,
    f32: (n) => { const a = cpu.memory.f32(n); liveArrays.add(a); return a; },
    f64: async (n, fill) => { const a = await cpu.memory.f64(n, fill); liveArrays.add(a); return a; },
    i32: (n) => { const a = cpu.memory.i32(n); liveArrays.add(a); return a; },
    free: (...arrays) => { for (const a of arrays) liveArrays.delete(a); },
  };
  const backend: Backend = {
    ...cpu,
    memory,
    scorer: (model, rows, dim, threads) => {
      scorers++;
      const inner = cpu.scorer(model, rows, dim, threads);
      return { evaluate: inner.evaluate, release: () => { releases++; inner.release(); } };
    },
  };
  return { backend, live: () => liveArrays.size, created: () => scorers, released: () => releases };
}

describe('a NaN log-potential', () => {
  // A weighted model whose potential is NaN for one particle at one step: the run fails
  // naming the step, the run and the particle (MATH.md §4), not as if every weight were gone.
  function nanAt(step: number, run: number, particle: number): FeynmanKacModel {
    const base = temperedImportance([0, 0]);
    return {
      ...base,
      name: 'nan-potential',
      async start(r) {
        const inner = await base.start(r);
        return {
          ...inner,
          weigh: async (s) => {
            await inner.weigh!(s);
            if (s.number === step) (r.increment as Float64Array)[run * r.particles + particle] = NaN;
          },
        };
      },
    };
  }

  test('the reweighting names the particle whose log-weight is NaN', async () => {
    const p = runFeynmanKac(problem(nanAt(3, 7, 100), { runs: 10, runOffset: 40 }));
    await expect(p).rejects.toMatchObject({ name: 'RangeError', message: expect.stringMatching(/^the log-weight of particle 100 is NaN \(a bug upstream: a zero weight is -Infinity\) at step 3 of 8 \(t = [0-9.]+\) in run 47 \(MATH\.md §4\)$/) });
  });
});

describe('nothing leaks when a run fails or is aborted', () => {
  const mixture = GaussianMixture.fromJSON({ weights: [0.5, 0.5], means: [[-2, 0], [2, 1]], covariances: [[[1, 0], [0, 1]], [[1, 0.3], [0.3, 1]]] });
  const observed = { indices: [1], values: [0.5] };

  // The built-in mixture is scored inside the fused steps of smc and replacement (no scorer
  // is made for it); the callback has one, which must be released.
  test.each([1, 2, 5, 10])('aborted after step %i, or failing in the score there: every buffer freed, every scorer released', async (at) => {
    for (const [how, build] of [['abort', bootstrapModel], ['score throws', bootstrapModel], ['abort', replacementModel], ['score throws', replacementModel]] as const) {
      const counting = countingBackend();
      const controller = new AbortController();
      let calls = 0;
      const score = how === 'abort'
        ? mixture
        : { dim: 2, score: (zz: Float32Array) => { if (++calls > at) throw new Error('model failed'); return new Float32Array(zz.length); } };
      const onStep = how === 'abort' ? (info: { step: number }) => { if (info.step === at) controller.abort(); } : undefined;
      // Through the public sampler, on the counting backend (the same driver).
      const path = new Float32Array(21 * 4 * 1).fill(0.5);
      await expect(runFeynmanKac({
        ...problem(build({ kernel: 'euler', latent: Int32Array.of(0), observed: Int32Array.of(1), context: { kind: 'path', path }, finalNoise: false }), {
          backend: counting.backend, grid: schedules.ou().grid(20), runs: 4, particles: 16, signal: controller.signal, onStep,
        }),
        score,
      })).rejects.toThrow(how === 'abort' ? /aborted/ : /model failed/);
      expect(counting.live()).toBe(0);
      expect(counting.created()).toBe(how === 'abort' ? 0 : 1);
      expect(counting.released()).toBe(counting.created());
    }
  });

  test('repeated aborted runs leave host memory flat', async () => {
    const run = async () => {
      const controller = new AbortController();
      await smc({ score: mixture, schedule: schedules.ou(), steps: 50, observed, particles: 512, samples: 64, seed: 1, signal: controller.signal,
        onStep: (i) => { if (i.step === 25) controller.abort(); } }).catch(() => undefined);
      await replacement({ score: () => { throw new Error('x'); }, dim: 2, schedule: schedules.ou(), steps: 5, observed, samples: 1024 }).catch(() => undefined);
    };
    // A collector on demand inside jest: host arrays are garbage-collected, so flat means
    // flat after a collection.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    // Array buffers are released after collection, in the next turns: collect a few times.
    const settle = async () => {
      for (let k = 0; k < 4; k++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      return process.memoryUsage().arrayBuffers;
    };
    for (let i = 0; i < 5; i++) await run();
    const before = await settle();
    for (let i = 0; i < 40; i++) await run();
    // Each aborted smc run holds about 1.3 MB of state (z, work, weights, increments,
    // ancestors for 512 × 64 particles): kept, 40 runs would add about 50 MB.
    expect((await settle()) - before).toBeLessThan(16 * 2 ** 20);
  });
});

describe('cancelling', () => {
  const observed = { indices: [1], values: [0.5] };
  test('an abort rejects the run while a score callback is still pending, and the callback sees the signal', async () => {
    let seen: AbortSignal | undefined;
    const never = (_z: Float32Array, _t: number, ctx: { signal?: AbortSignal }) => {
      seen = ctx.signal;
      return new Promise<Float32Array>(() => undefined);
    };
    const signal = AbortSignal.timeout(50);
    const started = performance.now();
    await expect(smc({ score: never, dim: 2, schedule: schedules.ou(), steps: 10, observed, particles: 4, samples: 2, signal }))
      .rejects.toMatchObject({ name: expect.stringMatching(/AbortError|TimeoutError/) });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(seen).toBe(signal);
  });

  test('a run of many tiny steps lets timers fire, so AbortSignal.timeout stops it', async () => {
    // A synchronous score and tiny batches: every operation completes inline, so only the
    // driver's own turns let the timer fire.
    const zero = (z: Float32Array) => new Float32Array(z.length);
    let steps = 0;
    const controller = new AbortController();
    // The timer starts with the first step, so it can fire only from inside the step loop.
    const onStep = () => {
      if (steps++ === 0) setTimeout(() => controller.abort(), 20);
    };
    await expect(smc({ score: zero, dim: 2, schedule: schedules.ou(), steps: 200_000, observed, particles: 8, samples: 1, signal: controller.signal, onStep }))
      .rejects.toMatchObject({ name: 'AbortError' });
    expect(steps).toBeLessThan(200_000);
  });
});

describe('per-run keys: runs of different requests share a batch', () => {
  test('two seeds in one driver call give each request the bytes it gets alone', async () => {
    const mixture = GaussianMixture.fromJSON({ weights: [0.3, 0.7], means: [[-1, 0, 1], [2, 1, -1]], covariances: [[[1, 0.5, 0], [0.5, 1, 0.2], [0, 0.2, 1]], [[1, 0, 0.3], [0, 1, 0], [0.3, 0, 1]]] });
    const cpu = selectBackend('cpu');
    const grid = schedules.ou().grid(12);
    const alphaTs = new Float64Array(12), sigma2Ts = new Float64Array(12);
    for (let i = 1; i <= 12; i++) {
      const tr = schedules.ou().transition(grid[i - 1], grid[i]);
      alphaTs[i - 1] = tr.alpha;
      sigma2Ts[i - 1] = tr.sigma2;
    }
    const y = Float32Array.of(0.7);
    const requests = [{ seed: 5, runs: 3 }, { seed: 2 ** 40 + 9, runs: 2 }];
    const keys = (seed: number, runs: number) => {
      const k = new Uint32Array(3 * runs);
      for (let r = 0; r < runs; r++) k.set([seed % 2 ** 32, Math.floor(seed / 2 ** 32), r], 3 * r);
      return k;
    };
    const path = async (seed: number, runs: number, runKeys?: Uint32Array) => {
      const out = new Float32Array(13 * runs);
      await cpu.ops.forwardContextPath(y, runs, 0, alphaTs, sigma2Ts, { seed, step: 0, purpose: cpu.ops.purposes.contextPath }, out, 1, runKeys ?? null);
      return out;
    };
    const run = async (seed: number, runs: number, context: Float32Array, runKeys?: Uint32Array) => {
      const model = bootstrapModel({ kernel: 'euler', latent: Int32Array.of(0, 2), observed: Int32Array.of(1), context: { kind: 'path', path: context }, finalNoise: false });
      const r = await runFeynmanKac({ ...problem(model, { dim: 3, grid, runs, particles: 16, seed, runKeys, essThreshold: 0.5 }), score: mixture });
      return { z: r.particles as Float32Array, logEvidence: r.logEvidence };
    };
    const alone = [];
    for (const q of requests) alone.push(await run(q.seed, q.runs, await path(q.seed, q.runs)));
    // One batch: the keys and the context paths of both requests side by side.
    const allKeys = new Uint32Array([...keys(requests[0].seed, 3), ...keys(requests[1].seed, 2)]);
    const paths = [await path(requests[0].seed, 3), await path(requests[1].seed, 2)];
    const batched = new Float32Array(13 * 5);
    for (let i = 0; i <= 12; i++) {
      batched.set(paths[0].subarray(3 * i, 3 * i + 3), 5 * i);
      batched.set(paths[1].subarray(2 * i, 2 * i + 2), 5 * i + 3);
    }
    // The same path from one call with the key table.
    expect(await path(0, 5, allKeys)).toEqual(batched);
    const together = await run(0, 5, batched, allKeys);
    expect(Buffer.from(together.z.buffer).equals(Buffer.concat([Buffer.from(alone[0].z.buffer), Buffer.from(alone[1].z.buffer)]))).toBe(true);
    expect(Array.from(together.logEvidence)).toEqual([...alone[0].logEvidence, ...alone[1].logEvidence]);
  });
});
