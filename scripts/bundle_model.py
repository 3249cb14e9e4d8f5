"""Copy a trained run into the package as a bundled model: primal-only .pt + verified ONNX.

    python scripts/bundle_model.py checkpoints/edge_tiny_x2_luma_scratch/model.pt edge_tiny_x2 \
        --selection "final step of the cosine schedule" --updates 100000 --minutes 79.7

The metadata records where the weights came from and why this checkpoint was chosen (issue 22):
``selection`` (the rule), ``updates`` (cumulative, warm starts included) and ``train_minutes``.

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
    p.add_argument("--selection", required=True,
                   help="which checkpoint and why (e.g. 'final step', 'best of N on bsds_val50'); never Set5/Set14")
    p.add_argument("--updates", type=int, required=True, help="cumulative optimiser updates, warm starts included")
    p.add_argument("--minutes", type=float, required=True, help="cumulative training minutes")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    model = edgesr.load_model(a.checkpoint)
    meta = dict(getattr(model, "meta", {}))
    meta.update(source=str(a.checkpoint), selection=a.selection, updates=a.updates, train_minutes=a.minutes)
    pt = save_model(model, WEIGHTS / f"{a.name}.pt", meta=meta, include_dual=False)
    onnx = export_onnx(model, WEIGHTS / f"{a.name}.onnx", overwrite=True)  # replacing the bundled file is the point
    print(pt, pt.stat().st_size, onnx, Path(onnx).stat().st_size)


if __name__ == "__main__":
    main()
