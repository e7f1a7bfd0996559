// The sampling service (lib/serve/app.ts): every status code, the same bytes as the library
// and the CLI, progress as server-sent events, metrics, the OpenAPI document, and a client
// that disconnects cancelling its run. Every request goes over a real socket (fetch).
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import { createService, SampleService } from '../../lib/serve/app';
import type { ServedModel } from '../../lib/serve/request';
import { GaussianMixture, schedules, smc, tds, replacement } from '../../lib/index';
import { DEMO_MODEL, DEMO_OBSERVATION } from '../../lib/cli/demo';
import { writeDemoFiles } from '../support/demo-files';
import { runCli } from '../support/cli';

const mixture = GaussianMixture.fromJSON(DEMO_MODEL);
const served: ServedModel = { name: 'demo', score: mixture, dim: 3, kind: 'gaussian-mixture' };
const body = { model: 'demo', observe: DEMO_OBSERVATION, method: 'smc', particles: 8, samples: 3, steps: 25, seed: 4 };

interface Reply {
  statusCode: number;
  headers: Record<string, string>;
  payload: string;
  rawPayload: Buffer;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A request to a listening service, as Fastify's inject would answer it. */
async function call(s: SampleService, options: { method?: string; url: string; payload?: unknown; headers?: Record<string, string> }): Promise<Reply> {
  const address = s.app.server.address() as { port: number };
  const r = await fetch(`http://127.0.0.1:${address.port}${options.url}`, {
    method: options.method ?? 'GET',
    headers: { ...(options.payload !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
    body: options.payload !== undefined ? JSON.stringify(options.payload) : undefined,
  });
  const raw = Buffer.from(await r.arrayBuffer());
  return { statusCode: r.status, headers: Object.fromEntries(r.headers.entries()), payload: raw.toString(), rawPayload: raw, json: () => JSON.parse(raw.toString()) };
}

async function listening(options: Parameters<typeof createService>[0]): Promise<SampleService> {
  const s = await createService(options);
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  return s;
}

let service: SampleService;
beforeAll(async () => {
  service = await listening({ models: [served], maxWork: 1e6, bodyLimit: 4096 });
});
afterAll(async () => {
  await service.app.close();
});

const post = (payload: unknown, headers: Record<string, string> = {}, url = '/v1/sample') => call(service, { method: 'POST', url, payload, headers });

describe('POST /v1/sample', () => {
  test('200: the samples and the filter summary, the same numbers as the library', async () => {
    const r = await post(body);
    expect(r.statusCode).toBe(200);
    const j = r.json();
    const lib = await smc({ score: mixture, schedule: schedules.ou({ T: 5 }), steps: 25, observed: DEMO_OBSERVATION, particles: 8, samples: 3, seed: 4 });
    expect(j.samples).toEqual([0, 1, 2].map((i) => Array.from(lib.samples.subarray(i * 3, i * 3 + 3))));
    expect(j.logEvidence).toEqual(Array.from(lib.logEvidence));
    expect(j).toMatchObject({ method: 'smc', model: 'demo', dim: 3, backend: lib.backend, warnings: [] });
    expect(j.ess.min).toBe(Math.min(...lib.ess));
  });

  test('Accept: application/x-npy gives exactly the bytes condiff sample writes', async () => {
    const files = writeDemoFiles('condiff-serve-');
    try {
      const out = path.join(files.dir, 's.npy');
      const cli = await runCli(['sample', '--model', files.modelFile, '--observe', files.observeFile, '--method', 'smc', '--particles', '8',
        '--samples', '3', '--steps', '25', '--seed', '4', '--out', out]);
      expect(cli.code).toBe(0);
      const r = await post(body, { accept: 'application/x-npy' });
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toBe('application/x-npy');
      expect(r.rawPayload.equals(fs.readFileSync(out))).toBe(true);
    } finally {
      fs.rmSync(files.dir, { recursive: true, force: true });
    }
  });

  test('every method runs; tds takes a noisy observation', async () => {
    for (const method of ['replacement', 'langevin', 'repaint', 'smc']) {
      const r = await post({ ...body, method, particles: method === 'smc' ? 8 : undefined });
      expect(r.statusCode).toBe(200);
      expect(r.json().samples).toHaveLength(3);
    }
    const noisy = { ...body, method: 'tds', observe: { ...DEMO_OBSERVATION, noiseStd: 0.2 } };
    const r = await post(noisy);
    expect(r.statusCode).toBe(200);
    const lib = await tds({ score: mixture, schedule: schedules.ou({ T: 5 }), steps: 25, observed: { ...DEMO_OBSERVATION, noiseStd: 0.2 }, particles: 8, samples: 3, seed: 4 });
    expect(r.json().logEvidence).toEqual(Array.from(lib.logEvidence));
    expect(r.json().scoreEvaluations).toBe(25);
  });

  test('400: the schema names the field; so do the library and the service', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...body, particles: 0 }, /body\/particles must be >= 1/],
      [{ ...body, particles: '8' }, /body\/particles must be integer/],
      [{ ...body, partciles: 8 }, /body must NOT have additional properties/],
      [{ ...body, method: 'mcmc' }, /body\/method must be equal to one of the allowed values/],
      [{ ...body, model: 'other' }, /model must be one of "demo", got "other"/],
      [{ ...body, observe: { indices: [7], values: [1] } }, /observed\.indices\[0\] must be an integer in \[0, 3\), got 7/],
      [{ ...body, method: 'replacement', particles: 8 }, /particles applies only to method smc or tds, not replacement/],
      [{ ...body, observe: { ...DEMO_OBSERVATION, noiseStd: 0.1 } }, /observe\.noiseStd is supported by method tds only, not smc/],
      [{ ...body, schedule: 'ddpm' }, /schedule 'ddpm' needs a network trained on one/],
    ];
    for (const [payload, message] of cases) {
      const r = await post(payload);
      expect(r.statusCode).toBe(400);
      expect(r.json().message).toMatch(message);
    }
  });

