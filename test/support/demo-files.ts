// A temporary folder holding the demo problem as the CLI's input files (model.json,
// observe.json), for the tests that drive `condiff` in-process.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEMO_MODEL, DEMO_OBSERVATION } from '../../lib/cli/demo';

export interface DemoFiles {
  dir: string;
  modelFile: string;
  observeFile: string;
}

export function writeDemoFiles(prefix: string): DemoFiles {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const modelFile = path.join(dir, 'model.json');
  const observeFile = path.join(dir, 'observe.json');
  fs.writeFileSync(modelFile, JSON.stringify(DEMO_MODEL));
  fs.writeFileSync(observeFile, JSON.stringify(DEMO_OBSERVATION));
  return { dir, modelFile, observeFile };
}
