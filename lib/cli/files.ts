// The input and output files of sample and bench: the mixture and observation JSON files
// (every error names the file), and an output checked before sampling and written whole
// or not at all.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { GaussianMixture } from '../mixture';
import { Observation, normalizeObservation } from '../observation';
import { UsageError, userInput } from './errors';

/** A JSON file's value; an unreadable or malformed file is a UsageError naming it. */
function readJson(label: string, file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new UsageError(`cannot read the ${label} file ${JSON.stringify(file)}: ${why}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`the ${label} file ${JSON.stringify(file)} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The Gaussian mixture of a --model file. */
export function loadModel(file: string): GaussianMixture {
  const spec = readJson('model', file);
  return userInput(`the model file ${JSON.stringify(file)}: `, () => GaussianMixture.fromJSON(spec));
}

/** The observation of an --observe file, checked against the model's dimension. */
export function loadObservation(file: string, dim: number): Observation {
  const json = readJson('observation', file);
  const where = `the observation file ${JSON.stringify(file)}`;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new UsageError(`${where} must hold an object {"indices": [...], "values": [...]}`);
  }
  const o = json as Record<string, unknown>;
  for (const key of ['indices', 'values']) {
    if (!(key in o)) throw new UsageError(`${where} has no "${key}" field`);
    if (!Array.isArray(o[key])) throw new UsageError(`${where}: "${key}" must be an array of numbers`);
  }
  const observed = { indices: o.indices as number[], values: o.values as number[] };
  userInput(`${where} (model dimension ${dim}): `, () => normalizeObservation(observed, dim));
  return observed;
}

/** Checks early (before sampling) that `out` can be created; returns its absolute path. */
export function checkOutput(out: string): string {
  const abs = path.resolve(out);
  const dir = path.dirname(abs);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new UsageError(`cannot write --out ${JSON.stringify(out)}: the directory ${JSON.stringify(path.dirname(out))} does not exist`);
  }
  if (!st.isDirectory()) throw new UsageError(`cannot write --out ${JSON.stringify(out)}: ${JSON.stringify(path.dirname(out))} is not a directory`);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) throw new UsageError(`cannot write --out ${JSON.stringify(out)}: it is a directory`);
  return abs;
}

/** Writes the file whole or not at all: a temporary file in the same directory, then rename. */
export function writeAtomically(file: string, bytes: Buffer): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  try {
    fs.writeFileSync(tmp, bytes, { flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    throw new UsageError(`cannot write ${JSON.stringify(file)}: ${(e as Error).message}`);
  }
}
