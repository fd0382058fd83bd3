#!/usr/bin/env bash
# bench/compare_diffusion.sh [TRAIN_PAIRS] [SAMPLE_PAIRS]: the standard workloads of the
# reference model: `loradiff bench train` / `bench sample` and their PyTorch twins
# (bench/torch_diffusion.py) run alternately, so that a change in machine load affects both
# alike. Prints every run as a JSON line, then one line per workload with each pair's ratio
# (loradiff / PyTorch) and their median. Needs /usr/bin/python3 with torch (python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
TRAIN_PAIRS=${1:-5}
SAMPLE_PAIRS=${2:-2}
CONFIG=${CONFIG:-mnist-t2i}
BIN=${LORADIFF:-build/release/apps/loradiff}
# both on 2 threads, the workload's definition (docs/results.md)
export LORADIFF_NUM_THREADS=${LORADIFF_NUM_THREADS:-2}
# loradiff runs in the user's default environment (it picks the best GEMM kernel itself,
# tensor/blas_kernel.h, and how its idle threads wait, tensor/omp_wait.h). PyTorch gets its best
# settings: the same OpenBLAS kernel through OPENBLAS_CORETYPE, so that neither side runs a generic
# kernel on a CPU its OpenBLAS does not know, and its own best waiting: where loradiff chose to spin
# (idle cores at start), PyTorch spins 10,000 times before sleeping (TORCH_SPIN), else it sleeps at once
# as loradiff does. Measured on 2 idle cores, PyTorch's training step: 0.95-1.03 s with 10,000 spins,
# 1.04-1.34 s sleeping at once, 1.39-1.65 s with libgomp's default 300,000 (2026-11-30); again on
# 2026-12-01: 2.09-2.39 s, 2.26-2.46 s, 2.79-3.06 s. loradiff's own best is the longer spin
# (tensor/omp_wait.h): each side gets what suits it.
KERNEL=$("$BIN" --version 2>/dev/null | sed -n 's/^BLAS: .* kernel \([A-Za-z0-9_]*\) .*/\1/p')
# Pages: loradiff asks glibc for a heap in 2 MB pages (tensor/huge_pages.h); PyTorch runs without,
# as a user gets it: given the same (glibc.malloc.hugetlb=1) its step was no faster, 1,163 against
# 1,085 ms (medians of 5 alternated pairs, docs/results.md; likely because glibc hands its largest
# blocks back to the kernel on free, and each step faults them in again, 2 MB at a time).
# TORCH_HUGE_PAGES=on gives it them anyway.
# A user's own OMP_WAIT_POLICY / GOMP_SPINCOUNT reach both sides unchanged, and so does GLIBC_TUNABLES
# (loradiff adds glibc.malloc.hugetlb=1 to it unless it names that tunable; PyTorch then gets none).
torch_env() {  # the environment for PyTorch after loradiff's JSON line in $1
  local e=(env) spin
  [ -n "$KERNEL" ] && [ "$KERNEL" != unknown ] && e+=("OPENBLAS_CORETYPE=$KERNEL")
  if [ -z "${GLIBC_TUNABLES:-}" ] && [ "${TORCH_HUGE_PAGES:-off}" = on ] &&
    tail -n 1 "$1" | grep -q '"pages":"2MB"'; then
    e+=("GLIBC_TUNABLES=glibc.malloc.hugetlb=1")
  fi
  if [ -z "${OMP_WAIT_POLICY:-}${GOMP_SPINCOUNT:-}" ]; then
    e+=("OMP_WAIT_POLICY=passive")
    spin=$(tail -n 1 "$1" | sed -n 's/.*"omp_wait":"spin \([0-9]*\),.*/\1/p')
    [ -n "$spin" ] && e+=("GOMP_SPINCOUNT=${TORCH_SPIN:-10000}")
  fi
  echo "${e[@]}"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "{\"start\": \"$(date -Is)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
for i in $(seq "$TRAIN_PAIRS"); do
  "$BIN" bench train --config "$CONFIG" --batch 64 --reps 3 | tee -a "$tmp/train.jsonl"
  $(torch_env "$tmp/train.jsonl") /usr/bin/python3 bench/torch_diffusion.py --config "$CONFIG" --what train --reps 3 2>/dev/null | tee -a "$tmp/train.jsonl"
done
for i in $(seq "$SAMPLE_PAIRS"); do
  "$BIN" bench sample --config "$CONFIG" --reps 1 | tee -a "$tmp/sample.jsonl"
  $(torch_env "$tmp/sample.jsonl") /usr/bin/python3 bench/torch_diffusion.py --config "$CONFIG" --what sample --sample-reps 1 2>/dev/null |
    tee -a "$tmp/sample.jsonl"
done
/usr/bin/python3 - "$tmp" <<'PY'
import json, statistics, sys, os
d = sys.argv[1]
for name in ("train", "sample"):
    path = f"{d}/{name}.jsonl"
    if not os.path.exists(path): continue
    runs = [json.loads(l) for l in open(path)]
    ours = [r for r in runs if r.get("impl") == "loradiff"]
    torch = [r for r in runs if r.get("impl") != "loradiff"]
    ratios = [round(o["ms"] / t["ms"], 3) for o, t in zip(ours, torch)]
    print(json.dumps({"workload": name, "loradiff_ms": [round(o["ms"], 1) for o in ours],
                      "torch_ms": [round(t["ms"], 1) for t in torch], "ratios": ratios,
                      "median_ratio": statistics.median(ratios) if ratios else None,
                      "loradiff_peak_rss_mb": max(o.get("peak_rss_mb", 0) for o in ours),
                      "torch_peak_rss_mb": max(t.get("peak_rss_mb", 0) for t in torch)}))
PY
