#!/usr/bin/env bash
# Prepares the one-shot GPU check (bench/gpu/run.sh) on a development machine with nvcc
# but no GPU, into the git-ignored .device/ and build-cuda/:
#   - the CUDA addon (npm run build:cuda): build-cuda/Release/condiff_cuda.node;
#   - core_test with the CUDA core (cmake + ninja, build-gpu-ctest/): .device/core_test,
#     which run.sh uses only if its own build with nvcc there fails;
#   - the Node scripts compiled to .device/js (lib/, bench/gpu/ and test/support/parity.ts; no node_modules
#     needed there) and this Node binary compressed to .device/node.xz (no Node there).
# Run it again after any change to lib/, bench/gpu/ or native/: run.sh runs what it built.
set -euo pipefail
cd "$(dirname "$0")/../.."
export npm_config_nodedir="${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}"
mkdir -p .device
npm run build:cuda
cmake -S . -B build-gpu-ctest -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONDIFF_WITH_CUDA=ON > /dev/null
cmake --build build-gpu-ctest -j 2 --target core_test
cp build-gpu-ctest/core_test .device/core_test
./build-gpu-ctest/core_test > /dev/null
./build-gpu-ctest/core_test --gpu || [ $? -eq 77 ]  # 77: skipped, no device here
rm -rf .device/js
npx tsc -p bench/gpu/tsconfig.json
node_bin="$(readlink -f "$(command -v node)")"
if [ ! -s .device/node.xz ] || [ "$node_bin" -nt .device/node.xz ]; then
  xz -T2 -6 -c "$node_bin" > .device/node.xz
fi
# What travels: the working tree (tracked and untracked, not ignored) plus the carried paths.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2> /dev/null | tail -1 | cut -f1)
carried=$(du -cb .device build-cuda/Release/condiff_cuda.node node_modules/node-api-headers \
  node_modules/node-addon-api | tail -1 | cut -f1)
echo "working tree $((tree / 1048576)) MiB + carried $((carried / 1048576)) MiB (limit 64 MiB)"
du -sh .device/node.xz .device/js .device/core_test build-cuda/Release/condiff_cuda.node
cat << 'HOW'
Ready. On the GPU machine (device tool), in one call:
  run(command = "bash bench/gpu/run.sh",
      carry = [".device", "build-cuda/Release/condiff_cuda.node",
               "node_modules/node-api-headers", "node_modules/node-addon-api"],
      timeout_s = 330)
It ends within about 280 s (RUN_BUDGET_S); the files come back from $OUT. Then record
the CUDA section of bench/RESULTS.md from them:
  node -r ./tools/register-ts.js bench/gpu/main.ts --record <files_at>/results.json
HOW
