"""Training throughput on this machine: steps/s and LR pixels/s of each training lever, side by side.

    python benchmarks/train_throughput.py --data ../shared/data/train/T91

For edge_nano / edge_tiny / edge_base x2 at the recipe's batch 16, patch 48 (dual loss 0.1, Adam),
each lever is one cell beside the baseline (fp32, NCHW, in-process data loading, ``--threads``
threads): threads 1, channels_last, bf16 autocast, ``torch.compile`` (skipped with a note if it
fails), batch 2B x patch P/sqrt(2) (the same LR pixels per step), data loading in 1 worker process
(pinned memory on CUDA), and "combined" (every lever that beat the baseline by > 3 %, compile aside).
A cell runs the real training step (``edgesr.training.loop._step``: data loading, forward, backward, Adam)
for ``--warmup`` steps, then times ``--steps`` steps. ``loss@1`` is the first step's loss: the same
batches for every cell of a model except the batch/patch one, so a lever that changes the numbers
shows up there. Writes ``benchmarks/results/train_throughput.json`` (with the CPU model, its
avx2/avx512f/avx512_vnni/avx512_bf16/amx flags and the load average: run it on an idle machine) and
prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DistributedSampler

import edgesr.training.loop as T
from edgesr.training import feed as tf
from edgesr.data import SRDataset
from edgesr.machine import describe_machine
from edgesr.training.amp import cpu_has_bf16

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling module common, also under importlib

from common import shared  # noqa: E402  (the shared data root: $EDGESR_SHARED or ../shared)

MODELS = {"nano": "edge_nano", "tiny": "edge_tiny", "base": "edge_base"}
GAIN = 1.03  # a lever joins "combined" when it is at least this much faster than the baseline


@dataclass(frozen=True)
class Cell:
    lever: str
    threads: int
    batch: int
    patch: int
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    workers: int = 0


def levers(base: Cell) -> list[Cell]:
    p2 = max(8, round(base.patch / math.sqrt(2)))
    return [base,
            replace(base, lever="threads 1", threads=1),
            replace(base, lever="channels_last", channels_last=True),
            replace(base, lever="bf16 autocast", precision="bf16"),
            replace(base, lever="torch.compile", compile=True),
            replace(base, lever=f"batch {2 * base.batch} x patch {p2}", batch=2 * base.batch, patch=p2),
            replace(base, lever="1 worker process", workers=1)]


def _feed(datasets: list[SRDataset], cell: Cell, gen: torch.Generator, device: torch.device) -> tf.Feed:
    sampler: DistributedSampler[int] = DistributedSampler(datasets[0], num_replicas=1, rank=0, shuffle=True, seed=0,
                                                          drop_last=True)
    plans = [tf.plan(sampler, cell.batch, 0, 0, gen)]
    return tf.make_feed(datasets, plans, gen, 0, cell.workers, pin_memory=device.type == "cuda")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_cell(model: str, cell: Cell, ds: SRDataset, steps: int, warmup: int, device: torch.device) -> dict[str, Any]:
    torch.set_num_threads(cell.threads)
    with tempfile.TemporaryDirectory() as tmp:  # the config only: the data set is built once, outside
        cfg = T.TrainConfig(model=model, scale=2, data=tuple(str(f) for f in ds.files), out=tmp, steps=warmup + steps, batch=cell.batch,
                            patch=cell.patch, schedule="constant", precision=cell.precision,
                            channels_last=cell.channels_last, workers=cell.workers, progress=False)
        env = T._Env(False, 0, 1, device)
        parts = T._build_parts(cfg, env, warm=True)
        if cell.compile:
            parts.net = torch.compile(parts.step_mod)
        rs = T._RunState()
        feed = _feed([ds], cell, parts.gen, device)
        try:
            parts.model.train()
            first = T._step(parts, feed, rs, device)[0].item()
            for _ in range(warmup - 1):
                T._step(parts, feed, rs, device)
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                loss = T._step(parts, feed, rs, device)[0]
            loss.item()
            _sync(device)
            dt = time.perf_counter() - t0
        finally:
            feed.close()
    return {"steps_per_s": steps / dt, "lr_pixels_per_s": steps * cell.batch * cell.patch ** 2 / dt,
            "loss_first": first, "precision_used": str(parts.amp.precision)}


def measure(model: str, cell: Cell, data: list[SRDataset], steps: int, warmup: int,
            device: torch.device) -> dict[str, Any]:
    ds = next(d for d in data if d.patch == cell.patch)
    row: dict[str, Any] = {"model": model, **asdict(cell)}
    try:
        row.update(run_cell(model, cell, ds, steps, warmup, device))
    except Exception as e:  # compile without a working toolchain, bf16 on a CPU without it...: a note, not a crash
        row["note"] = f"skipped: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
    if cell.precision == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        row["note"] = (row.get("note", "") + " bf16 emulated (no avx512_bf16/amx_bf16)").strip()
    return row


def combined(base: Cell, rows: list[dict[str, Any]]) -> Cell | None:
    """The baseline with every lever that beat it by GAIN (threads, compile and batch/patch aside)."""
    b = rows[0].get("steps_per_s")
    if not b:
        return None
    won = {r["lever"] for r in rows[1:] if r.get("steps_per_s", 0) >= GAIN * b}
    c = replace(base, lever="combined", channels_last="channels_last" in won,
                precision="bf16" if "bf16 autocast" in won else base.precision,
                workers=1 if "1 worker process" in won else 0)
    return c if c != replace(base, lever="combined") else None


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| model | lever | threads | batch x patch | steps/s | LR Mpx/s | vs baseline | loss@1 | note |",
           "|---|---|---|---|---|---|---|---|---|"]
    base: dict[str, float] = {}
    for r in rows:
        sps = r.get("steps_per_s")
        if r["lever"] == "baseline" and sps:
            base[r["model"]] = r["lr_pixels_per_s"]
        rel = f"{r['lr_pixels_per_s'] / base[r['model']]:.2f}x" if sps and r["model"] in base else "-"
        out.append(f"| {r['model']} | {r['lever']} | {r['threads']} | {r['batch']} x {r['patch']} | "
                   f"{sps:.2f} | {r['lr_pixels_per_s'] / 1e6:.3f} | {rel} | {r['loss_first']:.5f} | "
                   f"{r.get('note', '')} |" if sps else
                   f"| {r['model']} | {r['lever']} | {r['threads']} | {r['batch']} x {r['patch']} | - | - | - | - | "
                   f"{r.get('note', '')} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=None, help="HR image folders (default: the shared data/train/T91)")
    ap.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["nano", "tiny", "base"])
    ap.add_argument("--steps", type=int, default=20, help="timed steps per cell")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (compile happens here)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=48)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="threads of the baseline")
    ap.add_argument("--levers", nargs="+", help="only these levers (names as in the table, e.g. bf16 'threads 1')")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "train_throughput.json"))
    a = ap.parse_args()
    a.data = a.data or [str(shared("data", "train", "T91"))]
    if a.warmup < 1 or a.steps < 1:
        ap.error("--warmup and --steps must be >= 1")
    device = torch.device(a.device)
    base = Cell("baseline", a.threads, a.batch, a.patch)
    cells = [c for c in levers(base) if c.lever == "baseline" or not a.levers
             or any(s.lower() in c.lever.lower() for s in a.levers)]
    data = [SRDataset(a.data, 2, p) for p in sorted({c.patch for c in cells})]
    rows: list[dict[str, Any]] = []
    for name in a.models:
        model_rows = [measure(MODELS[name], c, data, a.steps, a.warmup, device) for c in cells]
        combo = combined(base, model_rows) if not a.levers else None
        if combo is not None:
            model_rows.append(measure(MODELS[name], combo, data, a.steps, a.warmup, device))
        for r in model_rows:
            r["model"] = name
        rows += model_rows
        print(table(model_rows), flush=True)
    result = {"machine": describe_machine(a.threads, device=str(device)),
              "settings": {k: v for k, v in vars(a).items() if k != "json"},
              "scale": 2, "dual_weight": T.TrainConfig.dual_weight, "results": rows}
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(result, indent=2))
    m = result["machine"]
    print(f"\n{m['cpu']}, flags {m['flags']}, load {m.get('loadavg_1m')}")
    print(table(rows))
    print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
