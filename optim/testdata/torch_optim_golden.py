#!/usr/bin/env python3
"""Write golden trajectories of torch.optim optimizers for kioku's optim tests.

Run with Debian's python3-torch (1.13): /usr/bin/python3 torch_optim_golden.py
It writes torch_optim.json beside itself. For each configuration, two float64
parameters of shapes (3, 2) and (4,) start from fixed values and take STEPS
updates; the gradient at step k is g_i = (θ_i − sin(i+k))³ (i the flat
index), computed from the current values, so the whole trajectory must match.
The second parameter sits out (grad None) every third step, exercising
per-parameter step counts. The file records the gradients fed and the
parameters after every step.
"""
import json
import math
import os

import torch

STEPS = 6

CASES = [
    ("sgd", "SGD", dict(lr=0.02)),
    ("sgd_wd", "SGD", dict(lr=0.02, weight_decay=0.1)),
    ("momentum", "SGD", dict(lr=0.02, momentum=0.9)),
    ("momentum_dampening", "SGD", dict(lr=0.02, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("nesterov", "SGD", dict(lr=0.02, momentum=0.9, nesterov=True)),
    ("adam", "Adam", dict(lr=0.05)),
    ("adam_l2", "Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("amsgrad", "Adam", dict(lr=0.05, betas=(0.9, 0.5), amsgrad=True)),
    ("adamw", "AdamW", dict(lr=0.05)),
    ("adamw_amsgrad", "AdamW", dict(lr=0.05, weight_decay=0.3, betas=(0.9, 0.5), amsgrad=True)),
    ("rmsprop", "RMSprop", dict(lr=0.01)),
    ("rmsprop_all", "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.5, centered=True)),
    ("adagrad", "Adagrad", dict(lr=0.05)),
    ("adagrad_all", "Adagrad", dict(lr=0.05, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.2, eps=1e-8)),
]


def initial():
    a = torch.tensor([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]], dtype=torch.float64)
    b = torch.tensor([0.1, -0.2, 0.3, 1.2], dtype=torch.float64)
    return [a, b]


def grad(p, k):
    flat = p.detach().reshape(-1)
    g = torch.empty_like(flat)
    for i in range(flat.numel()):
        d = flat[i].item() - math.sin(i + k)
        g[i] = d * d * d
    return g.reshape(p.shape)


def run(cls, kwargs):
    params = [torch.nn.Parameter(t.clone()) for t in initial()]
    opt = getattr(torch.optim, cls)(params, **kwargs)
    steps = []
    for k in range(STEPS):
        grads = []
        for j, p in enumerate(params):
            if j == 1 and k % 3 == 2:
                p.grad = None
                grads.append(None)
            else:
                p.grad = grad(p, k)
                grads.append(p.grad.reshape(-1).tolist())
        opt.step()
        steps.append({"grads": grads, "params": [p.detach().reshape(-1).tolist() for p in params]})
    return steps


def main():
    out = {
        "torch_version": torch.__version__,
        "initial": [t.reshape(-1).tolist() for t in initial()],
        "shapes": [list(t.shape) for t in initial()],
        "cases": [],
    }
    for name, cls, kwargs in CASES:
        out["cases"].append({"name": name, "optimizer": cls, "kwargs": kwargs, "steps": run(cls, kwargs)})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_optim.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
