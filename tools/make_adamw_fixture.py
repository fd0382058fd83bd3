#!/usr/bin/python3
"""Writes tests/fixtures/optim_pytorch.json: optimizer updates computed by PyTorch,
which tests/nn/test_optim.cpp reproduces with nn::AdamW, nn::Adam and nn::SGD.

The problem: a linear model y = x W^T + b fitted by mean squared error, plus a
parameter c that gets the gradient of sum(c^2) on even steps only (its .grad is
None on odd steps, so PyTorch skips it and its own step count lags behind).
For every optimizer the fixture stores the gradients PyTorch used at each step and
the parameters after it, and the final optimizer state (exp_avg, exp_avg_sq,
momentum_buffer, per-parameter step).

Run: /usr/bin/python3 tools/make_adamw_fixture.py   (needs python3-torch)
"""
import json
import os

import torch

STEPS = 6


def flat(t):
    # float32 values written as Python floats: exact, and parsed back exactly by C++.
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def run(name, make_opt, x, y, init):
    w = init["w"].clone().requires_grad_(True)
    b = init["b"].clone().requires_grad_(True)
    c = init["c"].clone().requires_grad_(True)
    params = {"w": w, "b": b, "c": c}
    opt = make_opt([w, b, c])
    steps = []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(x @ w.t() + b, y)
        if step % 2 == 0:
            loss = loss + (c * c).sum()
        loss.backward()
        grads = {k: flat(p.grad) for k, p in params.items() if p.grad is not None}
        opt.step()
        steps.append({"loss": float(loss), "grads": grads, "params_after": {k: flat(p) for k, p in params.items()}})
    state = {}
    for k, p in params.items():
        s = opt.state[p]
        for key, v in s.items():
            state[f"{k}.{key}"] = int(v.item()) if key == "step" else flat(v)
    return {"steps": steps, "final_state": state}


def main():
    torch.manual_seed(0)
    x = torch.randn(8, 4)
    y = torch.randn(8, 3)
    init = {"w": torch.randn(3, 4) * 0.5, "b": torch.randn(3) * 0.1, "c": torch.randn(2)}
    out = {
        "torch_version": torch.__version__,
        "shapes": {"x": [8, 4], "y": [8, 3], "w": [3, 4], "b": [3], "c": [2]},
        "x": flat(x),
        "y": flat(y),
        "init": {k: flat(v) for k, v in init.items()},
        "optimizers": {
            "adamw": {"lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.1,
                      **run("adamw", lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1, foreach=False), x, y, init)},
            "adamw_defaults": {"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01,
                               **run("adamw_defaults", lambda p: torch.optim.AdamW(p, foreach=False), x, y, init)},
            "adam": {"lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1,
                     **run("adam", lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6,
                                                              weight_decay=0.1, foreach=False), x, y, init)},
            "sgd": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01,
                    **run("sgd", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01,
                                                           foreach=False), x, y, init)},
        },
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "optim_pytorch.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
