"""edgesr models"""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", type=int, default=None, help="show sizes at this scale")


def run(a: argparse.Namespace) -> int:
    from edgesr.models import count_flops, count_params, create_model, list_models

    print(f"{'model':<12}{'scale':>6}{'params':>12}{'GFLOPs@640x360':>16}")
    for name in list_models():
        scales = [a.scale] if a.scale else ([2, 3, 4] if name.startswith("edge") else [4, 8])
        for s in scales:
            try:
                m = create_model(name, scale=s)
            except Exception:
                continue
            flops = f"{count_flops(m) / 1e9:.2f}" if name.startswith("edge") else "-"
            print(f"{name:<12}{s:>6}{count_params(m):>12,}{flops:>16}")
    return 0
