#!/usr/bin/env bash
# The package as a user gets it: `npm pack` (prepack builds prebuilds/<platform>-<arch> with
# prebuildify, prepare compiles dist/), then the tarball installed into a fresh project with
# install scripts disabled and no compiler, python or make on PATH, and used from there:
# require and import, strict TypeScript against the shipped types, smc, a shipped model
# resolved through the exports map, a float64 .npy written and read back, the condiff bin,
# and the loader's hints when the prebuilt addon or the CUDA build is missing.
# Run from the repository (npm run pack-check, or .ci/run). Needs the registry for the
# package's two dependencies (node-gyp-build, node-addon-api); about a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

# node-gyp (under prebuildify) finds Node's headers in this Node's own install, offline.
export npm_config_nodedir="${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
fail() { echo "pack-check: $*" >&2; exit 1; }

platform=$(node -p 'process.platform + "-" + process.arch')
version=$(node -p 'require("./package.json").version')

t0=$(now)
if [ -n "${PACK_CHECK_TARBALL:-}" ]; then
  # A tarball packed before (to check it again without rebuilding the addon).
  echo "== checking $PACK_CHECK_TARBALL (PACK_CHECK_TARBALL), not packing"
  tarball=$(realpath "$PACK_CHECK_TARBALL")
else
  echo "== npm pack (prepack: prebuildify --napi --strip; prepare: tsc)"
  if ! JOBS="${JOBS:-2}" npm pack --pack-destination "$work" >"$work/pack.log" 2>&1; then
    cat "$work/pack.log" >&2
    fail "npm pack failed"
  fi
  tarball="$work/condiff-$version.tgz"
  test -f "$tarball" || fail "npm pack wrote no $tarball"
fi
pack_seconds=$(since "$t0")

echo "== tarball contents"
tar -tzf "$tarball" | sed 's|^package/||' | sort >"$work/files.txt"
for f in "prebuilds/$platform/condiff.node" dist/index.js dist/index.d.ts dist/digits.d.ts dist/cli/main.js \
  docs/MATH.md LICENSE README.md package.json binding.gyp examples/model.json models/digits-eps.onnx models/README.md; do
  grep -qxF "$f" "$work/files.txt" || fail "the tarball lacks $f"
done
# No tests, benchmarks, tools, CI, build outputs or CUDA sources (the CUDA addon is built from a clone).
if grep -E '^(test|bench|tools|build|build-[^/]*|native/test|native/cuda|\.ci)/|\.test\.|\.tsbuildinfo$|^native/binding/cuda_|^CMakeLists\.txt$|\.npmrc$' "$work/files.txt"; then
  fail "the tarball holds the files above, which a user does not need"
fi
bytes=$(stat -c %s "$tarball")
model_bytes=$(stat -c %s models/digits-eps.onnx)
echo "tarball: $(awk -v b="$bytes" 'BEGIN { printf "%.2f MB", b / 1e6 }') ($bytes bytes, $(wc -l <"$work/files.txt") files); packed in ${pack_seconds} s"
echo "         the digits demo's network models/digits-eps.onnx is $(awk -v m="$model_bytes" 'BEGIN { printf "%.1f MB", m / 1e6 }') of it (uncompressed)"

echo "== install into a fresh project: --ignore-scripts, no compiler, python or make on PATH"
# PATH holds node, npm and sh only (npm runs install scripts with sh; npm's shebang finds node).
mkdir -p "$work/bin" "$work/app"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(command -v npm)" "$work/bin/npm"
ln -s "$(command -v sh)" "$work/bin/sh"
for tool in cc gcc g++ c++ clang make python3 python cmake nvcc; do
  if PATH="$work/bin" command -v "$tool" >/dev/null 2>&1; then fail "$tool is on the restricted PATH"; fi
done
cd "$work/app"
printf '{ "name": "pack-check-app", "version": "1.0.0", "private": true }\n' >package.json
t0=$(now)
PATH="$work/bin" npm install --ignore-scripts --no-audit --no-fund --loglevel=error "$tarball" >"$work/install.log" 2>&1 || {
  cat "$work/install.log" >&2
  fail "npm install of the tarball failed"
}
install_seconds=$(since "$t0")
echo "installed in ${install_seconds} s"
pkg="$work/app/node_modules/condiff"
test ! -e "$pkg/build" || fail "the installed package has a build/ folder: the prebuilt addon was not what loaded"

