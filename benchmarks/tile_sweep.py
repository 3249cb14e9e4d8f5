"""Wall time and peak RSS of one large frame through ``Upscaler.run`` against the tile size (issue 25).

Each point runs in a fresh child process; its peak RSS is that child's own ``ru_maxrss`` (read with
``os.wait4``, so one child's peak never leaks into the next), its time the wall time of one
``up.run(frame)`` after the model is loaded and warmed up on a 64x64 frame (the input frame, random
uint8 BGR, is made before that). ``default`` is what users get without options (``tile=None``,
``max_pixels=None``: :func:`edgesr.tiling.default_tile` within the memory budget of ``edgesr/budget.py``);
a number is ``Upscaler(model, tile=N)`` (``--tile N``). ONNX Runtime CPU backend, ORT's default threads.

A run is appended to the record (``--out``) under ``--label`` with its own provenance (date, git commit,
a hash of the tiling code it ran, machine, command line, every knob), so a sweep of the old code and a
re-measure of the new default live side by side in one file.

    python benchmarks/tile_sweep.py --label before                       # the plan of issue 25 (~30 min)
    python benchmarks/tile_sweep.py --label after --tiles default,1024   # the new default vs --tile 1024
    python benchmarks/tile_sweep.py --plot docs/img/tile_sweep.png       # plot the record, run nothing
    python benchmarks/tile_sweep.py --models edge_tiny_x2 --sizes 2000 --tiles 512,default --out /tmp/t.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "benchmarks" / "results" / "tile_sweep.json"
TILES = "256,512,768,1024,1536,2048,default"
#: issue 25's plan: CPU time is scarce, so the tiny default at four sizes and the other classes at two
PLAN = {"edge_tiny_x2": (2000, 4000, 6000, 8000), "edge_nano_x2": (2000, 4000), "edge_base_x2": (2000, 4000)}
CODE = ("edgesr/tiling.py", "edgesr/budget.py", "edgesr/upscaler.py")
NOTE = ("2-core machine shared during the run: the other core ran a long niced training job (and another "
        "engineer's tests at times), so absolute times are noisy; compare points of one run as ratios.")


def child(model: str, size: int, tile: str) -> None:
    import numpy as np

    import edgesr

    frame = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    up = edgesr.Upscaler(model, tile=None if tile == "default" else int(tile))
    up.run(frame[:64, :64])  # warm-up: session and arenas exist before the frame is timed
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    up.run(frame)
    seconds = time.perf_counter() - t0
    plan = up._plans.get((1, size, size, 3, frame.dtype))
    tiles = plan.tiles if plan is not None else None
    print(json.dumps({"tiles": len(tiles) if tiles is not None else 0,
                      "tile_hw": [tiles.tile_h, tiles.tile_w] if tiles is not None else None,
                      "max_pixels": up.max_pixels, "budget": up.budget, "seconds": round(seconds, 3),
                      "rss_after_warmup_mb": round(base / 1024)}))


def measure(model: str, size: int, tile: str) -> dict[str, Any]:
    """One point in a fresh child: its JSON line plus its own peak RSS and CPU times from ``os.wait4``."""
    import tempfile

    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen([sys.executable, __file__, "--child", model, str(size), tile],
                             stdout=subprocess.PIPE, stderr=err, text=True)
        assert p.stdout is not None
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)  # reaps the child: its rusage alone, not the max over children
        p.returncode = rc = os.waitstatus_to_exitcode(status)
        p.stdout.close()
        err.seek(0)
        last_err = (err.read().strip().splitlines() or [""])[-1]
    row: dict[str, Any] = {"model": model, "size": size, "tile": tile}
    if rc != 0:
        row["error"] = f"rc {rc}: {last_err}"
        return row
    row.update(json.loads(out.strip().splitlines()[-1]))
    row.update(peak_rss_mb=round(ru.ru_maxrss / 1024), user_s=round(ru.ru_utime, 2), sys_s=round(ru.ru_stime, 2),
               child_wall_s=round(time.perf_counter() - t0, 2))
    return row


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(argv: list[str], knobs: dict[str, Any]) -> dict[str, Any]:
    import onnxruntime  # noqa: F401  (so describe_machine reports its version)

    from edgesr.machine import describe_machine

    code = hashlib.sha256(b"".join((REPO / f).read_bytes() for f in CODE)).hexdigest()[:12]
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git_commit": _git("rev-parse", "HEAD"),
            "code_sha256_12": code, "code_files": list(CODE),
            "code_uncommitted": bool(_git("status", "--porcelain", "--", *CODE)),
            "machine": describe_machine(threads=None), "command": " ".join([sys.executable, *argv]),
            "knobs": knobs, "note": NOTE}


def plot(record: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return False
    before = next((r for r in record["runs"] if r["label"] == "before"), record["runs"][0])
    after = next((r for r in record["runs"] if r["label"] == "after"), None)
    cases = sorted({(r["model"], r["size"]) for r in before["rows"] if "error" not in r})
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 4.8))
    for k, (model, size) in enumerate(cases):
        pts = sorted((r["tile_hw"][0] if r["tile_hw"] else size, r["seconds"], r["peak_rss_mb"], r["tile"])
                     for r in before["rows"] if (r["model"], r["size"]) == (model, size) and "error" not in r
                     and r["tile"] != "default")
        base = next((r["seconds"] for r in before["rows"] if (r["model"], r["size"], r["tile"]) == (model, size, "1024")
                     and "error" not in r), None)
        if not pts or not base:
            continue
        c = f"C{k}"
        lab = f"{model.replace('edge_', '').replace('_x2', '')} {size}²"
        ax_t.plot([p[0] for p in pts], [p[1] / base for p in pts], "o-", color=c, label=lab, ms=3)
        ax_m.plot([p[0] for p in pts], [p[2] / 1024 for p in pts], "o-", color=c, label=lab, ms=3)
        for run, marker in ((before, "x"), (after, "*")):
            if run is None:
                continue
            d = next((r for r in run["rows"] if (r["model"], r["size"], r["tile"]) == (model, size, "default")
                      and "error" not in r), None)
            ref = next((r for r in run["rows"] if (r["model"], r["size"], r["tile"]) == (model, size, "1024")
                        and "error" not in r), None)
            if d is None or ref is None:
                continue
            x = d["tile_hw"][0] if d["tile_hw"] else size
            ax_t.plot([x], [d["seconds"] / ref["seconds"]], marker, color=c, ms=11)
            ax_m.plot([x], [d["peak_rss_mb"] / 1024], marker, color=c, ms=11)
    for ax in (ax_t, ax_m):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("tile side (input pixels; untiled: the frame side)")
        ax.grid(alpha=0.3)
    ax_t.set_ylabel("wall time / time at --tile 1024 (same run)")
    ax_m.set_ylabel("peak RSS (GB)")
    ax_t.set_title("time vs tile size (x: old default, *: new default)")
    ax_m.set_title("peak RSS vs tile size")
    ax_t.legend(fontsize=8)
    fig.suptitle("Upscaler.run, ONNX Runtime CPU, bundled x2 models (benchmarks/results/tile_sweep.json)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="before", help="name of this run in the record (before / after)")
    ap.add_argument("--models", default=",".join(PLAN), help="bundled model names (sizes from the plan)")
    ap.add_argument("--sizes", default=None, help="square frame sides for every model (default: issue 25's plan)")
    ap.add_argument("--tiles", default=TILES, help="tile sides and/or 'default'")
    ap.add_argument("--out", type=Path, default=RECORD, help="JSON record (a run is appended; same label replaced)")
    ap.add_argument("--plot", type=Path, default=None, help="plot the record here and exit")
    ap.add_argument("--child", nargs=3, metavar=("MODEL", "SIZE", "TILE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]), a.child[2])
        return 0
    record: dict[str, Any] = json.loads(a.out.read_text()) if a.out.exists() else {"runs": []}
    if a.plot:
        return 0 if plot(record, a.plot) else 1
    sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else None
    tiles = a.tiles.split(",")
    plan = {m: tuple(sizes) if sizes else PLAN.get(m, (2000, 4000)) for m in a.models.split(",")}
    knobs = {"plan": {m: list(s) for m, s in plan.items()}, "tiles": tiles, "tile_overlap": 16, "backend": "onnxruntime",
             "providers": ["CPUExecutionProvider"], "threads": "ORT default", "frame": "random uint8 BGR, seed 0",
             "warmup": "one 64x64 frame", "repeats": 1, "timed": "one Upscaler.run(frame), wall clock",
             "peak_rss": "child's ru_maxrss from os.wait4 (whole process: model, input frame, output, buffers)"}
    run = {"label": a.label, **provenance(sys.argv, knobs), "rows": []}
    for model, szs in plan.items():
        for size in szs:
            for tile in tiles:
                row = measure(model, size, tile)
                run["rows"].append(row)
                if "error" in row:
                    print(f"{model} {size} tile {tile}: failed {row['error']}", flush=True)
                    continue
                print(f"{model} {size}x{size} tile {tile:>7}: {row['tiles']:>4} tiles {str(row['tile_hw']):>12} "
                      f"{row['seconds']:>8.2f} s  peak {row['peak_rss_mb']:>6} MB  (user {row['user_s']} s, "
                      f"sys {row['sys_s']} s)", flush=True)
                record["runs"] = [r for r in record["runs"] if r["label"] != a.label] + [run]
                a.out.parent.mkdir(parents=True, exist_ok=True)
                a.out.write_text(json.dumps(record, indent=1) + "\n")  # after every point: a crash keeps the rest
    run["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    a.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
