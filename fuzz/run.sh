#!/usr/bin/env bash
# fuzz/run.sh: run every libFuzzer harness, one after another, on its committed seed corpus.
#   fuzz/run.sh --time 20        each harness for 20 s (what .ci/run does)
#   fuzz/run.sh --runs 100000    each harness for 100,000 executions (docs/reliability.md)
#   fuzz/run.sh --runs 1000 fuzz_idx   only the named harnesses
# New inputs go to build/fuzz/work/<harness>/ (the committed corpus is only read); a crash, a
# sanitizer report or a hang (> 25 s on one input) is saved to build/fuzz/artifacts/ and makes
# the script fail. Prints the executions and the speed of each harness.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time=20)
case "${1:-}" in
  --time) limit=(-max_total_time="$2"); shift 2 ;;
  --runs) limit=(-runs="$2"); shift 2 ;;
esac
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(fuzz_safetensors fuzz_idx fuzz_image_caption fuzz_config fuzz_adapter_load)
bin=build/fuzz/fuzz
# one thread each (the harnesses build tiny models); libFuzzer's default malloc limit is 2 GB
export LORADIFF_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive
mkdir -p build/fuzz/artifacts
status=0
for h in "${harnesses[@]}"; do
  [ -x "$bin/$h" ] || { echo "fuzz: $bin/$h not built; run: cmake --preset fuzz && cmake --build --preset fuzz" >&2; exit 1; }
  mkdir -p "build/fuzz/work/$h"
  log="build/fuzz/work/$h.log"
  if "$bin/$h" "${limit[@]}" -timeout=25 -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$h-" \
       "build/fuzz/work/$h" "fuzz/corpus/$h" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz: $h: $runs executions, $speed/s, no finding"
  else
    status=1
    echo "fuzz: $h: FINDING (log $log, input in build/fuzz/artifacts/):" >&2
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -5 >&2
  fi
done
exit $status