echo "== require (CommonJS)"
cat >check.cjs <<'EOF'
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const condiff = require('condiff');
const { smc, GaussianMixture, schedules, encodeNpy, decodeNpy } = condiff;
const root = path.dirname(require.resolve('condiff/package.json'));
// The addon node-gyp-build picks is the shipped prebuild (there is no build/ to prefer).
assert.equal(path.relative(root, require('node-gyp-build').path(root)), path.join('prebuilds', `${process.platform}-${process.arch}`, 'condiff.node'));
// A shipped model through the exports map, and the digits demo's entry point.
const onnx = require.resolve('condiff/models/digits-eps.onnx');
assert.ok(fs.statSync(onnx).size > 1e6, onnx);
assert.equal(typeof require('condiff/digits').loadDigitSet, 'function');
(async () => {
  const model = GaussianMixture.fromJSON(JSON.parse(fs.readFileSync(path.join(root, 'examples', 'model.json'), 'utf8')));
  const observed = JSON.parse(fs.readFileSync(path.join(root, 'examples', 'observe.json'), 'utf8'));
  const r = await smc({ score: model, schedule: schedules.ou({ T: 5 }), steps: 25, observed, particles: 32, samples: 8, seed: 1, output: 'all' });
  assert.equal(r.samples.length, 8 * model.dim);
  assert.equal(r.particles.length, 8 * 32 * model.dim);
  assert.ok(r.logEvidence.every(Number.isFinite));
  // log-evidence as float64 .npy, written and read back bit for bit.
  fs.writeFileSync('evidence.npy', encodeNpy(r.logEvidence));
  const back = decodeNpy(fs.readFileSync('evidence.npy'), 'float64');
  assert.deepEqual(back.shape, [8]);
  assert.equal(back.descr, '<f8');
  assert.deepEqual(Buffer.from(back.data.buffer), Buffer.from(r.logEvidence.buffer));
  // A misspelt option is an error naming the valid one.
  await assert.rejects(smc({ score: model, schedule: schedules.ou(), steps: 2, observed, particles: 2, samples: 1, essTreshold: 0.5 }), /did you mean "essThreshold"/);
  console.log(`require: smc ran (${r.backend}), mean log-evidence ${(r.logEvidence.reduce((a, b) => a + b) / 8).toFixed(3)}, evidence.npy read back`);
})().catch((e) => { console.error(e); process.exit(1); });
EOF
PATH="$work/bin" node check.cjs

echo "== import (ES module)"
cat >check.mjs <<'EOF'
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { smc, GaussianMixture, schedules, decodeNpy, encodeNpy } from 'condiff';
import { loadDigitSet } from 'condiff/digits';
assert.equal(typeof loadDigitSet, 'function');
const onnx = fileURLToPath(import.meta.resolve('condiff/models/digits-eps.onnx'));
assert.ok(fs.existsSync(onnx), onnx);
const model = GaussianMixture.fromJSON({ weights: [0.5, 0.5], means: [[-2, -2], [2, 2]], covariances: [[[1, 0.9], [0.9, 1]], [[1, 0.9], [0.9, 1]]] });
const r = await smc({ score: model, schedule: schedules.ou(), steps: 25, observed: { indices: [1], values: [1] }, particles: 16, samples: 4 });
const back = decodeNpy(encodeNpy(r.ess, [r.ess.length / 4, 4]), 'float64');
assert.deepEqual(Array.from(back.data), Array.from(r.ess));
console.log(`import: smc ran, ${r.samples.length / 2} draws; ess read back as ${back.dtype} [${back.shape.join(', ')}]`);
EOF
PATH="$work/bin" node check.mjs

