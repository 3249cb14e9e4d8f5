"""One ablation line per training lever (issue 15): edge_tiny x2 from scratch, the same seed, data,
schedule and number of updates for every variant; only the lever differs.

  plain         the bundled recipe (fp32, batch 16, LR patch 48, lr 1e-3 cosine, dual lambda 0.1)
  ema           + EMA of the weights, decay 0.999 (validated and saved)
  bf16          + bf16 autocast (CPU with avx512_bf16 / AMX; elsewhere it runs, slower)
  teacher_base  + output distillation from the bundled edge_base_x2 (L1, weight 1): does base teach tiny?
  luma          Y-only body (chroma bicubic), same widths: 9 % fewer deployed FLOPs than plain (6.70 vs 7.37
                GFLOPs). Not n_feats 17 for exactly equal FLOPs (+2.4 %): an odd width trains 2.3x slower
                per step in oneDNN here (measured: 5.2 vs 12.1 steps/s, 1 thread; deploy speed not measured)
  ecb / repvgg / sesr   re-parameterizable training forms (deploy as the plain net: same FLOPs)

Per variant: Set5 / Set14 Y-PSNR (standard protocol), Set14 RGB PSNR (is the colour right?),
deployed GFLOPs at 640x360, training steps/s (from log.jsonl) and the mean primal loss of the last
10 % of steps. Resumable (each run continues from last.pt). One thread per run by default.

    nice python benchmarks/lever_study.py --steps 1500 --out runs/lever_study
    python benchmarks/lever_study.py --steps 20 --variants plain luma --out /tmp/lever --results /tmp/lever.json
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from edgesr.machine import describe_machine
from edgesr.training.log import final_loss, steps_per_s
from rep_study import DATA, ROOT, SET5, SET14, check_data  # sibling benchmark script

VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "ema": {"ema": 0.999},
    "bf16": {"precision": "bf16"},
    "teacher_base": {"teacher": "edge_base_x2", "teacher_weight": 1.0, "distill": "output"},
    "luma": {"model_kwargs": {"luma": True}},
    "ecb": {"model_kwargs": {"rep": "ecb"}},
    "repvgg": {"model_kwargs": {"rep": "repvgg"}},
    "sesr": {"model_kwargs": {"rep": "sesr"}},
}


def train_variant(a: argparse.Namespace, name: str) -> Path:
    from edgesr.training import TrainConfig, train

    cfg = TrainConfig(model="edge_tiny", scale=2, data=tuple(str(d) for d in DATA), out=str(Path(a.out) / name),
                      steps=a.steps, batch=16, patch=48, lr=a.lr, seed=a.seed, threads=a.threads, val_every=10**9,
                      ckpt_every=min(250, a.steps), progress=False, **VARIANTS[name])
    return train(cfg, resume=(Path(a.out) / name / "last.pt").is_file())


def rgb_psnr(model: torch.nn.Module, data: Path, scale: int = 2) -> float:
    """Mean PSNR over R, G and B (shave = scale): catches colour errors the Y protocol cannot see."""
    from edgesr.data import imresize, list_images, modcrop, read_rgb
    from edgesr.evaluation import torch_upscale_fn
    from edgesr.metrics import psnr

    fn = torch_upscale_fn(model)
    vals = []
    for f in list_images(data):
        hr = modcrop(read_rgb(f), scale)
        vals.append(psnr(fn(imresize(hr, 1.0 / scale)), hr, scale, y=False))
    return statistics.fmean(vals)


def evaluate_variant(a: argparse.Namespace, name: str, final: Path) -> dict[str, Any]:
    from edgesr.evaluation import evaluate
    from edgesr.models import count_flops, count_params, load_model

    m = load_model(final)
    s5, s14 = evaluate(m, SET5), evaluate(m, SET14)
    sps, timed = steps_per_s(Path(a.out) / name / "log.jsonl")
    return {"variant": name, "lever": VARIANTS[name], "steps": a.steps, "lr": a.lr, "seed": a.seed, "threads": a.threads,
            "set5_psnr": round(s5.psnr, 3), "set14_psnr": round(s14.psnr, 3),
            "set14_rgb_psnr": round(rgb_psnr(m, SET14), 3), "params": count_params(m),
            "gflops_640x360": round(count_flops(m, (360, 640)) / 1e9, 3), "train_steps_per_s": round(sps, 2),
            "timed_steps": timed, "final_primal_loss": final_loss(Path(a.out) / name / "log.jsonl"),
            "model": str(final)}


def table(rows: list[dict[str, Any]]) -> str:
    base = next((r for r in rows if r["variant"] == "plain"), None)
    head = ("| variant | Set5 | Set14 | mean vs plain | Set14 RGB | params | GFLOPs@640x360 | train steps/s "
            "| final L1 |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        d = "" if base is None else f"{(r['set5_psnr'] + r['set14_psnr'] - base['set5_psnr'] - base['set14_psnr']) / 2:+.3f}"
        lines.append(f"| {r['variant']} | {r['set5_psnr']:.2f} | {r['set14_psnr']:.2f} | {d} | {r['set14_rgb_psnr']:.2f} "
                     f"| {r['params']:,} | {r['gflops_640x360']:.2f} | {r['train_steps_per_s']:.2f} "
                     f"| {r['final_primal_loss']:.5f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (cosine), the same for every variant")
    p.add_argument("--out", default="runs/lever_study")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "lever_study.json"))
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    check_data()
    torch.set_num_threads(a.threads)
    out = Path(a.results)
    done = {r["variant"]: r for r in json.loads(out.read_text())["rows"]} if out.is_file() else {}
    for name in a.variants:
        t0 = time.perf_counter()
        rec = evaluate_variant(a, name, train_variant(a, name))
        rec["minutes_this_call"] = round((time.perf_counter() - t0) / 60, 2)
        done[name] = rec
        out.parent.mkdir(parents=True, exist_ok=True)
        rows = {"machine": describe_machine(a.threads), "rows": list(done.values())}
        out.write_text(json.dumps(rows, indent=2))  # after every variant
        logging.info("%s: Set5 %.3f Set14 %.3f (%.2f steps/s)", name, rec["set5_psnr"], rec["set14_psnr"],
                     rec["train_steps_per_s"])
    print(table(list(done.values())))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
