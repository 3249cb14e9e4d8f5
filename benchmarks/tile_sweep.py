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


def _hw(size: str) -> tuple[int, int]:
    """'4000' -> (4000, 4000); '1920x1080' (W x H) -> (1080, 1920)."""
    w, _, h = size.partition("x")
    return (int(h or w), int(w))


def _options(tile: str) -> dict[str, Any]:
    if tile == "default":
        return {}
    if tile == "untiled":
        return {"max_pixels": 0}
    return {"tile": int(tile)}


def child(model: str, size: str, tile: str, frames: int = 1) -> None:
    import numpy as np

    import edgesr

    h, w = _hw(size)
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    up = edgesr.Upscaler(model, **_options(tile))
    up.run(frame[:64, :64])  # warm-up: session and arenas exist before the frame is timed
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(frames):  # frames > 1: a video of same-size frames (the first one pays the allocations)
        t0 = time.perf_counter()
        up.run(frame)
        times.append(time.perf_counter() - t0)
    plan = up._plans.get((1, h, w, 3, frame.dtype))
    tiles = plan.tiles if plan is not None else None
    row = {"tiles": len(tiles) if tiles is not None else 0,
           "tile_hw": [tiles.tile_h, tiles.tile_w] if tiles is not None else None,
           "max_pixels": up.max_pixels, "budget": up.budget, "seconds": round(times[0], 3),
           "rss_after_warmup_mb": round(base / 1024)}
    if frames > 1:
        later = sorted(times[1:])
        row.update(frames=frames, later_median_s=round(later[len(later) // 2], 3),
                   later_s=[round(t, 3) for t in times[1:]])
    print(json.dumps(row))


def measure(model: str, size: str, tile: str, frames: int = 1) -> dict[str, Any]:
    """One point in a fresh child: its JSON line plus its own peak RSS and CPU times from ``os.wait4``."""
    import tempfile

    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        load0 = os.getloadavg()[0]
        p = subprocess.Popen([sys.executable, __file__, "--child", model, size, tile, str(frames)],
                             stdout=subprocess.PIPE, stderr=err, text=True)
        assert p.stdout is not None
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)  # reaps the child: its rusage alone, not the max over children
        p.returncode = rc = os.waitstatus_to_exitcode(status)
        p.stdout.close()
        err.seek(0)
        last_err = (err.read().strip().splitlines() or [""])[-1]
    row: dict[str, Any] = {"model": model, "size": int(size) if size.isdigit() else size, "tile": tile,
                           "loadavg_1m_before": round(load0, 2), "loadavg_1m_after": round(os.getloadavg()[0], 2)}
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


def provenance(argv: list[str], knobs: dict[str, Any], note: str = NOTE) -> dict[str, Any]:
    import onnxruntime  # noqa: F401  (so describe_machine reports its version)

    from edgesr.machine import describe_machine

    code = hashlib.sha256(b"".join((REPO / f).read_bytes() for f in CODE)).hexdigest()[:12]
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git_commit": _git("rev-parse", "HEAD"),
            "code_sha256_12": code, "code_files": list(CODE),
            "code_uncommitted": bool(_git("status", "--porcelain", "--", *CODE)),
            "machine": describe_machine(threads=None), "command": " ".join([sys.executable, *argv]),
            "knobs": knobs, "note": note}


