// `condiff serve` under load (autocannon): requests per second and p50 / p99 latency at 1, 8
// and 32 concurrent clients, with the native mixture and with the shipped digits network,
// dynamic batching on (5 ms window) and off. Requests are small, as a service sees them: one
// completion of 16 particles over 50 steps (digits: the top half observed; mixture: the demo
// problem). The server is a child process (`condiff serve`), so the load generator does not
// share its event loop; both run on the same machine.
//
//   node -r ./tools/register-ts.js bench/serve.ts [--quick] [--dry-run]
//
// --quick: 5 s per cell instead of 10. Goal (the serving issue): at 32 clients on digits,
// batching gives >= 5x the requests/s of one-at-a-time serving and a lower p99 latency.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import { DEMO_MODEL, DEMO_OBSERVATION } from '../lib/cli/demo';
import { loadDigitSet, pickDigits, DIGIT_DIM } from '../lib/digits';
import { ROOT, machineLines, machineRecord, markdownTable, parseScriptArgs, writeSection, Verdict } from './common';

interface Cell {
  model: string;
  batching: boolean;
  connections: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

function autocannon(): (options: object) => Promise<{ requests: { average: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number }> {
  return require('autocannon');
}

async function startServer(batchWindow: number, modelFile: string): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['-r', path.join(ROOT, 'tools', 'register-ts.js'), path.join(ROOT, 'lib', 'cli', 'main.ts'), 'serve', '--port', '0',
    '--model', `demo=${modelFile}`, '--batch-window', String(batchWindow), '--max-work', '1e12'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  for (let i = 0; i < 600 && !/listening on (\S+)/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
  const m = /listening on (\S+)/.exec(out);
  if (!m) throw new Error('condiff serve did not start');
  if (!/digits/.test(out)) throw new Error('condiff serve has no "digits" model (is onnxruntime-node installed?)');
  return { child, base: m[1] };
}

async function main(): Promise<void> {
  const args = parseScriptArgs();
  const duration = args.quick ? 5 : 10;
  const machine = machineRecord();
  const tmp = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'condiff-bench-serve-'));
  const modelFile = path.join(tmp, 'demo.json');
  fs.writeFileSync(modelFile, JSON.stringify(DEMO_MODEL));
  const set = loadDigitSet();
  const digit = set.images.subarray(pickDigits(set, 1)[0] * DIGIT_DIM, (pickDigits(set, 1)[0] + 1) * DIGIT_DIM);
  const top = Array.from({ length: 32 }, (_, i) => i);
  const bodies: Record<string, object> = {
    digits: { model: 'digits', method: 'smc', particles: 16, samples: 1, steps: 50, observe: { indices: top, values: top.map((i) => digit[i]) } },
    mixture: { model: 'demo', method: 'smc', particles: 16, samples: 1, steps: 50, observe: DEMO_OBSERVATION },
  };
  const cells: Cell[] = [];
  try {
    for (const batching of [false, true]) {
      const { child, base } = await startServer(batching ? 5 : 0, modelFile);
      try {
        for (const model of ['mixture', 'digits']) {
          for (const connections of [1, 8, 32]) {
            const r = await autocannon()({
              url: `${base}/v1/sample`, method: 'POST', connections, duration,
              headers: { 'content-type': 'application/json' }, body: JSON.stringify(bodies[model]),
            });
            cells.push({ model, batching, connections, requestsPerSecond: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx });
            process.stderr.write(`${model} batching ${batching ? 'on' : 'off'} ${connections} clients: ${r.requests.average} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms\n`);
          }
        }
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.on('exit', r));
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const at = (model: string, batching: boolean, c: number) => cells.find((x) => x.model === model && x.batching === batching && x.connections === c)!;
  const on = at('digits', true, 32), off = at('digits', false, 32);
  const verdicts: Verdict[] = [
    { target: 'digits, 32 clients: batching >= 5x the requests/s of one at a time', measured: `${(on.requestsPerSecond / off.requestsPerSecond).toFixed(2)}x (${on.requestsPerSecond} vs ${off.requestsPerSecond} req/s)`, met: on.requestsPerSecond >= 5 * off.requestsPerSecond },
    { target: 'digits, 32 clients: batching has the lower p99 latency', measured: `${on.p99} ms vs ${off.p99} ms`, met: on.p99 < off.p99 },
  ];
  const markdown = [
    '## condiff serve under load',
    '',
    machineLines(machine),
    '',
    `One request: one completion, 16 particles, 50 steps (smc); digits: the shipped network with the top half of a held-out digit observed; mixture: the demo problem. autocannon, ${duration} s per cell, the server a separate process on the same machine.`,
    '',
    markdownTable(['model', 'batching', 'clients', 'requests/s', 'p50 ms', 'p99 ms', 'errors'], cells.map((c) => [c.model, c.batching ? 'on (5 ms)' : 'off', c.connections, c.requestsPerSecond, c.p50, c.p99, c.errors])),
    '',
    ...verdicts.map((v) => `- ${v.met ? 'met' : 'NOT met'}: ${v.target}: ${v.measured}`),
  ].join('\n');
  writeSection({ name: 'serve', title: 'condiff serve under load', machine, verdicts, data: cells }, markdown, args);
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
