"""edgesr eval"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (.pt, .onnx, .engine), a bundled name (edge_tiny_x2) or 'bicubic'")
    p.add_argument("--data", required=True, nargs="+", help="benchmark folder(s) of HR images (e.g. Set5 Set14)")
    p.add_argument("--scale", type=int, help="upscaling factor (default: the model's)")
    p.add_argument("--json", help="write the full report(s) as JSON here (a missing folder is created)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--per-image", action="store_true", help="print the per-image table")


def run(a: argparse.Namespace) -> int:
    from edgesr.errors import ConfigError
    from edgesr.overwrite import check_output

    if a.scale is not None and a.scale < 2:
        raise ConfigError(f"--scale {a.scale}: the upscale factor must be 2 or more (e.g. --scale 2, 3 or 4)")
    if a.json:  # checked before the (long) evaluation; a missing folder is created when the report is written
        check_output(a.json, "json", overwrite=a.overwrite, flag="--json")
    from edgesr.evaluation import bicubic_fn, evaluate

    if a.model == "bicubic":
        if not a.scale:
            raise ConfigError("bicubic has no scale of its own; add --scale 2 (or 3, 4)")
        target, name, scale = bicubic_fn(a.scale), "bicubic", a.scale
    elif a.model.endswith(".pt"):
        from edgesr.models import load_model

        target = load_model(a.model)
        name, scale = Path(a.model).name, a.scale or target.scale
    else:
        from edgesr.upscaler import Upscaler

        up = Upscaler(a.model, color="rgb")
        target, name, scale = up.run, Path(a.model).name, a.scale or up.scale
    reports = []
    for d in a.data:
        r = evaluate(target, d, scale=scale, name=name)
        reports.append(r.to_dict())
        print(f"== {name} on {Path(d).name} x{scale}")
        if a.per_image:
            print(r.table())
        print(f"{name}: PSNR {r.psnr:.2f} dB  SSIM {r.ssim:.4f}   bicubic: {r.bicubic_psnr:.2f} dB  {r.bicubic_ssim:.4f}"
              f"   ({r.psnr - r.bicubic_psnr:+.2f} dB)")
    if a.json:
        from edgesr.fileio import atomic_write_text

        atomic_write_text(a.json, json.dumps(reports if len(reports) > 1 else reports[0], indent=2))
    return 0
