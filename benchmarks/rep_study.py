"""Re-parameterizable training (ECB / RepVGG / SESR) vs the plain edge_tiny x2, at equal deployed cost.

Every kind trains the same edge_tiny x2 (same seed, steps, batch 16, patch 48, T91 + BSDS200,
dual regression as in every edgesr run); ``model.pt`` is the collapsed network, so the deployed
architecture, FLOPs and parameters are identical across rows (checked) and only the training-time
form differs. Each collapsed model is evaluated on Set5 and Set14; the train-time cost of the
branches is the measured training steps/s (from each run's log.jsonl, resumed segments included)
and the training-form FLOPs per patch.

    python benchmarks/rep_study.py                      # 3000 steps, none ecb repvgg sesr, 1 thread
    python benchmarks/rep_study.py --steps 20 --kinds ecb --out /tmp/rep_smoke --results /tmp/rep_smoke.json

Resumable: re-running continues each run from its ``last.pt`` (a finished run only re-evaluates).
Writes ``OUT/<kind>/result.json`` per kind and benchmarks/results/rep_study.json, prints a table.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch

from edgesr.training.log import steps_per_s  # beside the log's writer; lever_study uses it too

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling module common, also under importlib

from common import shared  # noqa: E402  (the shared data root: $EDGESR_SHARED or ../shared)

DATA = [shared("data", "train", n, check=False) for n in ("T91", "BSDS200")]
SET5, SET14 = (shared("data", "benchmark", n, check=False) for n in ("Set5", "Set14"))
KINDS = ("none", "ecb", "repvgg", "sesr")
REPORT_HW = (360, 640)  # deployed FLOPs reported at a 360p input (x2 -> 720p)
MODEL, SCALE, BATCH, PATCH, SEED = "edge_tiny", 2, 16, 48, 0


def check_data() -> None:
    """Exit with one line when the shared root or its training or evaluation folders are missing."""
    shared()
    missing = [d for d in (*DATA, SET5, SET14) if not d.is_dir()]
    if missing:
        raise SystemExit(f"data not found: {missing[0]} (set EDGESR_SHARED to the folder holding data/)")


def train_kind(a: argparse.Namespace, kind: str) -> Path:
    from edgesr.training import TrainConfig, train

    cfg = TrainConfig(model=MODEL, scale=SCALE, data=tuple(str(d) for d in DATA), out=str(Path(a.out) / kind),
                      steps=a.steps, batch=BATCH, patch=PATCH, seed=SEED, threads=a.threads, val_every=10**9,
                      ckpt_every=min(200, a.steps), model_kwargs={"rep": kind, "rep_expand": a.expand},
                      progress=not a.no_progress)
    return train(cfg, resume=True)


def collapse_error(run: Path, deployed: torch.nn.Module) -> float:
    """max |collapsed - training form| on a random odd-sized input (the branches from last.pt)."""
    from edgesr.models import build_model

    st = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    arch = st["arch"]
    rep = build_model(arch["family"], arch["config"], name=arch["name"])
    rep.load_state_dict(st["model"])
    x = torch.rand(1, 3, 37, 53, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float((deployed.eval()(x) - rep.train()(x)).abs().max())


def evaluate_kind(a: argparse.Namespace, kind: str, final: Path) -> dict[str, Any]:
    from edgesr.evaluation import evaluate
    from edgesr.models import count_flops, count_params, create_model, load_model
    from edgesr.models.rep import is_rep

    run = Path(a.out) / kind
    deployed = load_model(final)  # save_model stored the collapsed form
    if is_rep(deployed) or deployed.config.rep != "none":
        raise RuntimeError(f"{final} is not collapsed")
    trained = create_model(MODEL, scale=SCALE, rep=kind, rep_expand=a.expand)
    sps, timed = steps_per_s(run / "log.jsonl")
    s5, s14 = evaluate(deployed, SET5), evaluate(deployed, SET14)
    return {
        "kind": kind, "rep_expand": a.expand if kind in ("ecb", "sesr") else None, "steps": a.steps,
        "set5_psnr": round(s5.psnr, 3), "set5_ssim": round(s5.ssim, 4),
        "set14_psnr": round(s14.psnr, 3), "set14_ssim": round(s14.ssim, 4),
        "deployed_params": count_params(deployed), "deployed_gflops": count_flops(deployed, REPORT_HW) / 1e9,
        "deployed_arch": deployed.arch(), "train_params": count_params(trained),
        "train_mflops_per_patch": count_flops(trained, (PATCH, PATCH)) / 1e6,
        "train_steps_per_s": round(sps, 3), "timed_steps": timed, "threads": a.threads,
        "collapse_max_abs_err": collapse_error(run, deployed), "model": str(final),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| train form | Set5 PSNR / SSIM | Set14 PSNR / SSIM | deployed params | deployed GFLOPs@640x360 "
            "| train params | train MFLOPs/patch | train steps/s | collapse err |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['set5_psnr']:.2f} / {r['set5_ssim']:.4f} | {r['set14_psnr']:.2f} / "
                     f"{r['set14_ssim']:.4f} | {r['deployed_params']:,} | {r['deployed_gflops']:.3f} | "
                     f"{r['train_params']:,} | {r['train_mflops_per_patch']:.1f} | {r['train_steps_per_s']:.2f} | "
                     f"{r['collapse_max_abs_err']:.1e} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (equal for every kind)")
    p.add_argument("--expand", type=int, default=2, help="rep_expand of the ECB 1x1->3x3 branch / SESR expansion")
    p.add_argument("--out", default="runs/rep_study")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "rep_study.json"))
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    check_data()
    torch.set_num_threads(a.threads)
    rows = []
    for kind in a.kinds:
        t0 = time.perf_counter()
        final = train_kind(a, kind)
        rec = evaluate_kind(a, kind, final)
        rec["minutes_this_call"] = round((time.perf_counter() - t0) / 60, 2)
        (Path(a.out) / kind / "result.json").write_text(json.dumps(rec, indent=2))
        logging.info("%s: Set5 %.3f  Set14 %.3f  %.2f steps/s", kind, rec["set5_psnr"], rec["set14_psnr"],
                     rec["train_steps_per_s"])
        rows.append(rec)
    archs = {json.dumps(r["deployed_arch"]["config"], sort_keys=True) for r in rows}
    if len(archs) != 1:
        raise RuntimeError(f"deployed architectures differ across kinds: {archs}")
    out = Path(a.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": MODEL, "scale": SCALE, "batch": BATCH, "patch": PATCH, "seed": SEED,
                               "data": [d.name for d in DATA], "report_hw": list(REPORT_HW), "rows": rows}, indent=2))
    print(table(rows))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
