"""edgesr models: the presets (sizes) and the bundled weights (with where each file is).

Listing imports neither torch nor ONNX Runtime: the presets' parameter and FLOP counts come from
``edgesr/weights/presets.json`` (a test checks it against the code: ``write_preset_sizes()`` regenerates
it), the bundled models from the weights folder and its ``card.json``. Only ``--scale`` at a scale the
table lacks builds the models (torch).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SIZES_FILE = "presets.json"
FLOPS_HW = (360, 640)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", type=int, default=None, help="show sizes at this scale")


def run(a: argparse.Namespace) -> int:
    if a.scale is not None and a.scale < 2:
        from edgesr.errors import ConfigError

        raise ConfigError(f"--scale {a.scale}: the upscale factor must be 2 or more (e.g. --scale 2, 3 or 4)")
    print("\n".join(preset_rows(a.scale)))
    print()
    print("\n".join(bundled_rows(a.scale)))
    return 0


Row = tuple[str, int, int, "int | None"]  # preset, scale, params, FLOPs at FLOPS_HW (None: not counted)


def _sizes_path() -> Path:
    from edgesr.hub import WEIGHTS

    return WEIGHTS / SIZES_FILE


def preset_sizes() -> list[Row]:
    """The shipped table of preset sizes (no torch): ``[(preset, scale, params, flops | None), ...]``."""
    p = _sizes_path()
    if not p.is_file():
        return []
    return [(r["preset"], int(r["scale"]), int(r["params"]), r["flops"]) for r in json.loads(p.read_text())["rows"]]


def live_preset_sizes(scales: list[int] | None = None, fast: bool = False) -> list[Row]:
    """The same table computed from the code (imports torch and builds every preset). ``fast`` counts FLOPs
    at a tenth of the height and width and multiplies by 100 (the convolutions' cost is per output pixel)."""
    from edgesr.errors import ConfigError
    from edgesr.models import count_flops, count_params, create_model, list_models

    h, w = FLOPS_HW
    rows: list[Row] = []
    for name in list_models():
        for s in scales or ([2, 3, 4] if name.startswith("edge") else [4, 8]):
            try:
                m = create_model(name, scale=s)
            except (ConfigError, ValueError):  # a scale this family does not build
                continue
            flops = None
            if name.startswith("edge"):
                flops = count_flops(m, (h // 10, w // 10)) * 100 if fast else count_flops(m, (h, w))
            rows.append((name, s, count_params(m), flops))
    return rows


def write_preset_sizes() -> Path:
    """Regenerate ``presets.json`` from the code (after a preset changes)."""
    p = _sizes_path()
    rows = [{"preset": n, "scale": s, "params": pa, "flops": f} for n, s, pa, f in live_preset_sizes()]
    lines = ",\n  ".join(json.dumps(r) for r in rows)
    p.write_text(f'{{"flops_at_hw": {json.dumps(list(FLOPS_HW))},\n "rows": [\n  {lines}\n ]}}\n')
    return p


def preset_rows(scale: int | None) -> list[str]:
    """Presets for ``edgesr train --model`` / ``edgesr.create_model``."""
    sizes = preset_sizes()
    if scale is not None:
        sizes = [r for r in sizes if r[1] == scale]
    if not sizes:  # a scale the table lacks (or no table): build the models (imports torch)
        sizes = live_preset_sizes([scale] if scale else None)
    rows = [f"{'preset':<12}{'scale':>6}{'params':>12}{'GFLOPs@640x360':>16}"]
    for name, s, params, flops in sizes:
        rows.append(f"{name:<12}{s:>6}{params:>12,}{_num(flops / 1e9 if flops else None, '.2f'):>16}")
    return rows


def bundled_rows(scale: int | None) -> list[str]:
    """Bundled weights: names for ``edgesr upscale --model`` / ``edgesr.Upscaler(name)``, no download, and
    where each file is."""
    from edgesr.hub import WEIGHTS, bundled_models, model_card

    card = model_card()
    names = [n for n in bundled_models() if scale is None or f"_x{scale}" in n]
    if not names:
        return [f"bundled weights: none{f' at x{scale}' if scale else ''} in {WEIGHTS}"]
    w = max(14, 2 + max(map(len, names)))  # edge_tiny_x2_real is longer than the others
    rows = [f"bundled weights in {WEIGHTS} (use by name, e.g. edgesr upscale IN -o OUT --model {names[0]}):",
            f"{'name':<{w}}{'params':>10}{'Set5 PSNR':>11}{'bicubic':>9}{'fps@720p':>10}  files"]
    for n in names:
        files = [str(WEIGHTS / f"{n}.{ext}") for ext in ("pt", "onnx") if (WEIGHTS / f"{n}.{ext}").is_file()]
        c = card.get(n)
        info: dict[str, Any] = c if isinstance(c, dict) else {}
        rows.append(f"{n:<{w}}{_num(info.get('params'), ',d'):>10}{_num(info.get('Set5_psnr'), '.2f'):>11}"
                    f"{_num(info.get('bicubic_Set5'), '.2f'):>9}{_num(info.get('fps_720p_out'), '.1f'):>10}  "
                    + " ".join(files))
    return rows


def _num(v: object, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, (int, float)) else "-"
