#!/usr/bin/python3
"""bench/torch_diffusion.py: PyTorch (Debian python3-torch, eager, CPU) on the standard
workloads of docs/reference-model.md, with the same network as loradiff (tools/torch_model.py),
printed as JSON lines beside `loradiff bench train` / `loradiff bench sample`:

  train_step     batch 64: caption dropout, q_sample, eps_theta, loss (1), backward, AdamW
                 (lr 2e-4, weight decay 0.01) step, float32, training mode (dropout on)
  sample_ddim50  DDIM, 50 steps, guidance 3.0, 64 images: each step one UNet pass over 128
                 (conditional and unconditional batched), x0 clipped as loradiff's ddim_step

    LORADIFF_NUM_THREADS=2 /usr/bin/python3 bench/torch_diffusion.py [--config mnist-t2i] [--what all]
        [--reps 5] [--batch 64] [--steps 50] [--sample-reps 1]

--steps S < 50 runs only the first S steps of the 50-step schedule (every step costs the
same: one UNet pass at batch 2B) and extrapolates: "ms" is the 50-step estimate,
"ms_measured" what was timed, "extrapolated" says which. Peak memory is the process's
maximum resident set (getrusage ru_maxrss) after the workload, and its increase over
the maximum before the workload (model, optimizer and data already built); "cpu_ms" is
the process's CPU time (all threads) for the same work, a check on a loaded machine; with
--what all each workload runs in a fresh process so their peaks do not mix.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import torch_model as tm  # noqa: E402


def pages():
    """"2MB" when glibc puts the heap in transparent huge pages (GLIBC_TUNABLES glibc.malloc.hugetlb=1,
    as loradiff does for itself, tensor/huge_pages.h), else "4KB"."""
    tunables = os.environ.get("GLIBC_TUNABLES", "").split(":")
    return "2MB" if any(t.startswith("glibc.malloc.hugetlb=") and t != "glibc.malloc.hugetlb=0" for t in tunables) else "4KB"

def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def linear_alphabar(cfg):
    beta = torch.linspace(cfg["beta_start"], cfg["beta_end"], cfg["timesteps"], dtype=torch.float64)
    return torch.cumprod(1.0 - beta, 0)


def captions(B, L, vocab, gen):
    """'a handwritten digit <word>' for random digit words, as the captioner would write them."""
    ids = torch.zeros(B, L, dtype=torch.int32)
    w = {word: i for i, word in enumerate(vocab)}
    digits = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    for b in range(B):
        d = digits[int(torch.randint(10, (1,), generator=gen))]
        cap = [1] + [w.get(x, 2) for x in ("a", "handwritten", "digit", d)]
        ids[b, :len(cap)] = torch.tensor(cap, dtype=torch.int32)
    return ids


def build(config):
    cfg = tm.load_config(config)
    cfg["vocab_size"] = tm.vocab_size_of_repo() or 40
    vpath = os.path.join(tm.REPO, "data", "vocab.txt")
    vocab = [w for w in open(vpath).read().split("\n") if w] if os.path.exists(vpath) else []
    torch.manual_seed(0)
    return tm.TextToImageModel(cfg), cfg, vocab


def bench_train(args, threads):
    model, cfg, vocab = build(args.config)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    gen = torch.Generator().manual_seed(1)
    B, L, S = args.batch, cfg["max_tokens"], cfg["image_size"]
    x0 = torch.rand(B, cfg["image_channels"], S, S, generator=gen) * 2 - 1
    ids = captions(B, L, vocab, gen)
    ab = linear_alphabar(cfg).float()

    def step():
        t = torch.randint(0, cfg["timesteps"], (B,))
        eps = torch.randn_like(x0)
        drop = torch.rand(B) < cfg["p_uncond"]  # classifier-free guidance: <bos> only
        y = ids.clone()
        y[drop] = 0
        y[drop, 0] = 1
        a = ab[t][:, None, None, None]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps  # q_sample
        # loss (1), or the v target of a "v_prediction" config (diffusion/prediction.h)
        v = cfg.get("prediction_type", "epsilon") == "v_prediction"
        target = a.sqrt() * eps - (1 - a).sqrt() * x0 if v else eps
        loss = F.mse_loss(model(x_t, t, y), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    base = maxrss_mb()
    for _ in range(args.warmup):
        step()
    times, cpu = [], []
    for _ in range(args.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    peak = maxrss_mb()
    return {"bench": "train_step", "impl": "torch", "config": cfg["name"], "threads": threads, "batch": B,
            "reps": args.reps, "ms": statistics.median(times), "ms_min": min(times), "cpu_ms": statistics.median(cpu),
            "peak_rss_mb": round(peak, 1), "rss_increase_mb": round(peak - base, 1), "pages": pages(),
            "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}


def bench_sample(args, threads):
    model, cfg, vocab = build(args.config)
    model.eval()
    gen = torch.Generator().manual_seed(2)
    B, L, S, C = args.batch, cfg["max_tokens"], cfg["image_size"], cfg["image_channels"]
    T, total, guidance = cfg["timesteps"], 50, 3.0
    ids = captions(B, L, vocab, gen)
    empty = torch.zeros(B, L, dtype=torch.int32)
    empty[:, 0] = 1
    ids2 = torch.cat([ids, empty])
    ab = linear_alphabar(cfg)
    ts = [i * T // total for i in range(total - 1, -1, -1)]  # 980, 960, .., 0 as loradiff's ddim_timesteps
    steps = min(args.steps, total)

    def sample():
        x = torch.randn(B, C, S, S, generator=gen)
        for i in range(steps):
            t, t_prev = ts[i], ts[i + 1] if i + 1 < total else -1
            e = model(torch.cat([x, x]), torch.full((2 * B,), t, dtype=torch.long), ids2)
            ec, eu = e[:B], e[B:]
            eps = eu + guidance * (ec - eu)
            a, a_prev = ab[t].item(), ab[t_prev].item() if t_prev >= 0 else 1.0
            x0 = (x - (1 - a) ** 0.5 * eps) / a ** 0.5
            x0c = x0.clamp(-1, 1)  # clip x0, re-derive eps from it (eta = 0: no noise)
            eps = torch.where(x0c == x0, eps, (x - a ** 0.5 * x0c) / (1 - a) ** 0.5)
            x = a_prev ** 0.5 * x0c + (1 - a_prev) ** 0.5 * eps
        return x.clamp(-1, 1)

    base = maxrss_mb()
    with torch.inference_mode():
        for _ in range(args.warmup):  # one UNet pass at batch 2B warms the allocator and kernels
            model(torch.zeros(2 * B, C, S, S), torch.zeros(2 * B, dtype=torch.long), ids2)
        times, cpu = [], []
        for _ in range(args.sample_reps):
            t0, c0 = time.perf_counter(), time.process_time()
            sample()
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
    peak = maxrss_mb()
    measured = statistics.median(times)
    return {"bench": "sample_ddim50", "impl": "torch", "config": cfg["name"], "threads": threads, "batch": B,
            "unet_batch": 2 * B, "guidance": guidance, "steps": total, "steps_run": steps,
            "extrapolated": steps < total, "reps": args.sample_reps, "ms": measured * total / steps,
            "ms_measured": measured, "ms_per_step": measured / steps,
            "cpu_ms": statistics.median(cpu) * total / steps,
            "peak_rss_mb": round(peak, 1), "rss_increase_mb": round(peak - base, 1), "pages": pages(), "torch": torch.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="mnist-t2i")
    ap.add_argument("--what", choices=["train", "sample", "all"], default="all")
    ap.add_argument("--reps", type=int, default=5, help="timed training steps (median reported)")
    ap.add_argument("--sample-reps", type=int, default=1, help="timed sampling runs")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=50, help="DDIM steps actually run (of 50); fewer = extrapolated")
    args = ap.parse_args()
    if args.what == "all":  # a fresh process per workload: separate peak-memory readings
        rc = 0
        for what in ("train", "sample"):
            argv = [a for a in sys.argv[1:]]
            if "--what" in argv:
                i = argv.index("--what")
                del argv[i:i + 2]
            argv = [x for x in argv if not x.startswith("--what=")]
            rc |= subprocess.call([sys.executable, os.path.abspath(__file__), "--what", what] + argv)
        sys.exit(rc)
    threads = int(os.environ.get("LORADIFF_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    result = bench_train(args, threads) if args.what == "train" else bench_sample(args, threads)
    # the OpenBLAS kernel PyTorch's matmuls ran on (bench/compare_diffusion.sh sets loradiff's choice)
    result["openblas_coretype"] = os.environ.get("OPENBLAS_CORETYPE", "chosen by OpenBLAS")
    # how its OpenMP threads wait (bench/compare_diffusion.sh gives it loradiff's choice)
    result["omp_wait"] = ", ".join(f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
                                   if k in os.environ) or "OpenMP's default"
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
