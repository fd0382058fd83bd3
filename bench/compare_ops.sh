#!/usr/bin/env bash
# bench/compare_ops.sh [ROUNDS]: `loradiff bench ops` and bench/torch_ops.py run alternately,
# ROUNDS times each, so that a change in machine load affects both alike; prints the
# per-benchmark medians side by side and their ratio (loradiff / PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
export LORADIFF_NUM_THREADS=${LORADIFF_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# The raw-sgemm reference runs on OpenBLAS's own threads, which keep spinning for a while
# (default 2^28 cycles) after each call: on 2 cores the spinning worker then takes a core
# from loradiff's matmul measured right after it, and halved it (ratios 0.48-1.0 run to
# run). A short spin (the minimum, 2^4 cycles) makes the pairing fair: 0.95-0.96 at 1024.
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-4}
# loradiff runs in the user's default environment (it picks the best GEMM kernel itself,
# tensor/blas_kernel.h); PyTorch gets the same OpenBLAS kernel through OPENBLAS_CORETYPE, so that
# neither side runs a generic kernel on a CPU its OpenBLAS does not know.
KERNEL=$(build/release/apps/loradiff --version 2>/dev/null | sed -n 's/^BLAS: .* kernel \([A-Za-z0-9_]*\) .*/\1/p')
torch_env=()
[ -n "$KERNEL" ] && [ "$KERNEL" != unknown ] && torch_env=(env "OPENBLAS_CORETYPE=$KERNEL")
tmp=$(mktemp -d)
for i in $(seq "$ROUNDS"); do
  build/release/apps/loradiff bench ops --reps 5 >> "$tmp/ours.jsonl"
  "${torch_env[@]}" /usr/bin/python3 bench/torch_ops.py --reps 5 >> "$tmp/torch.jsonl"
done
/usr/bin/python3 - "$tmp" <<'PY'
import json, statistics, sys, collections
d = sys.argv[1]
def load(name):
    out = collections.defaultdict(list)
    for line in open(f"{d}/{name}.jsonl"):
        j = json.loads(line)
        key = (j["bench"] + ("/" + j["product"] if "product" in j else ""), str(j.get("n", j.get("shape"))))
        for f in ("ms", "forward_ms", "forward_backward_ms", "ratio_of_sgemm"):
            if f in j: out[key + (f,)].append(j[f])
    return out
ours, torch = load("ours"), load("torch")
for key in ours:
    o = statistics.median(ours[key])
    t = statistics.median(torch[key]) if key in torch else None
    print(json.dumps({"bench": key[0], "size": key[1], "field": key[2], "loradiff": round(o, 3),
                      "torch": None if t is None else round(t, 3),
                      "ratio": None if not t else round(o / t, 3)}))
PY
rm -rf "$tmp"