  test('413 past the body limit, 422 past the work limit', async () => {
    const big = await post({ ...body, observe: { indices: [2], values: [0.5], padding: 'x'.repeat(5000) } });
    expect(big.statusCode).toBe(413);
    const work = await post({ ...body, particles: 1000, samples: 100 });
    expect(work.statusCode).toBe(422);
    expect(work.json().message).toMatch(/particles x samples x steps x dim = 7500000 is more than this server's --max-work 1000000/);
  });

  test('progress as server-sent events with ?stream=1, then the result', async () => {
    const r = await post({ ...body, steps: 40 }, {}, '/v1/sample?stream=1');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/event-stream');
    const events = r.payload.split('\n\n').filter((e) => e.length > 0).map((e) => {
      const [name, data] = e.split('\n');
      return { name: name.slice('event: '.length), data: JSON.parse(data.slice('data: '.length)) };
    });
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.slice(0, -1).every((e) => e.name === 'progress')).toBe(true);
    expect(events[events.length - 2].data).toMatchObject({ step: 40, steps: 40 });
    expect(events[events.length - 1].name).toBe('result');
    expect(events[events.length - 1].data.samples).toHaveLength(3);
  });
});

describe('dynamic batching', () => {
  test('concurrent requests with one key run as one batch, each with the bytes it gets alone', async () => {
    const s = await listening({ models: [served], batchWindowMs: 50 });
    try {
      const requests = [
        { method: 'smc', particles: 16, samples: 3, seed: 1, values: [0.5] },
        { method: 'smc', particles: 16, samples: 1, seed: 2 ** 33 + 7, values: [-1.25] },
        { method: 'smc', particles: 16, samples: 5, seed: 9, values: [2] },
      ];
      const answers = await Promise.all(requests.map((q) => call(s, { method: 'POST', url: '/v1/sample', payload: { model: 'demo', method: q.method, particles: q.particles, samples: q.samples, seed: q.seed, steps: 30, observe: { indices: [2], values: q.values } } })));
      for (const [i, q] of requests.entries()) {
        expect(answers[i].statusCode).toBe(200);
        const alone = await smc({ score: mixture, schedule: schedules.ou({ T: 5 }), steps: 30, observed: { indices: [2], values: q.values }, particles: 16, samples: q.samples, seed: q.seed });
        expect(answers[i].json().samples).toEqual(Array.from({ length: q.samples }, (_, r) => Array.from(alone.samples.subarray(3 * r, 3 * r + 3))));
        expect(answers[i].json().logEvidence).toEqual(Array.from(alone.logEvidence));
        expect(answers[i].json().ess.min).toBe(Math.min(...alone.ess));
      }
      // One batch of three: the batch-size histogram's sum is 3 over 1 batch.
      const m = (await call(s, { url: '/metrics' })).payload;
      expect(m).toMatch(/condiff_batch_size_sum 3\n/);
      expect(m).toMatch(/condiff_batch_size_count 1\n/);
      // Replacement and its correctors batch the same way.
      for (const method of ['replacement', 'langevin', 'repaint']) {
        const two = await Promise.all([1, 2].map((seed) => call(s, { method: 'POST', url: '/v1/sample', payload: { model: 'demo', method, samples: 2, seed, steps: 20, observe: { indices: [2], values: [seed] } } })));
        for (const [i, seed] of [1, 2].entries()) {
          const corrector = method === 'langevin' ? { kind: 'langevin' as const, steps: 5, gamma: 0.1 } : method === 'repaint' ? { kind: 'repaint' as const, jumps: 5 } : undefined;
          const alone = await replacement({ score: mixture, schedule: schedules.ou({ T: 5 }), steps: 20, observed: { indices: [2], values: [seed] }, samples: 2, seed, corrector });
          expect(two[i].json().samples).toEqual([0, 1].map((r) => Array.from(alone.samples.subarray(3 * r, 3 * r + 3))));
        }
      }
      expect((await call(s, { url: '/metrics' })).payload).toMatch(/condiff_batch_size_sum 9\n/);
    } finally {
      await s.app.close();
    }
  });

  test('batchWindowMs 0 runs every request alone, with the same bytes', async () => {
    const s = await listening({ models: [served], batchWindowMs: 0 });
    try {
      const answers = await Promise.all([1, 2].map((seed) => call(s, { method: 'POST', url: '/v1/sample', payload: { ...body, seed } })));
      for (const [i, seed] of [1, 2].entries()) {
        const alone = await smc({ score: mixture, schedule: schedules.ou({ T: 5 }), steps: 25, observed: DEMO_OBSERVATION, particles: 8, samples: 3, seed });
        expect(answers[i].json().logEvidence).toEqual(Array.from(alone.logEvidence));
      }
      const m = (await call(s, { url: '/metrics' })).payload;
      expect(m).toMatch(/condiff_batch_size_sum 2\n/);
      expect(m).toMatch(/condiff_batch_size_count 2\n/);
    } finally {
      await s.app.close();
    }
  });

  test('a request that is wrong alone fails alone; the others of its window are answered', async () => {
    const s = await listening({ models: [served], batchWindowMs: 50 });
    try {
      const [good, bad] = await Promise.all([
        call(s, { method: 'POST', url: '/v1/sample', payload: { ...body, seed: 1 } }),
        call(s, { method: 'POST', url: '/v1/sample', payload: { ...body, seed: 2, observe: { indices: [2], values: [1e39] } } }),
      ]);
      expect(good.statusCode).toBe(200);
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toMatch(/observed\.values\[0\] must be a finite float32 number/);
    } finally {
      await s.app.close();
    }
  });
});

