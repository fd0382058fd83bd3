#!/usr/bin/python3
"""bench/torch_ops.py: PyTorch (Debian python3-torch, eager, CPU) on the same
workloads as `loradiff bench ops`, printed as the same JSON lines, for the
side-by-side table in docs/results.md.

    LORADIFF_NUM_THREADS=2 /usr/bin/python3 bench/torch_ops.py   (Debian's python, which has torch) [--reps 7]
"""
import argparse, json, os, statistics, time

import torch

def median_ms(f, reps, warmup=1):
    for _ in range(warmup):
        f()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(t)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    threads = int(os.environ.get("LORADIFF_NUM_THREADS", torch.get_num_threads()))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    for n in (256, 512, 1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        reps = max(3, args.reps // 3) if n >= 2048 else args.reps
        ms = median_ms(lambda: a @ b, reps)
        print(json.dumps({"openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "chosen by OpenBLAS"), "bench": "matmul", "impl": "torch", "n": n, "threads": threads, "ms": ms,
                          "gflops": 2 * n**3 / 1e9 / (ms / 1e3)}), flush=True)
    for c, hw in ((32, 28), (64, 14), (128, 7)):
        x = torch.randn(64, c, hw, hw, requires_grad=True)
        conv = torch.nn.Conv2d(c, c, 3, padding=1)
        gy = torch.randn(64, c, hw, hw)
        def fwd():
            with torch.no_grad():
                conv(x)
        def fb():
            x.grad = None
            conv.zero_grad(set_to_none=True)
            conv(x).backward(gy)
        print(json.dumps({"openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "chosen by OpenBLAS"), "bench": "conv2d_3x3", "impl": "torch", "shape": [64, c, hw, hw], "threads": threads,
                          "forward_ms": median_ms(fwd, args.reps), "forward_backward_ms": median_ms(fb, args.reps)}),
              flush=True)
    x = torch.randn(64 * 4 * 196, 196)
    print(json.dumps({"openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "chosen by OpenBLAS"), "bench": "softmax", "impl": "torch", "shape": list(x.shape), "threads": threads,
                      "ms": median_ms(lambda: torch.softmax(x, -1), args.reps)}), flush=True)
    x = torch.randn(64 * 196, 64)
    ln = torch.nn.LayerNorm(64)
    with torch.no_grad():
        print(json.dumps({"openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "chosen by OpenBLAS"), "bench": "layer_norm", "impl": "torch", "shape": list(x.shape), "threads": threads,
                          "ms": median_ms(lambda: ln(x), args.reps)}), flush=True)

if __name__ == "__main__":
    main()
