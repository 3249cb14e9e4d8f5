"""Peak memory and time of one large frame through ``Upscaler.run``: the default budget vs untiled vs tile=1024.

Each case runs in its own child process, so its peak RSS (``ru_maxrss``) is its own; ``delta`` is the
peak minus the RSS after the model is loaded and warmed up (what the frame itself costs; the input
frame is allocated before that point). ``default`` is what users get without options: a budget of
25% of the available RAM (``edgesr/budget.py``), above which frames are tiled.

    python benchmarks/large_frame_memory.py                     # 4000x4000, bundled edge_tiny x2
    python benchmarks/large_frame_memory.py --big               # also 8000x8000 (minutes, ~10+ GB untiled)
    python benchmarks/large_frame_memory.py --model edge_nano_x2 --size 3000 --cases default,untiled
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CASES: dict[str, dict[str, Any]] = {"default": {}, "untiled": {"max_pixels": 0}, "tile1024": {"tile": 1024}}


def child(model: str, size: int, case: str) -> None:
    import numpy as np

    import edgesr

    frame = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    up = edgesr.Upscaler(model, **CASES[case])
    up.run(frame[:64, :64])  # warm-up: sessions and arenas exist before the baseline
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    up.run(frame)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    plan = up._plans.get((1, size, size, 3, frame.dtype))
    print(json.dumps({"case": case, "size": size, "model": model, "max_pixels": up.max_pixels,
                      "tiles": len(plan.tiles) if plan is not None and plan.tiles is not None else 0,
                      "peak_rss_mb": round(peak / 1024), "delta_mb": round((peak - base) / 1024),
                      "seconds": round(seconds, 2)}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="edge_tiny_x2", help="bundled model name or model file")
    ap.add_argument("--size", type=int, default=4000, help="square frame side, pixels")
    ap.add_argument("--big", action="store_true", help="also run 8000x8000")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    ap.add_argument("--child", nargs=3, metavar=("MODEL", "SIZE", "CASE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]), a.child[2])
        return 0
    rows = []
    for size in [a.size] + ([8000] if a.big and a.size != 8000 else []):
        for case in a.cases.split(","):
            r = subprocess.run([sys.executable, __file__, "--child", a.model, str(size), case],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{case} {size}: failed (rc {r.returncode}): {r.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(r.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{size}x{size} {case:<9} tiles {row['tiles']:>3}  peak RSS {row['peak_rss_mb']:>6} MB "
                  f"(frame +{row['delta_mb']} MB)  {row['seconds']:>7.2f} s   max_pixels {row['max_pixels']}")
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
