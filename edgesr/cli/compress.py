"""edgesr compress"""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgesr.compression import PruneConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="trained model (.pt saved by edgesr train / save_model) or a bundled name "
                   "(edge_tiny_x2; shipped without its dual network)")
    p.add_argument("--ratio", type=float, default=0.3,
                   help="fraction of FLOPs (or params; with --budget channels: of each layer's channels) to remove")
    p.add_argument("--data", nargs="+", required=True, help="folders of HR training images (e.g. T91 BSDS200)")
    p.add_argument("-o", "--out", required=True, help="output .pt of the compressed model")
    p.add_argument("--work-dir", help="stage checkpoints (default: OUT's stem + '_drc' beside OUT)")
    p.add_argument("--stage", choices=["search", "prune", "finetune"], help="run one stage only (earlier ones must exist)")
    p.add_argument("--budget", choices=["flops", "params", "channels"], default="flops",
                   help="flops/params: end within 2%% of (1 - ratio) x the model's; channels: the official "
                        "DRC budget (the candidate set int(C (1 - ratio) r), no cost term)")
    p.add_argument("--search-mode", choices=["official", "legacy"], default="official",
                   help="official: mask the strongest channels (L1 of the next conv's weights), official alpha "
                        "init/optimizers; legacy: edgesr's earlier search (first channels by index)")
    p.add_argument("--dual-weight", type=float, default=0.1, help="lambda of the dual term in every stage (0 = off)")
    p.add_argument("--multiple", type=int, default=4,
                   help="channel counts are multiples of this (4: TensorRT; 8: ONNX Runtime on AVX2 CPUs; 1: the "
                        "finest grid, which reaches ratios a small model cannot reach at 4; compress says when)")
    p.add_argument("--redistribute", action="store_true",
                   help="let the search keep some layers wider than the uniform width (full-width candidates)")
    p.add_argument("--search-steps", type=int, default=200)
    p.add_argument("--channels", help="skip the search: one width per prunable layer, comma-separated "
                                      "(e.g. 16,16,48,32,40,40), or a channels.json from an earlier run")
    p.add_argument("--select", choices=["drc_omp", "drc", "drc_centered", "l1", "random"], default="drc_omp",
                   help="channel selection rule of the prune stage (see docs/compression.md)")
    p.add_argument("--prune-mode", choices=["official", "legacy"], default="official",
                   help="pruning settings: official (fresh crops every step, MSE weighted as in [0, 255], "
                        "SGD-Nesterov refit) or legacy (2 fixed batches, MSE weight 1, Adam); the options "
                        "below override single settings")
    p.add_argument("--prune-batches", type=int, help="scoring batches per greedy step (official 4, legacy 2)")
    p.add_argument("--reopt-steps", type=int, help="refit steps per added channel (official 4, legacy 2)")
    p.add_argument("--prune-batch", type=int, help="crops per pruning batch (official 16, legacy 8)")
    p.add_argument("--prune-patch", type=int, help="LR patch of the pruning crops (official 192 // scale, legacy 24)")
    p.add_argument("--feat-weight", type=float, help="weight of the feature MSE (official 255, legacy 1)")
    p.add_argument("--reopt-lr", type=float, help="refit learning rate (official 255 x 5e-5 SGD, legacy 1e-3 Adam)")
    p.add_argument("--fixed-prune-batches", action="store_true",
                   help="reuse --prune-batches fixed batches for every step instead of fresh crops")
    p.add_argument("--finetune-steps", type=int, default=500)
    p.add_argument("--batch", type=int, default=16, help="fine-tuning batch")
    p.add_argument("--patch", type=int, default=32, help="LR patch size (search and fine-tuning)")
    p.add_argument("--lr", type=float, default=2e-4, help="fine-tuning learning rate")
    p.add_argument("--teacher", help="distill from this model during fine-tuning (.pt or bundled name; "
                   "e.g. the uncompressed MODEL itself)")
    p.add_argument("--teacher-weight", type=float, default=1.0, help="weight of the distillation term")
    p.add_argument("--distill", choices=["output", "feature"], default="output",
                   help="output: L1 to the teacher's SR output; feature: MSE to its body output (EdgeSR only)")
    p.add_argument("--report-size", default="360x640", help="HxW at which FLOPs are reported")
    p.add_argument("--latency-size", default="180x320", help="HxW of the ONNX Runtime latency measurement")
    p.add_argument("--no-latency", action="store_true", help="skip the ONNX Runtime latency measurement")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the report as JSON here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing -o (and --json) file")
    p.add_argument("--no-progress", action="store_true")