echo "== strict TypeScript against the shipped types (the repository's tsc, type check only)"
cat >check.ts <<'EOF'
import { smc, GaussianMixture, schedules, decodeNpy } from 'condiff';
import type { SmcAllResult, DecodedNpy } from 'condiff';
export async function typed(): Promise<number> {
  const model = GaussianMixture.fromJSON({ weights: [1], means: [[0, 0]], covariances: [[[1, 0], [0, 1]]] });
  const all: SmcAllResult = await smc({ score: model, schedule: schedules.ou(), steps: 5, observed: { indices: [0], values: [0] }, particles: 4, samples: 2, output: 'all' });
  const rows: number = all.particles.length + all.logWeights.length;
  const npy: DecodedNpy<Float64Array> = decodeNpy(new Uint8Array(0), 'float64');
  // @ts-expect-error a misspelt option is a type error too
  await smc({ score: model, schedule: schedules.ou(), steps: 5, observed: { indices: [0], values: [0] }, particles: 4, samples: 2, treads: 2 });
  return rows + npy.data.length;
}
EOF
# Node's types from the repository, as a TypeScript project on Node has them (@types/node).
printf '{ "compilerOptions": { "strict": true, "module": "nodenext", "moduleResolution": "nodenext", "target": "es2022", "noEmit": true,
  "typeRoots": ["%s/node_modules/@types"], "types": ["node"] }, "files": ["check.ts"] }\n' "$repo" >tsconfig.json
PATH="$work/bin" node "$repo/node_modules/typescript/bin/tsc" -p tsconfig.json
echo "types: strict check passed"

echo "== the condiff bin"
test "$(PATH="$work/bin" ./node_modules/.bin/condiff --version)" = "$version" || fail "condiff --version is not $version"
PATH="$work/bin" ./node_modules/.bin/condiff sample --help | head -1 | grep -q '^condiff sample: ' || fail "condiff sample --help does not start with sample's help"
PATH="$work/bin" ./node_modules/.bin/condiff sample --model "$pkg/examples/model.json" --observe "$pkg/examples/observe.json" \
  --method smc --particles 16 --samples 10 --steps 25 --threads 2 --out s.npy --out-evidence e.npy >summary.json
PATH="$work/bin" node -e '
  const { decodeNpy } = require("condiff");
  const fs = require("node:fs");
  const e = decodeNpy(fs.readFileSync("e.npy"), "float64"), s = decodeNpy(fs.readFileSync("s.npy"), "float32");
  if (e.shape.join() !== "10" || s.shape[0] !== 10) throw new Error(`shapes ${e.shape} and ${s.shape}`);
  console.log("bin: condiff sample wrote s.npy [" + s.shape.join(", ") + "] and e.npy [" + e.shape + "]");'
if command -v python3 >/dev/null 2>&1 && python3 -c 'import numpy' >/dev/null 2>&1; then
  python3 -c 'import numpy as np; e = np.load("e.npy"); assert e.dtype == np.float64 and e.shape == (10,), e; print("numpy: e.npy is float64", e.shape)'
fi

echo "== install with scripts, as npm does by default: the install script finds the prebuild and compiles nothing"
mkdir "$work/app2" && cd "$work/app2"
printf '{ "name": "pack-check-app2", "version": "1.0.0", "private": true }\n' >package.json
PATH="$work/bin" npm install --no-audit --no-fund --loglevel=error "$tarball" >"$work/install2.log" 2>&1 || {
  cat "$work/install2.log" >&2
  fail "npm install of the tarball with its install script failed"
}
test ! -e node_modules/condiff/build || fail "the install script built the addon although a prebuild loads"
PATH="$work/bin" node -e 'require("condiff")'
echo "installed with scripts: no build/, loads"
cd "$work/app"

echo "== the loader's hints in an installed package"
mv "$pkg/prebuilds" "$work/prebuilds.moved"
if msg=$(PATH="$work/bin" node -e 'require("condiff")' 2>&1); then fail "condiff loaded with no addon"; fi
mv "$work/prebuilds.moved" "$pkg/prebuilds"
grep -q 'Build it from source with "npm rebuild condiff" in your project' <<<"$msg" || { echo "$msg" >&2; fail "no npm rebuild hint"; }
if grep -q 'npm run' <<<"$msg"; then echo "$msg" >&2; fail "the hint names a script the package does not have"; fi
if msg=$(CONDIFF_NATIVE=cuda PATH="$work/bin" node -e 'require("condiff")' 2>&1); then fail "CONDIFF_NATIVE=cuda loaded with no CUDA build"; fi
grep -q 'CONDIFF_CUDA_ADDON' <<<"$msg" || { echo "$msg" >&2; fail "no CUDA hint"; }
echo "hints: npm rebuild condiff (no addon), a clone and CONDIFF_CUDA_ADDON (CUDA)"

echo "pack-check passed: tarball $(awk -v b="$bytes" 'BEGIN { printf "%.2f MB", b / 1e6 }'), packed in ${pack_seconds} s, installed in ${install_seconds} s"
