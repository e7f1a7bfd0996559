#!/usr/bin/env bash
# Prepares the one-shot GPU check of issue 4 (bench/gpu/run.sh) on a development machine
# with nvcc but no GPU: the CUDA addon (npm run build:cuda), the Node scripts compiled to
# .device/js (lib/, bench/gpu/ and test/support/parity.ts; no node_modules needed there),
# and this Node binary compressed to .device/node.xz (the GPU machine has no Node).
# .device/ is git-ignored.
set -euo pipefail
cd "$(dirname "$0")/../.."
export npm_config_nodedir="${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}"
mkdir -p .device
npm run build:cuda
rm -rf .device/js
npx tsc -p bench/gpu/tsconfig.json
node_bin="$(readlink -f "$(command -v node)")"
if [ ! -s .device/node.xz ] || [ "$node_bin" -nt .device/node.xz ]; then
  xz -T2 -6 -c "$node_bin" > .device/node.xz
fi
du -sh .device/node.xz .device/js build-cuda/Release/condiff_cuda.node
cat <<'HOW'
Ready. On the GPU machine (device tool), in one call:
  run(command = "bash bench/gpu/run.sh",
      carry = [".device", "build-cuda/Release/condiff_cuda.node",
               "node_modules/node-api-headers", "node_modules/node-addon-api"],
      timeout_s = 580)
Then record its results.json: node -r ./tools/register-ts.js bench/gpu/main.ts --record <files_at>/results.json
HOW
