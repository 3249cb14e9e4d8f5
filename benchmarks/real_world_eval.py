"""Real-world evaluation: the held-out degradations of edgesr.data.degrade on Set14 HR.

For each protocol of ``edgesr.data.degrade.held_out_protocols()`` (and, as a reference, the clean
MATLAB-bicubic LR of the standard protocol), make the LR of every HR image (mod-cropped to the
scale), super-resolve it with bicubic and with each ``--models`` entry (through edgesr.Upscaler,
RGB), and score PSNR / SSIM on the BT.601 Y channel with a ``scale``-pixel shave, as
edgesr.evaluate does.

    python benchmarks/real_world_eval.py --models edge_tiny_x2 edge_nano_x2 [--limit 2]

Writes benchmarks/results/real_world.json (or --json) and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling module common, also under importlib

from common import shared  # noqa: E402  (the shared data root: $EDGESR_SHARED or ../shared)

UpscaleFn = Callable[[np.ndarray], np.ndarray]


def _load_images(data: Path, scale: int, limit: int | None) -> list[tuple[str, np.ndarray]]:
    from edgesr.data import list_images, modcrop, read_rgb
    from edgesr.errors import DataError
    from edgesr.metrics import ssim_min_size

    out = []
    for f in list_images(data)[:limit]:
        hr = modcrop(read_rgb(f), scale)
        if min(hr.shape[:2]) < ssim_min_size(scale):
            raise DataError(f"{f}: {hr.shape[1]}x{hr.shape[0]} is too small for SSIM at x{scale}; remove it")
        out.append((f.stem, hr))
    return out


def _protocols(names: list[str] | None) -> dict[str, tuple[str, Callable[[np.ndarray, int], np.ndarray]]]:
    from edgesr.data.degrade import held_out_protocols
    from edgesr.errors import ConfigError
    from edgesr.data.bicubic import imresize

    protos: dict[str, tuple[str, Callable[[np.ndarray, int], np.ndarray]]] = {
        "clean": ("reference: MATLAB bicubic only (the standard protocol)", lambda hr, s: imresize(hr, 1.0 / s))}
    protos.update({n: (p.description, p) for n, p in held_out_protocols().items()})
    if names:
        bad = [n for n in names if n not in protos]
        if bad:
            raise ConfigError(f"unknown protocol(s) {', '.join(bad)}; choose from {', '.join(protos)}")
        protos = {n: protos[n] for n in names}
    return protos


def _methods(models: list[str], scale: int) -> tuple[dict[str, UpscaleFn], list[Any]]:
    from edgesr import Upscaler
    from edgesr.data.bicubic import imresize

    fns: dict[str, UpscaleFn] = {"bicubic": lambda lr: imresize(lr, scale)}
    opened = []
    for spec in models:
        up = Upscaler(spec, color="rgb", scale=scale)
        opened.append(up)
        fns[Path(spec).name if os.sep in spec or "." in spec else spec] = up.run
    return fns, opened


def evaluate_real_world(images: list[tuple[str, np.ndarray]], scale: int, protos: dict[str, Any],
                        methods: dict[str, UpscaleFn]) -> dict[str, dict[str, Any]]:
    """{protocol: {method: {"psnr", "ssim", "images": {name: [psnr, ssim]}}}}."""
    from edgesr.errors import DataError
    from edgesr.metrics import psnr, ssim

    res: dict[str, dict[str, Any]] = {p: {m: {"images": {}} for m in methods} for p in protos}
    for pname, (_, proto) in protos.items():
        for name, hr in images:
            lr = proto(hr, scale)
            for mname, fn in methods.items():
                sr = fn(lr)
                if sr.shape != hr.shape:
                    raise DataError(f"{mname} on {name}: output {sr.shape} != HR {hr.shape}; is it an x{scale} model?")
                res[pname][mname]["images"][name] = [round(psnr(sr, hr, scale), 4), round(ssim(sr, hr, scale), 5)]
        for r in res[pname].values():
            vals = np.array(list(r["images"].values()))
            r["psnr"], r["ssim"] = round(float(vals[:, 0].mean()), 3), round(float(vals[:, 1].mean()), 4)
    return res


def markdown(res: dict[str, dict[str, Any]]) -> str:
    protos = list(res)
    methods = list(res[protos[0]])
    rows = ["| method | " + " | ".join(f"{p} PSNR / SSIM" for p in protos) + " |",
            "|---|" + "---|" * len(protos)]
    for m in methods:
        rows.append(f"| {m} | " + " | ".join(f"{res[p][m]['psnr']:.2f} / {res[p][m]['ssim']:.4f}" for p in protos)
                    + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None,
                    help="folder of HR images never trained on (default: the shared Set14)")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--models", nargs="*", default=None,
                    help="bundled names (edge_tiny_x2) or .pt/.onnx paths (default: the bundled models at --scale)")
    ap.add_argument("--protocols", nargs="*", default=None, help="subset of: clean and the held-out protocols")
    ap.add_argument("--limit", type=int, default=None, help="first N images only (smoke runs)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "real_world.json")
    a = ap.parse_args(argv)
    a.data = a.data or shared("data", "benchmark", "Set14")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from edgesr.fileio import atomic_write_bytes
    from edgesr.hub import bundled_models

    models = a.models if a.models is not None else [m for m in bundled_models() if m.endswith(f"_x{a.scale}")]
    t0 = time.perf_counter()
    images = _load_images(a.data, a.scale, a.limit)
    protos = _protocols(a.protocols)
    methods, opened = _methods(models, a.scale)
    try:
        res = evaluate_real_world(images, a.scale, protos, methods)
    finally:
        for up in opened:
            up.close()
    out = {"data": str(a.data), "scale": a.scale, "limit": a.limit, "images": [n for n, _ in images],
           "metric": f"PSNR (dB) / SSIM on BT.601 Y, shave {a.scale}", "models": models,
           "protocols": {n: d for n, (d, _) in protos.items()}, "results": res,
           "seconds": round(time.perf_counter() - t0, 1)}
    atomic_write_bytes(a.json, (json.dumps(out, indent=1) + "\n").encode())
    print(f"{a.data.name} x{a.scale}, {len(images)} images ({', '.join(out['images'])}), "
          f"PSNR (dB) / SSIM on Y, shave {a.scale}\n")
    print(markdown(res))
    print(f"\nwrote {a.json} in {out['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
