// Mutation check of the test suite (npm run test:mutants; a release tool, not run in CI).
// Plants each listed bug (tools/mutants-list.ts: file, exact search text, replacement) one at
// a time in the native core or the TypeScript layer, rebuilds what it touched (node-gyp for
// native/, tsc for lib/), runs the jest files that should notice, restores the file and
// prints killed / SURVIVED / not applicable per mutant. Exits 1 if any mutant survives.
//
//   npm run test:mutants [-- --only REGEX] [-- --no-baseline] [-- --report FILE.md] [-- --list]
//
// A search text that is missing or appears more than once (code moves under refactoring)
// makes that mutant "not applicable", with the reason; so does a mutant that does not compile.
// Files are restored after every mutant, on failure, and on Ctrl-C / SIGTERM; the original
// text is also kept in tools/.mutants-backup.json until restored, so a run killed outright
// (SIGKILL, power loss) is repaired by the next run before it does anything else.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { MUTANTS, Mutant } from './mutants-list';

const ROOT = path.resolve(__dirname, '..');
const BACKUP = path.join(ROOT, 'tools', '.mutants-backup.json');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? '') : undefined;
}

type Status = 'killed' | 'SURVIVED' | 'not applicable';
interface Result {
  id: string;
  status: Status;
  detail: string;
  seconds: number;
}

// ---- file safety -----------------------------------------------------------------------------

/** Files currently mutated: path → original text. Mirrored in BACKUP. */
const originals = new Map<string, string>();
let nativeTouched = false;

function saveBackup(): void {
  if (originals.size === 0) {
    if (fs.existsSync(BACKUP)) fs.unlinkSync(BACKUP);
    return;
  }
  fs.writeFileSync(BACKUP, JSON.stringify(Object.fromEntries(originals)));
}

function mutate(file: string, text: string, original: string): void {
  originals.set(file, original);
  saveBackup(); // before the file changes
  fs.writeFileSync(file, text);
}

function restoreAll(): void {
  for (const [file, text] of originals) fs.writeFileSync(file, text);
  originals.clear();
  saveBackup();
}

/** Restores what a killed run left behind (before anything else). */
function recoverFromBackup(): void {
  if (!fs.existsSync(BACKUP)) return;
  const saved = JSON.parse(fs.readFileSync(BACKUP, 'utf8')) as Record<string, string>;
  for (const [file, text] of Object.entries(saved)) {
    console.log(`restoring ${path.relative(ROOT, file)} from an interrupted run`);
    fs.writeFileSync(file, text);
    if (isNative(file)) nativeTouched = true;
  }
  fs.unlinkSync(BACKUP);
}

/** The child now running (a build or jest), stopped with us on Ctrl-C. */
let child: ChildProcess | null = null;

