"""INT8 (Q/DQ, ONNX Runtime CPU) vs FP32: Set5 PSNR drop and speed per resolution, in one run.

    python benchmarks/int8_study.py --models runs/calib_x2/model.pt runs/calib_x4/model.pt \
        --calib /work/shared/data/train/BSDS200 --set5 /work/shared/data/benchmark/Set5 \
        --out benchmarks/results/int8_study.json

Calibration frames are the BSDS200 images used as LR inputs (never Set5: the test set stays
held out). Speed: single-thread ORT sessions (this CPU is shared), FP32 and INT8 interleaved,
best of ``--repeats`` runs per resolution (the least disturbed by other processes).
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("int8_study")


def load_any(path: str) -> Any:
    """A finished model.pt, or a training run's last.pt (a mid-training checkpoint)."""
    import torch

    from edgesr.models import build_model, load_model

    try:
        return load_model(path)
    except Exception:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        arch = ck["arch"]
        m = build_model(arch["family"], arch["config"], name=arch.get("name"))
        m.load_state_dict(ck["model"])
        log.info("%s: mid-training checkpoint (step %s)", path, ck.get("step"))
        return m.eval()


def ort_fn(path: Path) -> Any:
    from edgesr.calibration import frame_to_nchw, nchw_to_frame
    from edgesr.calibration.guard import ort_session

    sess = ort_session(path, threads=1)
    return lambda lr: nchw_to_frame(sess.run(None, {"input": frame_to_nchw(lr)})[0])


def bench(paths: dict[str, Path], hw: tuple[int, int], repeats: int) -> dict[str, dict[str, float]]:
    """Best-of-N per model, interleaved. ``cpu_ms`` is the calling thread's CPU time (ORT with one
    intra-op thread computes on the caller), robust to the other jobs on this shared machine;
    ``wall_ms`` is reported too but inflated by them."""
    from edgesr.calibration.guard import ort_session

    sessions = {k: ort_session(p, threads=1) for k, p in paths.items()}
    x = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
    cpu = {k: float("inf") for k in sessions}
    wall = dict(cpu)
    for s in sessions.values():
        s.run(None, {"input": x})  # warm-up
    for _ in range(repeats):
        for k, s in sessions.items():
            w, t = time.perf_counter(), time.thread_time()
            s.run(None, {"input": x})
            cpu[k] = min(cpu[k], time.thread_time() - t)
            wall[k] = min(wall[k], time.perf_counter() - w)
    return {k: {"cpu_ms": cpu[k] * 1000, "wall_ms": wall[k] * 1000} for k in sessions}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--calib", default="/work/shared/data/train/BSDS200")
    ap.add_argument("--set5", default="/work/shared/data/benchmark/Set5")
    ap.add_argument("--methods", nargs="+", default=["minmax", "entropy", "percentile"])
    ap.add_argument("--variants", nargs="+", default=["u8s8", "u8s8_iofloat", "s8s8"],
                    help="for the first method only: u8s8 | u8s8_iofloat (first conv + output branch in float) | s8s8")
    ap.add_argument("--max-frames", type=int, default=32)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--sizes", nargs="+", default=["180x320", "360x640", "540x960"], help="LR input HxW for speed")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default="benchmarks/results/int8_study.json")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from edgesr.calibration import load_calibration, quantize_onnx
    from edgesr.calibration.quantize import io_layers
    from edgesr.evaluate import evaluate
    from edgesr.export.onnx import export_onnx

    data = load_calibration(a.calib, crop=a.crop, max_frames=a.max_frames)
    results: dict[str, Any] = {"cpu": platform.processor() or platform.machine(), "calib": a.calib,
                               "calib_frames": len(data), "crop": a.crop, "models": []}
    import onnxruntime

    results["onnxruntime"] = onnxruntime.__version__
    with tempfile.TemporaryDirectory() as tmp:
        for mp in a.models:
            model = load_any(mp)
            s = int(model.scale)
            fp32 = export_onnx(model, Path(tmp) / f"x{s}_fp32.onnx")
            row: dict[str, Any] = {"model": mp, "scale": s, "fp32_set5": evaluate(ort_fn(fp32), a.set5, s).psnr,
                                   "int8": {}}
            paths = {"fp32": fp32}
            for method in a.methods:
                q = Path(tmp) / f"x{s}_{method}.onnx"
                rep = quantize_onnx(fp32, q, data, method)
                psnr = evaluate(ort_fn(q), a.set5, s).psnr
                row["int8"][method] = {"set5": psnr, "set5_drop_db": row["fp32_set5"] - psnr,
                                       "guard": rep.quality, "excluded": rep.excluded_nodes,
                                       "auto_excluded": rep.auto_excluded, "reduce_range": rep.reduce_range}
                paths[method] = q
                log.info("x%d %s: Set5 %.3f dB (FP32 %.3f, drop %.3f)", s, method, psnr, row["fp32_set5"],
                         row["fp32_set5"] - psnr)
            for variant in a.variants:
                if variant == "u8s8":
                    continue  # the method rows above
                kw: dict[str, Any] = {"activation_type": "int8"} if variant == "s8s8" else {
                    "nodes_to_exclude": io_layers(fp32)}
                q = Path(tmp) / f"x{s}_{variant}.onnx"
                rep = quantize_onnx(fp32, q, data, a.methods[0], **kw)
                psnr = evaluate(ort_fn(q), a.set5, s).psnr
                row["int8"][f"{a.methods[0]}_{variant}"] = {
                    "set5": psnr, "set5_drop_db": row["fp32_set5"] - psnr, "guard": rep.quality,
                    "excluded": rep.excluded_nodes, "auto_excluded": rep.auto_excluded,
                    "reduce_range": rep.reduce_range}
                paths[f"{a.methods[0]}_{variant}"] = q
            row["speed_ms"] = {}
            for size in a.sizes:
                h, w = (int(v) for v in size.split("x"))
                row["speed_ms"][size] = bench(paths, (h, w), a.repeats)
                log.info("x%d %s: %s", s, size, row["speed_ms"][size])
            results["models"].append(row)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=2))
    for row in results["models"]:
        print(f"\nx{row['scale']} {row['model']}: FP32 Set5 {row['fp32_set5']:.3f} dB")
        for m, r in row["int8"].items():
            print(f"  {m:<11} Set5 {r['set5']:.3f} dB  drop {r['set5_drop_db']:+.3f}  guard drop "
                  f"{r['guard']['drop_db']:+.3f}  excluded {r['auto_excluded']}")
        for size, t in row["speed_ms"].items():
            print(f"  {size:>8}: " + "  ".join(f"{k} {v['cpu_ms']:.1f} ms ({t['fp32']['cpu_ms'] / v['cpu_ms']:.2f}x)"
                                              for k, v in t.items()))


if __name__ == "__main__":
    main()
