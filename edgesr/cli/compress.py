"""edgesr compress"""
from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="trained model (.pt saved by edgesr train / save_model)")
    p.add_argument("--ratio", type=float, default=0.3, help="fraction of FLOPs (or params) to remove")
    p.add_argument("--data", nargs="+", required=True, help="folders of HR training images (e.g. T91 BSDS200)")
    p.add_argument("-o", "--out", required=True, help="output .pt of the compressed model")
    p.add_argument("--work-dir", help="stage checkpoints (default: OUT's stem + '_drc' beside OUT)")
    p.add_argument("--stage", choices=["search", "prune", "finetune"], help="run one stage only (earlier ones must exist)")
    p.add_argument("--budget", choices=["flops", "params"], default="flops")
    p.add_argument("--dual-weight", type=float, default=0.1, help="lambda of the dual term in every stage (0 = off)")
    p.add_argument("--multiple", type=int, default=4,
                   help="channel counts are multiples of this (4: TensorRT; 8: ONNX Runtime on AVX2 CPUs)")
    p.add_argument("--redistribute", action="store_true",
                   help="let the search keep some layers wider than the uniform width (full-width candidates)")
    p.add_argument("--search-steps", type=int, default=200)
    p.add_argument("--prune-batches", type=int, default=2)
    p.add_argument("--reopt-steps", type=int, default=2)
    p.add_argument("--finetune-steps", type=int, default=500)
    p.add_argument("--batch", type=int, default=16, help="fine-tuning batch")
    p.add_argument("--patch", type=int, default=32, help="LR patch size (search and fine-tuning)")
    p.add_argument("--lr", type=float, default=2e-4, help="fine-tuning learning rate")
    p.add_argument("--report-size", default="360x640", help="HxW at which FLOPs are reported")
    p.add_argument("--latency-size", default="180x320", help="HxW of the ONNX Runtime latency measurement")
    p.add_argument("--no-latency", action="store_true", help="skip the ONNX Runtime latency measurement")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the report as JSON here")
    p.add_argument("--no-progress", action="store_true")


def _hw(s: str) -> tuple[int, int]:
    from edgesr.errors import ConfigError

    try:
        h, w = (int(v) for v in s.lower().split("x"))
    except ValueError:
        raise ConfigError(f"size {s!r} is not HxW; write e.g. 360x640") from None
    return h, w


def run(a: argparse.Namespace) -> int:
    import torch

    from edgesr.compression import CompressConfig, FinetuneConfig, PruneConfig, SearchConfig, compress

    torch.set_num_threads(a.threads)
    progress = not a.no_progress
    cfg = CompressConfig(
        search=SearchConfig(steps=a.search_steps, multiple=a.multiple, redistribute=a.redistribute, patch=a.patch,
                            dual_weight=a.dual_weight, seed=a.seed, progress=progress),
        prune=PruneConfig(batches=a.prune_batches, reopt_steps=a.reopt_steps, dual_weight=a.dual_weight,
                          seed=a.seed, progress=progress),
        finetune=FinetuneConfig(steps=a.finetune_steps, batch=a.batch, patch=a.patch, lr=a.lr,
                                dual_weight=a.dual_weight, seed=a.seed),
        report_hw=_hw(a.report_size), latency_hw=_hw(a.latency_size), threads=a.threads)
    rep = compress(a.model, a.ratio, a.data, a.out, work_dir=a.work_dir, budget=a.budget, stage=a.stage,
                   config=cfg, latency=not a.no_latency)
    print(rep.table())
    if rep.output:
        print(f"wrote {rep.output}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rep.to_dict(), f, indent=2)
    return 0
