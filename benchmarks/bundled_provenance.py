"""Where each bundled model's weights came from: checkpoint rule, cumulative updates, minutes (issue 22).

    python benchmarks/bundled_provenance.py   # -> benchmarks/results/bundled_provenance.json

A model bundled with ``scripts/bundle_model.py --selection/--updates/--minutes`` carries these facts
in its metadata. Older bundles do not; for them this script reads the run that made them from
``benchmarks/results/training_curves.json`` (cumulative minutes and updates along the warm-start
chain) and states the rule as it was, including where Set5/Set14 were used to choose, which makes
their test figures optimistic (issue 22).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# bundled name -> (training_curves.json run, rule, validation), for bundles whose metadata predates provenance
LEGACY: dict[str, tuple[str | None, str, str]] = {
    "edge_nano_x2": ("edge_nano_x2_s4", "final step of its last stage (model.pt)",
                     "none held out: trained on all of T91 + BSDS200; Set5 monitored"),
    "edge_nano_x2_real": (None, "final step (model.pt), 6,000 steps on the real preset",
                          "none held out; Set5 monitored"),
    "edge_tiny_x2_real": (None, "final step (model.pt), 4,000 steps on the real preset",
                          "none held out; Set5 monitored"),
    "edge_tiny_x3": ("edge_tiny_x3_s2", "final step of its last stage (model.pt); warm-started from a "
                     "tiny x2 best.pt chosen on Set5", "none held out; Set5 monitored"),
    "edge_tiny_x4": ("edge_tiny_x4_s3", "final step of its last stage (model.pt); warm-start chain began at "
                     "a tiny x2 best.pt chosen on Set5", "none held out; Set5 monitored"),
    "edge_base_x3": ("edge_base_x3", "final step (model.pt), warm-started from tiny x3",
                     "none held out; Set5 monitored"),
    "edge_base_x4": ("edge_base_x4", "final step (model.pt), warm-started from tiny x4",
                     "none held out; Set5 monitored"),
    "edge_base_x2": ("edge_base_x2", "−50 % L1 pruning of the base x2 parent + 1,000 fine-tune steps; the "
                     "fine-tune was the best of six on Set5 + Set14 (test-set selection: optimistic)",
                     "none held out"),
}
FINETUNE = {"edge_base_x2": 1000}  # steps after the recorded run (the compression fine-tune)


def _chain(curves: dict[str, Any], run: str) -> tuple[int | None, float | None]:
    """Cumulative updates and minutes at the end of ``run``: recorded, else summed along its warm starts."""
    rec = curves[run]
    pts = rec["points"]
    minutes = rec.get("end_minutes", pts[-1]["minutes"] if pts else None)
    if "end_updates" in rec:
        return int(rec["end_updates"]), minutes
    steps = pts[-1]["step"] if pts else 0
    init = rec.get("init") or ""
    parent = Path(init).parent.name if init.startswith("runs/bundled/") else None
    if parent and parent in curves:
        up, _ = _chain(curves, parent)
        return (None if up is None else up + steps), minutes
    return (steps if not init else None), minutes


def _validation(meta: dict[str, Any]) -> str:
    """What the checkpoint was validated on: the held-out split a campaign run selects on, else nothing."""
    if "val_data" in meta and "val_psnr" in meta:
        return (f"{meta['val_psnr']:.2f} dB on {Path(meta['val_data']).name} (BSDS200 images 150-199, held out: "
                "trained on T91 + the other 150)")
    return "none held out: trained on all of T91 + BSDS200; Set5 monitored"


def provenance() -> list[dict[str, Any]]:
    import torch

    curves = json.loads((RESULTS / "training_curves.json").read_text())
    rows = []
    for pt in sorted((ROOT / "edgesr" / "weights").glob("*.pt")):
        meta = torch.load(pt, map_location="cpu", weights_only=False).get("meta", {})
        name = pt.stem
        if "selection" in meta:
            rows.append({"name": name, "rule": meta["selection"], "updates": meta.get("updates"),
                         "minutes": meta.get("train_minutes"), "validation": _validation(meta),
                         "source": meta.get("source"), "from": "model metadata"})
            continue
        run, rule, validation = LEGACY[name]
        updates, minutes = _chain(curves, run) if run else (None, None)  # warm start not recorded
        if updates is not None and name in FINETUNE:
            updates += FINETUNE[name]
        rows.append({"name": name, "rule": rule, "updates": updates, "minutes": minutes, "validation": validation,
                     "source": meta.get("source") or meta.get("compression", {}).get("parent"),
                     "from": f"training_curves.json run {run}" if run else "model metadata: its own steps only"})
    return rows


def main() -> None:
    import datetime
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    rec = {"about": __doc__.strip().splitlines()[0], "date": datetime.date.today().isoformat(), "commit": commit,
           "command": "python benchmarks/bundled_provenance.py", "models": provenance()}
    out = RESULTS / "bundled_provenance.json"
    out.write_text(json.dumps(rec, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