def _hw(s: str) -> tuple[int, int]:
    from edgesr.errors import ConfigError

    try:
        h, w = (int(v) for v in s.lower().split("x"))
    except ValueError:
        raise ConfigError(f"size {s!r} is not HxW; write e.g. 360x640") from None
    return h, w


def _prune_config(a: argparse.Namespace, progress: bool) -> PruneConfig:
    from edgesr.compression import PruneConfig

    knobs = {"batches": a.prune_batches, "reopt_steps": a.reopt_steps, "batch": a.prune_batch,
             "patch": a.prune_patch, "feat_weight": a.feat_weight, "reopt_lr": a.reopt_lr}
    kw = {k: v for k, v in knobs.items() if v is not None}
    if a.fixed_prune_batches:
        kw["fresh"] = False
    kw.update(select=a.select, dual_weight=a.dual_weight, seed=a.seed, progress=progress)
    return PruneConfig.legacy(**kw) if a.prune_mode == "legacy" else PruneConfig(**kw)


def _channels(spec: str | None) -> list[int] | None:
    from pathlib import Path

    from edgesr.errors import ConfigError

    if spec is None:
        return None
    if Path(spec).is_file():
        try:
            return [int(c) for c in json.loads(Path(spec).read_text())["channels"]]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{spec} is not a channels.json (expected {{\"channels\": [16, 32, ...]}})") from None
    try:
        return [int(c) for c in spec.split(",")]
    except ValueError:
        raise ConfigError(f"--channels {spec!r} is neither a file nor comma-separated integers; "
                          "write e.g. --channels 16,16,48,32,40,40") from None


def check_outputs(a: argparse.Namespace) -> None:
    """-o and --json: the right kind, a writable folder, not an existing file unless --overwrite (before any
    stage runs: a stage can take hours)."""
    from edgesr.overwrite import check_output

    if a.stage in (None, "finetune"):  # the stages that write -o
        check_output(a.out, "pt", overwrite=a.overwrite)
    if a.json:
        check_output(a.json, "json", overwrite=a.overwrite, flag="--json")


def run(a: argparse.Namespace) -> int:
    check_outputs(a)
    import torch

    from edgesr.compression import CompressConfig, FinetuneConfig, SearchConfig, compress

    torch.set_num_threads(a.threads)
    progress = not a.no_progress
    cfg = CompressConfig(
        search=SearchConfig(steps=a.search_steps, multiple=a.multiple, redistribute=a.redistribute, patch=a.patch,
                            dual_weight=a.dual_weight, seed=a.seed, progress=progress, mode=a.search_mode),
        prune=_prune_config(a, progress),
        finetune=FinetuneConfig(steps=a.finetune_steps, batch=a.batch, patch=a.patch, lr=a.lr,
                                dual_weight=a.dual_weight, seed=a.seed, teacher=a.teacher,
                                teacher_weight=a.teacher_weight, distill=a.distill),
        report_hw=_hw(a.report_size), latency_hw=_hw(a.latency_size), threads=a.threads)
    rep = compress(a.model, a.ratio, a.data, a.out, work_dir=a.work_dir, budget=a.budget, stage=a.stage,
                   config=cfg, latency=not a.no_latency, channels=_channels(a.channels), overwrite=a.overwrite)
    print(rep.table())
    if rep.output:
        print(f"wrote {rep.output}")
    if a.json:
        from edgesr.fileio import atomic_write_text

        atomic_write_text(a.json, json.dumps(rep.to_dict(), indent=2))
    return 0
