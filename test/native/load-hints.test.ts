// What the loader says when the addon does not load or the CUDA build is missing
// (lib/native-hints.ts): commands that exist where condiff is. An installed package has no
// build:native or build:cuda script, so it is told "npm rebuild condiff" and how to build the
// CUDA addon from a clone; a clone is told its own scripts. tools/pack-check.sh checks the
// same messages from a real install of the packed tarball.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { installKind, cpuLoadMessage, cudaBuildHint, prebuiltPlatforms } from '../../lib/native-hints';

function fakeInstall(parts: string[], prebuilds: string[]): { root: string; cleanup: () => void } {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'condiff-hints-'));
  const root = path.join(base, ...parts);
  for (const p of prebuilds) fs.mkdirSync(path.join(root, 'prebuilds', p), { recursive: true });
  fs.mkdirSync(root, { recursive: true });
  return { root, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
}

describe('load-failure hints', () => {
  test('where condiff is: a dependency inside node_modules, or a clone', () => {
    expect(installKind('/home/me/app/node_modules/condiff')).toBe('dependency');
    expect(installKind('/home/me/app/node_modules/.pnpm/condiff@0.1.0/node_modules/condiff')).toBe('dependency');
    expect(installKind('/home/me/src/condiff')).toBe('clone');
    expect(installKind('/home/me/node_modules_backup/condiff')).toBe('clone');
  });

  test('a dependency is told npm rebuild condiff, never a script it does not have', () => {
    const { root, cleanup } = fakeInstall(['app', 'node_modules', 'condiff'], ['linux-x64']);
    try {
      expect(prebuiltPlatforms(root)).toEqual(['linux-x64']);
      const other = cpuLoadMessage('No native build was found for platform=darwin arch=arm64', root, 'darwin', 'arm64');
      expect(other).toBe(
        'condiff: could not load its native addon (No native build was found for platform=darwin arch=arm64): ' +
          'this install has prebuilt addons for linux-x64 only, not darwin-arm64. Build it from source with "npm rebuild condiff" in your project ' +
          "(needs python3, make and a C++17 compiler; node-gyp downloads Node's headers unless npm_config_nodedir names a Node install).",
      );
      const broken = cpuLoadMessage('GLIBC_2.34 not found', root, 'linux', 'x64');
      expect(broken).toMatch(/the prebuilt addon for linux-x64 \(prebuilds\/linux-x64\) did not load\. Build it from source with "npm rebuild condiff"/);
      for (const m of [other, broken]) expect(m).not.toMatch(/npm run/);
      expect(cudaBuildHint(root)).toMatch(/^the npm package ships none: build it in a clone of condiff at the same version \("npm ci && npm run build:cuda", needs nvcc and cmake\) and set CONDIFF_CUDA_ADDON to its build-cuda\/Release\/condiff_cuda\.node$/);
    } finally {
      cleanup();
    }
  });

  test('a clone is told its own scripts', () => {
    const { root, cleanup } = fakeInstall(['condiff'], []);
    try {
      expect(prebuiltPlatforms(root)).toEqual([]);
      expect(cpuLoadMessage('No native build was found', root, 'linux', 'x64')).toBe(
        'condiff: could not load its native addon (No native build was found): this install has no prebuilt addon. ' +
          'Build it with "npm run build:native" (needs python3, make and a C++17 compiler).',
      );
      expect(cudaBuildHint(root)).toBe('build one with "npm run build:cuda" (needs nvcc and cmake)');
    } finally {
      cleanup();
    }
  });
});
