"""Set5 validation PSNR vs training time for the bundled-model runs (from their log.jsonl).

    python benchmarks/training_curves.py runs/bundled/edge_tiny_x2 runs/bundled/edge_tiny_x3 \
        runs/bundled/edge_tiny_x4 runs/ablation/edge_tiny_x2_lambda0
    # a later session (earlier run folders gone): keep the committed curves, chain a new stage
    python benchmarks/training_curves.py runs/bundled/edge_tiny_x2_s3 \
        --previous benchmarks/results/training_curves.json --continues edge_tiny_x2_s3=edge_tiny_x2_s2

Writes docs/img/training_curves.png and benchmarks/results/training_curves.json. The time axis is
cumulative wall-clock minutes on the 2-core CPU (shared with other jobs during these runs, so read
it as an upper bound): a run warm-started (``--init``) from another listed run starts where that one
ended, so a stage-2 or a widened base model shows the whole cost of getting there.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgesr.training.log import read_log

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {2: 37.05, 3: 33.18, 4: 30.72}  # published FSRCNN Set5 (the tiny targets)
BASE_TARGETS = {2: 37.5, 4: 31.3}  # VDSR-level (the base targets)
BICUBIC = {2: 33.66, 3: 30.39, 4: 28.42}


def total_updates(curves: dict, name: str) -> int:
    """Optimizer updates behind a curve's final weights: its own steps plus those of what it started from."""
    c = curves[name]
    if "end_updates" in c:
        return int(c["end_updates"])
    parent = Path(c["init"]).parent.name if c.get("init") else None
    return int(c["points"][-1]["step"]) + (total_updates(curves, parent) if parent in curves else 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--previous", type=Path, help="training_curves.json of earlier sessions: its curves are kept")
    ap.add_argument("--continues", nargs="*", default=[], metavar="RUN=PREVIOUS",
                    help="RUN warm-started from the final weights of the curve PREVIOUS (its time and updates add up)")
    a = ap.parse_args()
    curves: dict = json.loads(a.previous.read_text()) if a.previous else {}
    after = dict(kv.split("=", 1) for kv in a.continues)
    ends: dict[Path, float] = {}  # run dir -> cumulative minutes at its last step
    for run in map(Path, a.runs):
        cfg = json.loads((run / "config.json").read_text())
        recs = read_log(run / "log.jsonl")
        init = Path(cfg["init"]).parent.resolve() if cfg.get("init") else None
        t0 = ends.get(init, 0.0) if init is not None else 0.0
        u0 = 0
        if run.name in after:  # chained to a curve of an earlier session
            prev = curves[after[run.name]]
            t0 = prev["end_minutes"] if "end_minutes" in prev else prev["points"][-1]["minutes"]
            u0 = total_updates(curves, after[run.name])
        ends[run.resolve()] = t0 + recs[-1]["time"] / 60
        pts = [(r["step"], t0 + r["time"] / 60, r["val_psnr"]) for r in recs if "val_psnr" in r]
        curves[run.name] = {"scale": cfg["scale"], "dual_weight": cfg["dual_weight"], "init": cfg.get("init"),
                            "continues": after.get(run.name),
                            "end_minutes": round(ends[run.resolve()], 1), "end_updates": u0 + recs[-1]["step"],
                            "points": [{"step": s, "updates": u0 + s, "minutes": round(m, 1), "set5_psnr": round(p, 3)}
                                       for s, m, p in pts]}
    out = ROOT / "benchmarks" / "results" / "training_curves.json"
    out.write_text(json.dumps(curves, indent=2))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = sorted({c["scale"] for c in curves.values()})
    fig, axes = plt.subplots(1, len(scales), figsize=(5 * len(scales), 4), squeeze=False)
    for ax, s in zip(axes[0], scales):
        for name, c in curves.items():
            if c["scale"] == s:
                ax.plot([p["minutes"] for p in c["points"]], [p["set5_psnr"] for p in c["points"]], "o-",
                        label=f"{name} (λ={c['dual_weight']})")
        ax.axhline(TARGETS[s], ls="--", color="C3", lw=1, label="tiny target: FSRCNN (paper, GPU)")
        if s in BASE_TARGETS:
            ax.axhline(BASE_TARGETS[s], ls="-.", color="C4", lw=1, label="base target (VDSR level)")
        ax.axhline(BICUBIC[s], ls=":", color="k", lw=1, label="bicubic")
        ax.set_title(f"x{s}: Set5 PSNR vs CPU training time")
        ax.set_xlabel("minutes (2 shared CPU cores)")
        ax.set_ylabel("Set5 Y-PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "img" / "training_curves.png", dpi=110)
    print(json.dumps(curves, indent=1))


if __name__ == "__main__":
    main()
