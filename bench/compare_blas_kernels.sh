#!/usr/bin/env bash
# bench/compare_blas_kernels.sh [PAIRS]: what OpenBLAS's generic kernel costs, and what loradiff's start-up
# check (tensor/blas_kernel.h) gives back. On a CPU that Debian's OpenBLAS 0.3.21 does not know, OpenBLAS
# falls back to its generic `Prescott` kernel; OPENBLAS_CORETYPE=Prescott reproduces that on any x86-64.
# Alternately, PAIRS times: the mnist-t2i training step and a 1024 matmul with
#   generic   OPENBLAS_CORETYPE=Prescott (what such a CPU got before the check; the user's explicit
#             setting is respected, with a warning)
#   restart   LORADIFF_BLAS_PRETEND_KERNEL=Prescott: loradiff believes OpenBLAS chose Prescott and
#             restarts itself with the best kernel for this CPU (what such a CPU gets now)
# and prints each pair's ratio and their median.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-3}
BIN=${LORADIFF:-build/release/apps/loradiff}
export LORADIFF_NUM_THREADS=${LORADIFF_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
unset OPENBLAS_CORETYPE LORADIFF_BLAS_SWITCHED
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BIN" --version
echo "{\"start\": \"$(date -Is)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
for i in $(seq "$PAIRS"); do
  OPENBLAS_CORETYPE=Prescott "$BIN" bench train --reps 3 2>/dev/null | tee -a "$tmp/generic.jsonl"
  LORADIFF_BLAS_PRETEND_KERNEL=Prescott "$BIN" bench train --reps 3 2>/dev/null | tee -a "$tmp/restart.jsonl"
  OPENBLAS_CORETYPE=Prescott "$BIN" bench ops --reps 5 2>/dev/null | grep '"n":1024' | tee -a "$tmp/generic_mm.jsonl"
  LORADIFF_BLAS_PRETEND_KERNEL=Prescott "$BIN" bench ops --reps 5 2>/dev/null | grep '"n":1024' |
    tee -a "$tmp/restart_mm.jsonl"
done
/usr/bin/python3 - "$tmp" <<'PY'
import json, statistics, sys
d = sys.argv[1]
load = lambda f: [json.loads(l) for l in open(f"{d}/{f}")]
for name, key in (("train_step", "ms"), ("matmul_1024", "ms")):
    g = load("generic.jsonl" if name == "train_step" else "generic_mm.jsonl")
    r = load("restart.jsonl" if name == "train_step" else "restart_mm.jsonl")
    ratios = [round(a[key] / b[key], 3) for a, b in zip(g, r)]
    print(json.dumps({"workload": name, "generic_kernel": g[0]["blas_kernel"], "restart_kernel": r[0]["blas_kernel"],
                      "restart_origin": r[0]["blas_origin"], "generic_ms": [round(x[key], 1) for x in g],
                      "restart_ms": [round(x[key], 1) for x in r], "generic_over_restart": ratios,
                      "median": statistics.median(ratios)}))
PY
