// The input files of sample and bench: the mixture and observation JSON files (every error
// names the file). Outputs are output.ts's.
import * as fs from 'node:fs';
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
export function loadObservation(file: string, dim: number): Observation & { noiseStd?: number } {
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
  const observed: Observation & { noiseStd?: number } = { indices: o.indices as number[], values: o.values as number[] };
  userInput(`${where} (model dimension ${dim}): `, () => normalizeObservation(observed, dim));
  if (o.noiseStd !== undefined) {
    if (typeof o.noiseStd !== 'number' || !Number.isFinite(o.noiseStd) || o.noiseStd < 0) {
      throw new UsageError(`${where}: "noiseStd" must be a non-negative number, got ${JSON.stringify(o.noiseStd)}`);
    }
    observed.noiseStd = o.noiseStd;
  }
  return observed;
}
