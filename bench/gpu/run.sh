#!/usr/bin/env bash
# The one-shot GPU check of the CUDA core, for a machine with an NVIDIA GPU (an H200:
# Hopper, sm_90) with nvcc, cmake and ninja but no Node. Prepare it with
# bench/gpu/prepare.sh (it prints the device call), then run it there in one call:
#   run(command="bash bench/gpu/run.sh", carry=[".device", "build-cuda/Release/condiff_cuda.node",
#       "node_modules/node-api-headers", "node_modules/node-addon-api"], timeout_s=330)
# Every phase is bounded with `timeout`, so the script ends within RUN_BUDGET_S (default
# 280 s) of its start even if something hangs; a phase that no longer fits is skipped.
#   1. build: cmake + ninja (-j nproc) of core_test with the CUDA core, compiled there
#      with nvcc (the carried .device/core_test, built with prepare.sh, if that fails);
#   2. the C++ checks: core_test (the core on the CPU) and core_test --gpu (every CUDA
#      operation against the CPU core: bits, or float32 rounding where sums differ; the
#      query creating no context; downloads through the bounded page-locked chunk; last,
#      a trapped kernel losing the context and the refusal of the next call);
#   3. Node (the carried binary, the carried CUDA addon): bench/gpu/main.ts, parity with
#      the CPU backend, the host side (a JS score in row chunks, ranged transfers, no
#      CUDA context in a process that runs on the CPU), resampling + gather against the
#      copy bandwidth, the filter's particle-steps/s against the CPU, the largest N;
#   4. compute-sanitizer memcheck and racecheck on the GPU checks at small sizes
#      (CONDIFF_GPU_CHECKS_QUICK=1), with what time is left.
# Files in $OUT (default bench/out/gpu; at most 8, none in subfolders): machine.txt,
# build.log, ctest.log, node.log, results.json, summary.md, sanitizer.log, run.log.
# A short table comes last. RUN_DRY=1 (on a machine without a GPU) runs main.js with
# --dry-run: every step of the script on the CPU backend, to check the script itself.
set -u -o pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/bench/out/gpu}"
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
export PATH="$PATH:/usr/local/cuda/bin"
BUDGET="${RUN_BUDGET_S:-280}"
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }
say() { echo "[$(elapsed) s] $*"; }
# bounded MAX_S CMD...: runs CMD under `timeout` for at most MAX_S seconds and never past
# the budget (5 s kept for the table); prints why when it is skipped or cut.
bounded() {
  local max=$1
  shift
  local t=$((BUDGET - $(elapsed) - 5))
  ((t > max)) && t=$max
  if ((t < 5)); then
    say "skipped (budget spent): $*"
    return 125
  fi
  timeout -k 5 "$t" "$@"
  local rc=$?
  ((rc == 124 || rc == 137)) && say "cut after ${t} s: $*"
  return $rc
}
declare -A status

say "machine"
{
  nvidia-smi
  nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.sm,clocks.max.sm,clocks.mem,driver_version --format=csv
  nvcc --version
  cmake --version | head -1
  ninja --version
  command -v compute-sanitizer
  uname -a
  lscpu | head -20
  free -g
} > "$OUT/machine.txt" 2>&1
grep -E "NVIDIA H|MiB|release" "$OUT/machine.txt" | head -4

say "build: cmake + ninja, core_test with the CUDA core (nvcc)"
B=/tmp/condiff-ctest
core_test=""
if bounded 25 cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONDIFF_WITH_CUDA=ON > "$OUT/build.log" 2>&1 &&
  bounded 120 cmake --build $B -j "$(nproc)" --target core_test >> "$OUT/build.log" 2>&1; then
  core_test=$B/core_test
  status[build]="built there ($(elapsed) s since start)"
else
  tail -30 "$OUT/build.log"
  if [ -x .device/core_test ]; then
    core_test=$PWD/.device/core_test
    status[build]="FAILED there (build.log); using the carried .device/core_test"
  else
    status[build]="FAILED (build.log), no carried core_test"
  fi
fi
say "build: ${status[build]}"

