// What the addon loader (native.ts) tells a user whose addon does not load, or who asks for
// the CUDA build: commands that work where condiff is. An installed package
// (…/node_modules/condiff) has no build:native or build:cuda scripts and no dev tools, so it
// gets npm's own commands; a clone of the repository gets its scripts.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** 'dependency': installed by npm into a node_modules folder; 'clone': a working copy of the repository. */
export type InstallKind = 'dependency' | 'clone';

export function installKind(root: string): InstallKind {
  return path.resolve(root).split(path.sep).includes('node_modules') ? 'dependency' : 'clone';
}

/** The platform-arch folders of root/prebuilds (what node-gyp-build can load without a compiler). */
export function prebuiltPlatforms(root: string): string[] {
  try {
    return fs
      .readdirSync(path.join(root, 'prebuilds'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

const SOURCE_BUILD_NEEDS = 'needs python3, make and a C++17 compiler';

/** The error of a CPU addon that does not load: why, and the command that builds one here. */
export function cpuLoadMessage(reason: string, root: string, platform: string = process.platform, arch: string = process.arch): string {
  const here = `${platform}-${arch}`;
  const shipped = prebuiltPlatforms(root);
  const prebuilt =
    shipped.length === 0
      ? 'this install has no prebuilt addon'
      : shipped.includes(here)
        ? `the prebuilt addon for ${here} (prebuilds/${here}) did not load`
        : `this install has prebuilt addons for ${shipped.join(', ')} only, not ${here}`;
  const build =
    installKind(root) === 'dependency'
      ? `Build it from source with "npm rebuild condiff" in your project (${SOURCE_BUILD_NEEDS}; ` +
        `node-gyp downloads Node's headers unless npm_config_nodedir names a Node install)`
      : `Build it with "npm run build:native" (${SOURCE_BUILD_NEEDS})`;
  return `condiff: could not load its native addon (${reason}): ${prebuilt}. ${build}.`;
}

/** How to get the CUDA-enabled addon, which the npm package does not ship (it needs nvcc to build). */
export function cudaBuildHint(root: string): string {
  if (installKind(root) === 'clone') return 'build one with "npm run build:cuda" (needs nvcc and cmake)';
  return (
    'the npm package ships none: build it in a clone of condiff at the same version ' +
    '("npm ci && npm run build:cuda", needs nvcc and cmake) and set CONDIFF_CUDA_ADDON to its build-cuda/Release/condiff_cuda.node'
  );
}