def plot(record: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return False
    before = next((r for r in record["runs"] if r["label"] == "before"), record["runs"][0])
    afters = [r for r in record["runs"] if r["label"].startswith("after")]
    ok = [r for r in before["rows"] if "error" not in r and isinstance(r["size"], int)]
    cases = sorted({(r["model"], r["size"]) for r in ok})
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 4.8))

    def pair(run: dict[str, Any], model: str, size: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(default, --tile 1024) rows of one round, for every round of ``run``."""
        rows = [r for r in run["rows"] if (r["model"], r["size"]) == (model, size) and "error" not in r]
        out = []
        for rnd in sorted({r.get("round", 0) for r in rows}):
            d = next((r for r in rows if r["tile"] == "default" and r.get("round", 0) == rnd), None)
            t = next((r for r in rows if r["tile"] == "1024" and r.get("round", 0) == rnd), None)
            if d and t:
                out.append((d, t))
        return out

    for k, (model, size) in enumerate(cases):
        pts = sorted((r["tile_hw"][0] if r["tile_hw"] else size, r["seconds"], r["peak_rss_mb"])
                     for r in ok if (r["model"], r["size"]) == (model, size) and r["tile"] != "default")
        base = next((r["seconds"] for r in ok if (r["model"], r["size"], r["tile"]) == (model, size, "1024")), None)
        if not pts or not base:
            continue
        c = f"C{k}"
        lab = f"{model.replace('edge_', '').replace('_x2', '')} {size}²"
        ax_t.plot([p[0] for p in pts], [p[1] / base for p in pts], "o-", color=c, label=lab, ms=3)
        ax_m.plot([p[0] for p in pts], [p[2] / 1024 for p in pts], "o-", color=c, label=lab, ms=3)
        for run, marker, ms in [(before, "x", 11)] + [(r, "*", 9) for r in afters]:
            for d, t in pair(run, model, size):
                x = d["tile_hw"][0] if d["tile_hw"] else size
                ax_t.plot([x], [d["seconds"] / t["seconds"]], marker, color=c, ms=ms)
                ax_m.plot([x], [d["peak_rss_mb"] / 1024], marker, color=c, ms=ms)
    ticks = [256, 512, 768, 1024, 1536, 2048, 3008]
    for ax in (ax_t, ax_m):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("tile side (input pixels; untiled: the frame side)")
        ax.grid(alpha=0.3)
    ax_t.set_ylabel("wall time / time at --tile 1024 (same run, same round)")
    ax_m.set_ylabel("peak RSS (GB)")
    ax_t.set_title("time vs tile size (x: old default, *: new default, each re-run)")
    ax_m.set_title("peak RSS vs tile size")
    ax_t.legend(fontsize=8)
    fig.suptitle("Upscaler.run, ONNX Runtime CPU, bundled x2 models (benchmarks/results/tile_sweep.json)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot: {path}")
    return True


def _print(row: dict[str, Any]) -> None:
    what = f"{row['model']} {row['size']} tile {row['tile']:>7}"
    if "error" in row:
        print(f"{what}: failed {row['error']}", flush=True)
        return
    later = f", later frames {row['later_median_s']:.2f} s" if "later_median_s" in row else ""
    print(f"{what}: {row['tiles']:>4} tiles {str(row['tile_hw']):>12} {row['seconds']:>8.2f} s{later}  peak "
          f"{row['peak_rss_mb']:>6} MB  (user {row['user_s']} s, sys {row['sys_s']} s, load {row['loadavg_1m_before']})",
          flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="before", help="name of this run in the record (before / after)")
    ap.add_argument("--models", default=",".join(PLAN), help="bundled model names (sizes from the plan)")
    ap.add_argument("--sizes", default=None, help="square frame sides (or WxH) for every model (default: issue 25's "
                                                  "plan)")
    ap.add_argument("--tiles", default=TILES, help="tile sides and/or 'default', 'untiled' (max_pixels=0)")
    ap.add_argument("--frames", type=int, default=1, help="frames per point (> 1: a video; later frames' median too)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the whole sweep, tiles interleaved within a round and their order reversed every other round "
                         "(the first child after another size pays more page faults: sys time)")
    ap.add_argument("--out", type=Path, default=RECORD, help="JSON record (a run is appended; same label replaced)")
    ap.add_argument("--plot", type=Path, default=None, help="plot the record here and exit")
    ap.add_argument("--note", default=NOTE, help="how loaded the machine was during the run (stored in the record)")
    ap.add_argument("--child", nargs=4, metavar=("MODEL", "SIZE", "TILE", "FRAMES"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], a.child[1], a.child[2], int(a.child[3]))
        return 0
    record: dict[str, Any] = json.loads(a.out.read_text()) if a.out.exists() else {"runs": []}
    if a.plot:
        return 0 if plot(record, a.plot) else 1
    sizes = a.sizes.split(",") if a.sizes else None
    tiles = a.tiles.split(",")
    plan = {m: tuple(sizes) if sizes else tuple(str(v) for v in PLAN.get(m, (2000, 4000))) for m in a.models.split(",")}
    knobs = {"plan": {m: list(s) for m, s in plan.items()}, "tiles": tiles, "tile_overlap": 16, "backend": "onnxruntime",
             "providers": ["CPUExecutionProvider"], "threads": "ORT default", "frame": "random uint8 BGR, seed 0",
             "warmup": "one 64x64 frame", "frames": a.frames, "rounds": a.rounds,
             "order": "tiles in the given order in even rounds, reversed in odd rounds",
             "timed": "Upscaler.run(frame), wall clock: the first frame ('seconds'), and with frames > 1 the median "
                      "of the later ones",
             "peak_rss": "child's ru_maxrss from os.wait4 (whole process: model, input frame, output, buffers)"}
    run = {"label": a.label, **provenance(sys.argv, knobs, a.note), "rows": []}
    for rnd in range(a.rounds):
        for model, szs in plan.items():
            for size in szs:
                for tile in (tiles if rnd % 2 == 0 else tiles[::-1]):
                    row = measure(model, size, tile, a.frames)
                    row["round"] = rnd
                    run["rows"].append(row)
                    _print(row)
                    record["runs"] = [r for r in record["runs"] if r["label"] != a.label] + [run]
                    a.out.parent.mkdir(parents=True, exist_ok=True)
                    a.out.write_text(json.dumps(record, indent=1) + "\n")  # after every point: a crash keeps the rest
    run["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    a.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