if [ -n "$core_test" ]; then
  say "C++ checks: core_test (CPU), then core_test --gpu"
  {
    echo "== $core_test (the core on the CPU)"
    bounded 30 "$core_test"
    echo "exit $?"
    echo "== $core_test --gpu"
    bounded 60 "$core_test" --gpu
    echo "exit $?"
  } > "$OUT/ctest.log" 2>&1
  cpu_line=$(grep -E "^[0-9]+ checks, [0-9]+ failures" "$OUT/ctest.log" | head -1)
  gpu_line=$(grep -E "GPU checks, [0-9]+ failures|GPU checks skipped" "$OUT/ctest.log" | tail -1)
  status[ctest]="core_test: ${cpu_line:-no summary}; core_test --gpu: ${gpu_line:-no summary (see ctest.log)}"
  grep -E "^FAIL|^group|GPU checks|impossible allocation|trapped kernel|is refused" "$OUT/ctest.log" | head -40
else
  status[ctest]="not run (no core_test)"
fi
say "C++ checks: ${status[ctest]}"

say "Node: the carried binary and CUDA addon, bench/gpu/main.js"
node_bin=/tmp/node
if xz -dc .device/node.xz > $node_bin && chmod +x $node_bin && $node_bin --version; then
  addon="$PWD/build-cuda/Release/condiff_cuda.node"
  if ! $node_bin -e "const a = require('$addon'); console.log(JSON.stringify(a.cuda.query()))" >> "$OUT/node.log" 2>&1; then
    say "the carried addon does not load here (node.log); building it with cmake"
    if [ -d node_modules/node-api-headers ] && [ -d node_modules/node-addon-api ]; then
      bounded 100 cmake -S . -B /tmp/condiff-addon -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONDIFF_WITH_CUDA=ON \
        -DCMAKE_JS_VERSION=8.0.0 \
        "-DCMAKE_JS_INC=$PWD/node_modules/node-api-headers/include;$PWD/node_modules/node-addon-api" >> "$OUT/build.log" 2>&1 &&
        bounded 100 cmake --build /tmp/condiff-addon -j "$(nproc)" >> "$OUT/build.log" 2>&1
      addon=/tmp/condiff-addon/condiff_cuda.node
    else
      say "no node_modules/node-api-headers here (not carried): cannot build the addon"
    fi
  fi
  node_budget=$((BUDGET - $(elapsed) - 60))  # leave about a minute for the sanitizer
  ((node_budget > 190)) && node_budget=190
  CONDIFF_NATIVE=cuda CONDIFF_CUDA_ADDON="$addon" bounded $((node_budget + 15)) $node_bin .device/js/bench/gpu/main.js \
    --out "$OUT" --budget-s "$node_budget" --ctest "${status[ctest]}" ${RUN_DRY:+--dry-run} >> "$OUT/node.log" 2>&1
  rc=$?
  status[node]="exit $rc"
  grep -E "^\[|parity|FAIL|TB/s|particle-steps|largest|N = " "$OUT/node.log" | grep -v "^\s*$" | head -60
else
  status[node]="no Node binary (.device/node.xz)"
fi
say "Node: ${status[node]}"

if [ -n "$core_test" ] && command -v compute-sanitizer > /dev/null; then
  say "compute-sanitizer on core_test --gpu at small sizes"
  : > "$OUT/sanitizer.log"
  for tool in memcheck racecheck; do
    echo "== compute-sanitizer --tool $tool" >> "$OUT/sanitizer.log"
    CONDIFF_GPU_CHECKS_QUICK=1 bounded 75 compute-sanitizer --tool $tool --print-limit 20 "$core_test" --gpu \
      >> "$OUT/sanitizer.log" 2>&1
    echo "exit $?" >> "$OUT/sanitizer.log"
    status[$tool]=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/sanitizer.log" | tail -1)
    status[$tool]="${status[$tool]:-no summary} ($(grep -E 'GPU checks, ' "$OUT/sanitizer.log" | tail -1))"
    say "$tool: ${status[$tool]}"
  done
else
  status[memcheck]="not run"
fi

echo
echo "================ summary ($(elapsed) s) ================"
printf '%-12s %s\n' build "${status[build]}" "C++ checks" "${status[ctest]}" node "${status[node]}" \
  memcheck "${status[memcheck]:-not run}" racecheck "${status[racecheck]:-not run}"
if [ -f "$OUT/node.log" ]; then
  sed -n '/^CTest on the device/,$p' "$OUT/node.log" | tail -40
fi
