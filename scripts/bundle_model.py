"""Copy a trained run into the package as a bundled model: primal-only .pt + verified ONNX.

    python scripts/bundle_model.py runs/bundled/edge_tiny_x2/best.pt edge_tiny_x2

The .pt keeps the architecture (edgesr.load_model needs nothing else); the .onnx is exported with
dynamic H/W and checked against PyTorch by edgesr.export (parity on a real photo).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import edgesr
from edgesr.export import export_onnx
from edgesr.hub import WEIGHTS
from edgesr.models import save_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("name", help="edge_{tiny,base}_x{2,3,4}")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    model = edgesr.load_model(a.checkpoint)
    meta = dict(getattr(model, "meta", {}))
    meta["source"] = str(a.checkpoint)
    pt = save_model(model, WEIGHTS / f"{a.name}.pt", meta=meta, include_dual=False)
    onnx = export_onnx(model, WEIGHTS / f"{a.name}.onnx")
    print(pt, pt.stat().st_size, onnx, Path(onnx).stat().st_size)


if __name__ == "__main__":
    main()
