"""edgesr train

Options not given on the command line are absent from the namespace (``SUPPRESS``), so that
``--resume`` can tell a setting the user chose from a default: the saved run's settings are kept
unless one is given explicitly.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

S = argparse.SUPPRESS


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgesr.training import TrainConfig as D  # the defaults live in one place

    p.add_argument("--model", default=S, help=f"preset name (edgesr models) or a .pt to fine-tune (default {D.model})")
    p.add_argument("--scale", type=int, default=S, help=f"default {D.scale}")
    p.add_argument("--data", nargs="+", default=S, help="folders of HR training images")
    p.add_argument("--unpaired", nargs="+", default=S, help="folders of LR-only images (dual loss only)")
    p.add_argument("--unpaired-ratio", type=float, default=S,
                   help=f"unpaired batches per paired batch, spread evenly (default {D.unpaired_ratio}: alternate)")
    p.add_argument("--degrade", default=S, metavar="PRESET|JSON",
                   help="make the LR of --data with the degradation pipeline: real, bicubic or a JSON file "
                        "(default: MATLAB bicubic, cached)")
    p.add_argument("--val-data", default=S, help="folder for validation PSNR (e.g. Set5)")
    p.add_argument("--out", default=S, help=f"output folder (checkpoints, log, model.pt; default {D.out})")
    p.add_argument("--steps", type=int, default=S, help=f"default {D.steps}")
    p.add_argument("--batch", type=int, default=S, help=f"default {D.batch}")
    p.add_argument("--patch", type=int, default=S, help=f"LR patch size (default {D.patch})")
    p.add_argument("--lr", type=float, default=S, help=f"default {D.lr}")
    p.add_argument("--schedule", choices=["cosine", "step", "constant"], default=S, help=f"default {D.schedule}")
    p.add_argument("--step-size", type=int, default=S, help="for --schedule step (default steps // 3)")
    p.add_argument("--gamma", type=float, default=S, help=f"for --schedule step (default {D.gamma})")
    p.add_argument("--dual-weight", type=float, default=S,
                   help=f"lambda of the dual loss (0 disables it; default {D.dual_weight})")
    p.add_argument("--val-every", type=int, default=S, help=f"default {D.val_every}")
    p.add_argument("--ckpt-every", type=int, default=S, help=f"default {D.ckpt_every}")
    p.add_argument("--seed", type=int, default=S, help=f"default {D.seed}")
    p.add_argument("--threads", type=int, default=S, help="torch CPU threads (default: torch's)")
    p.add_argument("--model-kwargs", default=S, help='JSON config overrides, e.g. \'{"n_feats": 24}\'')
    p.add_argument("--init", default=S,
                   help="warm start from a checkpoint (same-shaped tensors, e.g. an x2 model for x4)")
    p.add_argument("--ema", type=float, default=S, help="EMA decay of the weights, e.g. 0.999: the average is "
                   "validated and saved as model.pt (default 0 = off)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default=S,
                   help=f"bf16: autocast (CPUs with avx512_bf16/amx_bf16, GPUs); fp16: CUDA only, loss-scaled; "
                        f"auto: bf16 where native, else fp32 (default {D.precision})")
    p.add_argument("--channels-last", action="store_true", default=S, help="NHWC memory format")
    p.add_argument("--teacher", default=S, help="distill from this model (.pt or bundled name, e.g. edge_base_x2)")
    p.add_argument("--teacher-weight", type=float, default=S, help=f"weight of the distillation term "
                   f"(default {D.teacher_weight})")
    p.add_argument("--distill", choices=["output", "feature"], default=S,
                   help="output: L1 to the teacher's SR output; feature: MSE to its body output (EdgeSR only)")
    p.add_argument("--workers", type=int, default=S,
                   help="data-loading processes (default 0: in the training process; same batches either way)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/last.pt with the run's saved settings; options given here override "
                        "them (logged, and recorded in OUT/config_changes.jsonl; config.json keeps the originals)")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in an --out that already holds a run (its last.pt, model.pt and best.pt are "
                        "removed first); without it (or --resume) such a folder is refused")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=S)


def explicit_settings(a: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields the user gave on the command line."""
    from edgesr.errors import ConfigError
    from edgesr.training import TrainConfig

    given = {k: v for k, v in vars(a).items() if k in TrainConfig.__dataclass_fields__}
    for k in ("data", "unpaired"):
        if k in given:
            given[k] = tuple(given[k])
    if "model_kwargs" in given:
        try:
            given["model_kwargs"] = json.loads(given["model_kwargs"])
        except json.JSONDecodeError as e:
            raise ConfigError(f"--model-kwargs is not JSON ({e}); write e.g. '{{\"n_feats\": 24}}'") from None
        if not isinstance(given["model_kwargs"], dict):
            raise ConfigError("--model-kwargs must be a JSON object, e.g. '{\"n_feats\": 24}'")
    return given


def run(a: argparse.Namespace) -> int:
    from edgesr.errors import ConfigError
    from edgesr.training import train

    if getattr(a, "scale", 2) < 2:
        raise ConfigError(f"--scale {a.scale}: the upscale factor must be 2 or more (e.g. --scale 2, 3 or 4)")
    path = train(resume=a.resume, overwrite=a.overwrite, overrides_from="the command line", **explicit_settings(a))
    print(path)
    return 0
