#!/usr/bin/env bash
# The one-shot GPU check of issue 4, for a machine with an NVIDIA GPU (an H200: Hopper,
# sm_90) with nvcc, cmake and ninja but no Node. Prepare it with bench/gpu/prepare.sh,
# then run it there in one call (about 5 minutes):
#   run(command="bash bench/gpu/run.sh", carry=[".device", "build-cuda/Release/condiff_cuda.node",
#       "node_modules/node-api-headers", "node_modules/node-addon-api"], timeout_s=580)
# 1. CTest: builds the C++ core and the CUDA core with nvcc and runs core_test (the core's
#    math on the CPU) and core_test_gpu (the same math on the device, against the CPU).
# 2. Node (the carried binary): the carried CUDA addon, or one built here with cmake if it
#    does not load; then bench/gpu/main.ts: parity with the CPU backend, resampling +
#    gather against the copy bandwidth, the filter's particle-steps/s, the largest N.
# Files in $OUT (default bench/out/gpu): nvidia-smi.txt, ctest.log, node.log,
# results.json, summary.md (the section for bench/RESULTS.md). A short table comes last.
set -u -o pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/bench/out/gpu}"
mkdir -p "$OUT"
export PATH="$PATH:/usr/local/cuda/bin"
start=$(date +%s)
say() { echo "[$(($(date +%s) - start)) s] $*"; }

say "machine"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
grep -E "NVIDIA|MiB" "$OUT/nvidia-smi.txt" | head -4
nvcc --version | tail -1

say "CTest: configure and build with nvcc"
ctest_summary="did not build (see ctest.log)"
if cmake -S . -B /tmp/condiff-ctest -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONDIFF_WITH_CUDA=ON > "$OUT/ctest.log" 2>&1 &&
  cmake --build /tmp/condiff-ctest -j "$(nproc)" >> "$OUT/ctest.log" 2>&1; then
  say "CTest: run"
  (cd /tmp/condiff-ctest && ctest -V) >> "$OUT/ctest.log" 2>&1
  passed=$(grep -E "tests passed" "$OUT/ctest.log" | tail -1)
  skipped=$(grep -cE "\(Skipped\)" "$OUT/ctest.log")
  ctest_summary="${passed:-no summary}; ${skipped} skipped"
fi
grep -E "GPU checks|FAIL|checks," "$OUT/ctest.log" | head -30
say "CTest: $ctest_summary"

say "Node"
xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node
/tmp/node --version
addon="$PWD/build-cuda/Release/condiff_cuda.node"
if ! /tmp/node -e "require('$addon')" >> "$OUT/node.log" 2>&1; then
  say "the carried addon does not load here; building it with cmake"
  cmake -S . -B /tmp/condiff-addon -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONDIFF_WITH_CUDA=ON -DCMAKE_JS_VERSION=8.0.0 \
    "-DCMAKE_JS_INC=$PWD/node_modules/node-api-headers/include;$PWD/node_modules/node-addon-api" >> "$OUT/ctest.log" 2>&1 &&
    cmake --build /tmp/condiff-addon -j "$(nproc)" >> "$OUT/ctest.log" 2>&1
  addon=/tmp/condiff-addon/condiff_cuda.node
fi
export CONDIFF_NATIVE=cuda CONDIFF_CUDA_ADDON="$addon"

/tmp/node .device/js/bench/gpu/main.js --out "$OUT" --ctest "$ctest_summary"
rc=$?
say "done (exit $rc); files in $OUT"
exit $rc
