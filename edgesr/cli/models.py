"""edgesr models"""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", type=int, default=None, help="show sizes at this scale")


def run(a: argparse.Namespace) -> int:
    print("\n".join(preset_rows(a.scale)))
    print()
    print("\n".join(bundled_rows(a.scale)))
    return 0


def preset_rows(scale: int | None) -> list[str]:
    """Presets for ``edgesr train --model`` / ``edgesr.create_model``."""
    from edgesr.errors import ConfigError
    from edgesr.models import count_flops, count_params, create_model, list_models

    rows = [f"{'preset':<12}{'scale':>6}{'params':>12}{'GFLOPs@640x360':>16}"]
    for name in list_models():
        scales = [scale] if scale else ([2, 3, 4] if name.startswith("edge") else [4, 8])
        for s in scales:
            try:
                m = create_model(name, scale=s)
            except (ConfigError, ValueError):  # a scale this family does not build
                continue
            flops = f"{count_flops(m) / 1e9:.2f}" if name.startswith("edge") else "-"
            rows.append(f"{name:<12}{s:>6}{count_params(m):>12,}{flops:>16}")
    return rows


def bundled_rows(scale: int | None) -> list[str]:
    """Bundled weights: names for ``edgesr upscale --model`` / ``edgesr.Upscaler(name)``, no download."""
    from edgesr.hub import WEIGHTS, bundled_models, model_card

    card = model_card()
    names = [n for n in bundled_models() if scale is None or f"_x{scale}" in n]
    if not names:
        return [f"bundled weights: none{f' at x{scale}' if scale else ''} in {WEIGHTS}"]
    w = max(14, 2 + max(map(len, names)))  # edge_tiny_x2_real is longer than the others
    rows = [f"bundled weights (use by name, e.g. edgesr upscale IN -o OUT --model {names[0]}):",
            f"{'name':<{w}}{'files':<10}{'params':>10}{'Set5 PSNR':>11}{'bicubic':>9}{'fps@720p':>10}"]
    for n in names:
        files = " ".join(ext for ext in ("pt", "onnx") if (WEIGHTS / f"{n}.{ext}").is_file())
        c = card.get(n)
        info = c if isinstance(c, dict) else {}
        rows.append(f"{n:<{w}}{files:<10}{_num(info.get('params'), ',d'):>10}{_num(info.get('Set5_psnr'), '.2f'):>11}"
                    f"{_num(info.get('bicubic_Set5'), '.2f'):>9}{_num(info.get('fps_720p_out'), '.1f'):>10}")
    return rows


def _num(v: object, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, (int, float)) else "-"
