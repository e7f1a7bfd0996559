// `condiff serve` as a real child process: it loads the models named on the command line,
// listens, and on SIGTERM refuses new requests (503) while a running one finishes, then
// exits 0; a usage mistake exits 2 before anything listens.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { writeDemoFiles } from '../support/demo-files';
import { DEMO_OBSERVATION } from '../../lib/cli/demo';

const ROOT = path.join(__dirname, '..', '..');
const CLI = ['-r', path.join(ROOT, 'tools', 'register-ts.js'), path.join(ROOT, 'lib', 'cli', 'main.ts')];

describe('condiff serve', () => {
  test('serves, then drains on SIGTERM: 503 for new requests, the running one answered, exit 0', async () => {
    const files = writeDemoFiles('condiff-serve-cli-');
    const child = spawn(process.execPath, [...CLI, 'serve', '--port', '0', '--model', `demo=${files.modelFile}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      while (!/listening on (\S+)/.test(stdout)) {
        if (child.exitCode !== null) throw new Error(`serve exited: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const base = /listening on (\S+)/.exec(stdout)![1];
      expect(stdout).toMatch(/\(models: demo(, digits)?\)/);
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      // A long run (a few seconds of smc), then SIGTERM while it runs.
      const long = fetch(`${base}/v1/sample`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo', observe: DEMO_OBSERVATION, method: 'smc', particles: 4000, samples: 8, steps: 400 }),
      });
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGTERM');
      while (!/draining/.test(stderr)) await new Promise((r) => setTimeout(r, 10));
      const refused = await fetch(`${base}/v1/sample`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo', observe: DEMO_OBSERVATION, method: 'replacement', steps: 5 }),
      });
      expect(refused.status).toBe(503);
      const answered = await long;
      expect(answered.status).toBe(200);
      expect(((await answered.json()) as { samples: number[][] }).samples).toHaveLength(8);
      expect(await exited).toBe(0);
      expect(stderr).toMatch(/draining \(new requests get 503\)\ncondiff serve: stopped\n$/);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(files.dir, { recursive: true, force: true });
    }
  });

  test('usage errors exit 2 before listening', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [...CLI, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        c.stderr.on('data', (d) => (stderr += d));
        c.on('exit', (code) => resolve({ code, stderr }));
      });
    const bad = await run(['--model', 'nofile']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--model needs NAME=FILE, got "nofile"/);
    const port = await run(['--port', '70000']);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/--port must be/);
  });
});
