"""Regenerate every figure and number in docs/benchmarks.md (CPU run).

    PYTHONPATH=/path/to/opencv-contrib python benchmarks/run_bench.py [--peers DIR]

writes benchmarks/results/bench_cpu.json, docs/img/bench_fps.png, docs/img/bench_peak.png and
prints the Markdown table and the ratios that docs/benchmarks.md quotes. The OpenCV peers need
cv2.dnn_superres (opencv-contrib-python); without it their rows are reported as skipped.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling module common, also under importlib

from common import shared  # noqa: E402  (the shared data root: $EDGESR_SHARED or ../shared)


def main(argv: list[str] | None = None) -> int:
    from edgesr.bench.run import BenchConfig, run_bench, summarize

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peers", default=str(shared("peers", "opencv-superres", check=False)),
                   help="folder of the OpenCV dnn_superres .pb files (skipped when absent)")
    p.add_argument("--model", default=None, help="model (default: the bundled one)")
    p.add_argument("--max-frame-s", type=float, default=4.0, help="skip cells predicted slower than this")
    p.add_argument("--time-limit", type=float, default=240.0)
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "bench_cpu.json")
    p.add_argument("--img", type=Path, default=ROOT / "docs" / "img")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    peers = a.peers if Path(a.peers).is_dir() else None
    cfg = BenchConfig(model=a.model, peers=peers, device="cpu", max_frame_s=a.max_frame_s, time_limit_s=a.time_limit)
    res = run_bench(cfg, progress=lambda c: print(f"  {c.row:<30} {c.size:<6} {c.status} {c.fps or ''}", flush=True))
    res.to_json(a.json)
    a.img.mkdir(parents=True, exist_ok=True)
    res.plot(a.img / "bench_fps.png", a.img / "bench_peak.png")
    print(res.table(markdown=True))
    print()
    print(summarize(res))
    print(f"\npeak GFLOP/s {res.peak_gflops}; wall {res.wall_s:.0f} s; wrote {a.json} and {a.img}/bench_*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
