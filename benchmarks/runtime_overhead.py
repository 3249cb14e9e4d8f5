"""Per-frame overhead of ``Upscaler.run`` over a bare ``session.run`` on the same ONNX Runtime session.

The Upscaler side does everything a user gets (uint8 BGR frame in, checks, BGR->RGB float NCHW,
IOBinding run, clip/round, uint8 BGR frame out); the bare side only ``session.run`` on a
ready-made float NCHW tensor. Both run on the *same* InferenceSession, alternating call by call
(so CPU frequency / neighbours affect both equally); the medians are compared.

    python benchmarks/runtime_overhead.py --iters 60            # edge_tiny x2, 640x360
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="edge_tiny", help="preset name (random weights: speed only)")
    ap.add_argument("--onnx", help="an existing .onnx instead of exporting --model")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--size", default="640x360", help="WxH of the input frame")
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    args = ap.parse_args()

    import cv2
    from skimage import data

    import edgesr
    from edgesr.export import export_onnx

    w, h = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        onnx = Path(args.onnx) if args.onnx else export_onnx(edgesr.create_model(args.model, scale=args.scale),
                                                             Path(tmp) / "m.onnx")
        frame = np.ascontiguousarray(cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_AREA)[:, :, ::-1])
        up = edgesr.Upscaler(onnx, threads=args.threads)
        sess = up.backend.session
        name = sess.get_inputs()[0].name
        x = np.ascontiguousarray(frame[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255
        out = np.empty((h * up.scale, w * up.scale, 3), np.uint8)

        def bare() -> None:
            sess.run(None, {name: x})

        def runtime() -> None:
            up.run(frame)

        def runtime_out() -> None:
            up.run(frame, out=out)

        fns = {"bare session.run": bare, "Upscaler.run": runtime, "Upscaler.run(out=)": runtime_out}
        times: dict[str, list[float]] = {k: [] for k in fns}
        for i in range(args.warmup + args.iters):
            order = list(fns) if i % 2 == 0 else list(reversed(fns))  # alternate who goes first
            for k in order:
                t0 = time.perf_counter()
                fns[k]()
                dt = time.perf_counter() - t0
                if i >= args.warmup:
                    times[k].append(dt)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        base = med["bare session.run"]
        result = {
            "model": str(onnx.name if args.onnx else args.model), "scale": up.scale, "input": f"{w}x{h}",
            "iters": args.iters, "median_ms": {k: round(v, 3) for k, v in med.items()},
            "overhead_pct": {k: round(100 * (v - base) / base, 2) for k, v in med.items() if k != "bare session.run"},
            "info": up.info(),
        }
        up.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
