// The input files of sample and bench: the mixture and observation JSON files (every error
// names the file). Outputs are output.ts's.
import * as fs from 'node:fs';
import { ConditionalGaussianMixture } from '../conditional-mixture';
import { GaussianMixture } from '../mixture';
import { Observation, MatrixObservation, normalizeLinearObservation } from '../observation';
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
  return loadModelSpec(file).model;
}

/** The mixture and the file's JSON as it was (what a queue job carries: README "Scale-out"). */
export function loadModelSpec(file: string): { model: GaussianMixture; spec: unknown } {
  const spec = readJson('model', file);
  return { model: userInput(`the model file ${JSON.stringify(file)}: `, () => GaussianMixture.fromJSON(spec)), spec };
}

/** A --model file for `sample`: a class-conditional mixture when it has "classes" (docs/MATH.md §12), else a mixture; with the file's JSON as it was (what a queue job carries). */
export function loadSampleModel(file: string): { model: GaussianMixture | ConditionalGaussianMixture; spec: unknown } {
  const spec = readJson('model', file);
  const conditional = typeof spec === 'object' && spec !== null && 'classes' in spec;
  const model = userInput(`the model file ${JSON.stringify(file)}: `, () => (conditional ? ConditionalGaussianMixture.fromJSON(spec) : GaussianMixture.fromJSON(spec)));
  return { model, spec };
}

/**
 * The observation of an --observe file, checked against the model's dimension:
 * {"indices", "values", "noiseStd"?} (a mask) or {"A", "y", "noiseStd"?} (a d_y x D matrix as
 * nested arrays); noiseStd defaults to 0 (docs/MATH.md §8).
 */
export function loadObservation(file: string, dim: number): Observation | MatrixObservation {
  const json = readJson('observation', file);
  const where = `the observation file ${JSON.stringify(file)}`;
  const forms = '{"indices": [...], "values": [...], "noiseStd"?: s} or {"A": [[...], ...], "y": [...], "noiseStd"?: s}';
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new UsageError(`${where} must hold an object ${forms}`);
  }
  const o = json as Record<string, unknown>;
  const known = 'A' in o ? ['A', 'y', 'noiseStd'] : ['indices', 'values', 'noiseStd'];
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) throw new UsageError(`${where} has an unknown field "${key}" (it must hold ${forms})`);
  }
  for (const key of known.slice(0, 2)) {
    if (!(key in o)) throw new UsageError(`${where} has no "${key}" field`);
    if (!Array.isArray(o[key])) throw new UsageError(`${where}: "${key}" must be an array${key === 'A' ? ' of rows' : ' of numbers'}`);
  }
  if ('noiseStd' in o && typeof o.noiseStd !== 'number') throw new UsageError(`${where}: "noiseStd" must be a number, got ${JSON.stringify(o.noiseStd)}`);
  const noise = 'noiseStd' in o ? { noiseStd: o.noiseStd as number } : {};
  const observed = 'A' in o ? { A: o.A as number[][], y: o.y as number[], ...noise } : { indices: o.indices as number[], values: o.values as number[], ...noise };
  userInput(`${where} (model dimension ${dim}): `, () => normalizeLinearObservation(observed, dim));
  return observed;
}