let stopping = false;
function onSignal(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: restoring the mutated file(s)`);
  // The running child (a build, or jest) gets the signal too. Files are restored once it has
  // exited: a compiler still running could otherwise write an object of the mutant newer
  // than the restored source, which make would then keep; and two node-gyp runs would
  // share build/.
  const finish = () => {
    restoreAll();
    if (nativeTouched) {
      console.log('rebuilding the addon from the restored sources');
      buildNativeSync();
    }
    process.exit(130);
  };
  if (child && child.exitCode === null) {
    child.once('close', finish);
    child.kill(signal);
  } else finish();
}

// ---- build and test ------------------------------------------------------------------------------

const isNative = (file: string) => path.relative(ROOT, file).startsWith('native' + path.sep);

// Children run asynchronously, so a Ctrl-C reaches onSignal while they work.
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    let output = '';
    const c = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout.on('data', (d) => (output += d));
    c.stderr.on('data', (d) => (output += d));
    c.on('close', (code) => {
      child = null;
      resolve({ ok: code === 0, output });
    });
  });
}

function nodeDir(): string {
  return path.dirname(path.dirname(process.execPath));
}

const gypEnv = () => ({ ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? nodeDir() });

function buildNative(): Promise<{ ok: boolean; output: string }> {
  // Incremental (make compares timestamps): only the touched file and what includes it.
  return run('npx', ['node-gyp', 'build', '-j', '2'], gypEnv());
}

function buildNativeSync(): void {
  spawnSync('npx', ['node-gyp', 'build', '-j', '2'], { cwd: ROOT, env: gypEnv(), stdio: 'inherit' });
}

function buildTs(): Promise<{ ok: boolean; output: string }> {
  return run('npx', ['tsc', '-p', 'tsconfig.json']);
}

function runTests(patterns: string[]): Promise<{ ok: boolean; output: string }> {
  return run('npx', ['jest', '--bail=1', '--silent', '--colors=false', ...patterns]);
}

/** The first failing test names in jest's output. */
function failedTests(output: string): string {
  const names = output
    .split('\n')
    .filter((l) => /^\s*(✕|●) /.test(l))
    .map((l) => l.replace(/^\s*(✕|●)\s*/, '').replace(/\s*\(\d+ ms\)$/, '').trim())
    .filter((l, i, a) => l && a.indexOf(l) === i);
  const suites = [...new Set(output.split('\n').filter((l) => l.startsWith('FAIL ')).map((l) => l.slice(5).trim().split(' ')[0]))];
  if (names.length) return `${suites.join(', ')}: ${names[0]}`;
  return suites.length ? suites.join(', ') : 'jest exited non-zero';
}

// ---- one mutant ---------------------------------------------------------------------------------

function applyEdits(m: Mutant): { text: string; original: string } | { reason: string } {
  const file = path.join(ROOT, m.file);
  if (!fs.existsSync(file)) return { reason: `${m.file} does not exist` };
  const original = fs.readFileSync(file, 'utf8');
  let text = original;
  for (const e of m.edits) {
    const count = text.split(e.search).length - 1;
    if (count !== 1) return { reason: `search text ${count === 0 ? 'not found' : `found ${count} times`} in ${m.file}: ${JSON.stringify(e.search)}` };
    text = text.replace(e.search, () => e.replace);
  }
  return { text, original };
}

async function runMutant(m: Mutant): Promise<Result> {
  const started = Date.now();
  const done = (status: Status, detail: string): Result => ({ id: m.id, status, detail, seconds: (Date.now() - started) / 1000 });
  const file = path.join(ROOT, m.file);
  const edit = applyEdits(m);
  if ('reason' in edit) return done('not applicable', edit.reason);
  const native = isNative(file);
  let result: Result;
  try {
    mutate(file, edit.text, edit.original);
    result = await buildAndTest(m, native, done);
  } finally {
    restoreAll();
  }
  if (native) {
    // The addon must match the restored sources before anything else runs on it.
    const b = await buildNative();
    if (!b.ok) throw new Error(`the restored addon does not build:\n${b.output}`);
  }
  return result;
}

async function buildAndTest(m: Mutant, native: boolean, done: (s: Status, d: string) => Result): Promise<Result> {
  if (native) {
    nativeTouched = true;
    const b = await buildNative();
    if (!b.ok) return done('not applicable', `does not compile: ${b.output.split('\n').find((l) => l.includes('error')) ?? 'node-gyp failed'}`);
  } else {
    // jest compiles lib/ from source; dist/ (the CLI's) is rebuilt so the two agree.
    await buildTs();
  }
  const t = await runTests(m.tests);
  if (/No tests found/.test(t.output)) return done('not applicable', `no test file matches ${m.tests.join(', ')}`);
  return t.ok ? done('SURVIVED', `passed: ${m.tests.join(', ')}`) : done('killed', failedTests(t.output));
}

// ---- main -----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  recoverFromBackup();
  const only = new RegExp(arg('only') ?? '.');
  const list = MUTANTS.filter((m) => only.test(m.id));
  if (arg('list') !== undefined) {
    for (const m of list) console.log(`${m.id.padEnd(28)} ${m.section.padEnd(5)} ${m.file}: ${m.description}`);
    return;
  }
  if (nativeTouched) await buildNative();
  if (arg('no-baseline') === undefined) {
    // Unmutated, the tests must pass, or every mutant would look killed.
    const patterns = [...new Set(list.flatMap((m) => m.tests))];
    console.log(`baseline: ${patterns.join(' ')}`);
    const b = await buildNative();
    if (!b.ok) throw new Error(`the unmutated addon does not build:\n${b.output}`);
    await buildTs();
    const t = await runTests(patterns);
    if (!t.ok) {
      console.error(`the unmutated tests fail (${failedTests(t.output)}); fix them first`);
      process.exit(2);
    }
  }
  const results: Result[] = [];
  for (const m of list) {
    const r = await runMutant(m);
    results.push(r);
    console.log(`${r.status.padEnd(14)} ${m.id.padEnd(28)} ${r.seconds.toFixed(0).padStart(4)} s  ${r.detail}`);
  }
  if (nativeTouched) {
    const b = await buildNative(); // the addon of the restored sources
    if (!b.ok) console.error('warning: rebuilding the restored addon failed; run npx node-gyp rebuild');
  }
  await buildTs();
  const count = (s: Status) => results.filter((r) => r.status === s).length;
  const summary = `${count('killed')} killed, ${count('SURVIVED')} survived, ${count('not applicable')} not applicable of ${results.length}`;
  console.log(summary);
  const reportFile = arg('report');
  if (reportFile) {
    const rows = results.map((r) => {
      const m = MUTANTS.find((x) => x.id === r.id)!;
      return `| ${r.id} | ${m.section} | \`${m.file}\` | ${m.description} | ${r.status} | ${r.detail.replace(/\|/g, '\\|')} |`;
    });
    fs.writeFileSync(reportFile, `| mutant | MATH.md | file | bug | result | first failing test / reason |\n| --- | --- | --- | --- | --- | --- |\n${rows.join('\n')}\n\n${summary}\n`);
  }
  process.exit(count('SURVIVED') > 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  restoreAll();
  if (nativeTouched) buildNativeSync();
  process.exit(2);
});
