"""edgesr train"""
from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="edge_tiny", help="preset name (edgesr models) or a .pt to fine-tune")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--data", nargs="+", default=[], help="folders of HR training images")
    p.add_argument("--unpaired", nargs="+", default=[], help="folders of LR-only images (dual loss only)")
    p.add_argument("--val-data", help="folder for validation PSNR (e.g. Set5)")
    p.add_argument("--out", default="runs/train", help="output folder (checkpoints, log, model.pt)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=48, help="LR patch size")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--schedule", choices=["cosine", "step", "constant"], default="cosine")
    p.add_argument("--step-size", type=int, default=0)
    p.add_argument("--gamma", type=float, default=0.5)
    p.add_argument("--dual-weight", type=float, default=0.1, help="lambda of the dual loss (0 disables it)")
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--ckpt-every", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--model-kwargs", default="{}", help='JSON config overrides, e.g. \'{"n_feats": 24}\'')
    p.add_argument("--init", help="warm start from a checkpoint (same-shaped tensors, e.g. an x2 model for x4)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--no-progress", action="store_true")


def run(a: argparse.Namespace) -> int:
    from edgesr.training import TrainConfig, train

    cfg = TrainConfig(model=a.model, scale=a.scale, data=tuple(a.data), unpaired=tuple(a.unpaired),
                      val_data=a.val_data, out=a.out, steps=a.steps, batch=a.batch, patch=a.patch, lr=a.lr,
                      schedule=a.schedule, step_size=a.step_size, gamma=a.gamma, dual_weight=a.dual_weight,
                      val_every=a.val_every, ckpt_every=a.ckpt_every, seed=a.seed, threads=a.threads,
                      model_kwargs=json.loads(a.model_kwargs), init=a.init, progress=not a.no_progress)
    path = train(cfg, resume=a.resume)
    print(path)
    return 0