describe('the other routes', () => {
  test('GET /healthz, /v1/models, /metrics, /openapi.json', async () => {
    expect((await call(service, { url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await call(service, { url: '/v1/models' })).json()).toEqual({ models: [{ name: 'demo', kind: 'gaussian-mixture', dim: 3, schedule: null }] });
    const metrics = await call(service, { url: '/metrics' });
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.payload).toMatch(/condiff_requests_total\{route="\/v1\/sample",status="200"\} \d+/);
    expect(metrics.payload).toMatch(/condiff_requests_total\{route="\/v1\/sample",status="400"\} \d+/);
    expect(metrics.payload).toMatch(/condiff_particle_steps_total \d+/);
    expect(metrics.payload).toMatch(/condiff_queue_depth 0/);
    const api = (await call(service, { url: '/openapi.json' })).json();
    expect(api.openapi).toMatch(/^3\./);
    expect(Object.keys(api.paths)).toEqual(expect.arrayContaining(['/v1/sample', '/healthz', '/metrics', '/v1/models']));
    expect(api.paths['/v1/sample'].post.requestBody.content['application/json'].schema.required).toEqual(['model', 'observe', 'method']);
  });

  test('a bearer token guards every route but /healthz (401 without it)', async () => {
    const guarded = await listening({ models: [served], token: 's3cret' });
    try {
      expect((await call(guarded, { url: '/healthz' })).statusCode).toBe(200);
      for (const url of ['/metrics', '/v1/models', '/openapi.json']) {
        const r = await call(guarded, { url });
        expect(r.statusCode).toBe(401);
        expect(r.headers['www-authenticate']).toBe('Bearer');
      }
      expect((await call(guarded, { method: 'POST', url: '/v1/sample', payload: body })).statusCode).toBe(401);
      expect((await call(guarded, { method: 'POST', url: '/v1/sample', payload: body, headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
      expect((await call(guarded, { method: 'POST', url: '/v1/sample', payload: body, headers: { authorization: 'Bearer s3cret' } })).statusCode).toBe(200);
    } finally {
      await guarded.app.close();
    }
  });
});

describe('cancelling and draining', () => {
  // A JS score that takes 2 ms a call: a 2000-step run takes seconds unless cancelled.
  function slowModel(calls: { n: number }): ServedModel {
    const score = async (z: Float32Array) => {
      calls.n++;
      await new Promise((r) => setTimeout(r, 2));
      return z.map((x) => -x);
    };
    return { name: 'slow', score: { dim: 3, score }, dim: 3, kind: 'gaussian-mixture' };
  }

  test('a client that disconnects cancels its run: the score stops being called', async () => {
    const calls = { n: 0 };
    const s = await listening({ models: [slowModel(calls)] });
    const address = `http://127.0.0.1:${(s.app.server.address() as { port: number }).port}`;
    try {
      const req = http.request(`${address}/v1/sample`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      req.on('error', () => undefined);
      req.end(JSON.stringify({ model: 'slow', observe: DEMO_OBSERVATION, method: 'replacement', steps: 2000, samples: 1 }));
      while (calls.n < 5) await new Promise((r) => setTimeout(r, 10));
      req.destroy();
      await new Promise((r) => setTimeout(r, 300));
      const after = calls.n;
      await new Promise((r) => setTimeout(r, 300));
      expect(calls.n - after).toBeLessThanOrEqual(1);
      expect(after).toBeLessThan(1000);
      const metrics = await call(s, { url: '/metrics' });
      expect(metrics.payload).toMatch(/condiff_queue_depth 0/);
    } finally {
      await s.app.close();
    }
  });

  test('inside a batch, a client that disconnects leaves the others their bytes', async () => {
    const calls = { n: 0 };
    const slow = slowModel(calls);
    const s = await listening({ models: [slow], batchWindowMs: 50 });
    const address = `http://127.0.0.1:${(s.app.server.address() as { port: number }).port}`;
    try {
      const payload = (seed: number) => ({ model: 'slow', observe: DEMO_OBSERVATION, method: 'replacement', steps: 150, samples: 2, seed });
      const req = http.request(`${address}/v1/sample`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      req.on('error', () => undefined);
      req.end(JSON.stringify(payload(1)));
      const kept = call(s, { method: 'POST', url: '/v1/sample', payload: payload(2) });
      while (calls.n < 5) await new Promise((r) => setTimeout(r, 5));
      req.destroy();
      const answer = await kept;
      expect(answer.statusCode).toBe(200);
      const alone = await replacement({ score: slow.score, schedule: schedules.ou({ T: 5 }), steps: 150, observed: DEMO_OBSERVATION, samples: 2, seed: 2 });
      expect(answer.json().samples).toEqual([0, 1].map((r) => Array.from(alone.samples.subarray(3 * r, 3 * r + 3))));
      expect((await call(s, { url: '/metrics' })).payload).toMatch(/condiff_batch_size_sum 2\n/);
    } finally {
      await s.app.close();
    }
  });

  test('drain: new requests get 503 while the running one finishes with 200', async () => {
    const calls = { n: 0 };
    const s = await listening({ models: [slowModel(calls), served] });
    const running = call(s, { method: 'POST', url: '/v1/sample', payload: { model: 'slow', observe: DEMO_OBSERVATION, method: 'replacement', steps: 60, samples: 1 } });
    while (calls.n < 2) await new Promise((r) => setTimeout(r, 5));
    const drained = s.drain();
    const refused = await call(s, { method: 'POST', url: '/v1/sample', payload: body });
    expect(refused.statusCode).toBe(503);
    expect((await running).statusCode).toBe(200);
    await drained;
    expect(calls.n).toBe(60);
    await s.app.close();
  });
});
