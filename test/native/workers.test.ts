// Lifecycle: Workers that run condiff and are terminated at any moment, or call
// process.exit() while calls are in flight, never take the process down with them, and
// the process keeps working (native/binding/job.h: a call completing in an environment
// that is being torn down settles nothing and only frees what it holds). The Workers live
// in a separate process (test/support/lifecycle-host.ts) so that an abort shows as its
// exit status. Each run draws new delays; a failure prints the seed to rerun it with.
import { describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

interface HostReport {
  duration: number;
  outcomes: Array<{ kind: string; from: 'load' | 'run'; delay: number; ready: boolean; iterations: number; exitCode: number; error?: string }>;
  afterSamples: number;
  finite: boolean;
  gatherOk: boolean;
}

function runHost(workers: number, seed: number): Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }> {
  const args = ['-r', './tools/register-ts.js', 'test/support/lifecycle-host.ts', String(workers), String(seed)];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 90_000, maxBuffer: 1 << 22 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number; signal?: string }) | null;
      resolve({ status: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

describe('Workers terminated mid-call', () => {
  test('30 Workers terminated at random moments (native runs, JS-callback runs, building blocks) and process.exit() in Workers: the host lives on and later calls work', async () => {
    const seed = 1 + Math.floor(Math.random() * 1e6);
    const r = await runHost(30, seed);
    const context = `seed ${seed}; rerun: node -r ./tools/register-ts.js test/support/lifecycle-host.ts 30 ${seed}\n${r.stderr.slice(-2000)}`;
    expect({ status: r.status, signal: r.signal, context }).toEqual({ status: 0, signal: null, context });
    const report = JSON.parse(r.stdout) as HostReport;
    expect(report.outcomes).toHaveLength(30);
    for (const o of report.outcomes) {
      expect(o.error).toBeUndefined();
      // terminate() gives 1 (0 when the Worker had not started running yet); process.exit(3) gives 3.
      expect(o.kind === 'exit' && o.from === 'run' ? [3] : [0, 1]).toContain(o.exitCode);
    }
    // Most were stopped during a run, with condiff loaded (the rest while loading it).
    expect(report.outcomes.filter((o) => o.ready && o.from === 'run').length).toBeGreaterThanOrEqual(20);
    expect(report).toMatchObject({ afterSamples: 16, finite: true, gatherOk: true });
  }, 120_000);
});
