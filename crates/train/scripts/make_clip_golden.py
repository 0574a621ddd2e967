#!/usr/bin/env python3
"""Golden global-norm clipping for trrg-train's `clip_grad_norm`: seeded gradients of three
parameters (shapes [3, 4], [4], [2, 2]) clipped by `torch.nn.utils.clip_grad_norm_` at a max
norm that clips and at one that does not. Needs `pip install torch`.
Usage: python crates/train/scripts/make_clip_golden.py > crates/train/tests/fixtures/clip_grad_norm.json"""
import json
import sys

import torch

torch.manual_seed(11)
shapes = [[3, 4], [4], [2, 2]]
grads = [torch.randn(*s) * 0.7 for s in shapes]
cases = []
for max_norm in [0.5, 100.0]:
    params = [torch.nn.Parameter(torch.zeros(*s)) for s in shapes]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    cases.append({
        "max_norm": max_norm,
        "norm": float(norm),
        "clipped": [p.grad.reshape(-1).tolist() for p in params],
    })
out = {
    "generator": "crates/train/scripts/make_clip_golden.py",
    "torch": torch.__version__,
    "shapes": shapes,
    "grads": [g.reshape(-1).tolist() for g in grads],
    "cases": cases,
}
json.dump(out, sys.stdout)
sys.stdout.write("\n")
