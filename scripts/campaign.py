#!/usr/bin/env python3
"""The model-ladder training campaign: a committed plan whose runs go back on whenever work starts.

    python scripts/campaign.py status            # every run: updates, minutes, state, next step
    python scripts/campaign.py start             # resume the plan in the background (nice, 1 thread)
    python scripts/campaign.py sync              # copy the runs' small files into checkpoints/, update the plan

The plan (``benchmarks/campaign/plan.json``) lists each run: model, scale, recipe (``edgesr train``
arguments), target updates, the checkpoint rule, and what to do when it ends. ``start`` freezes the
current source into ``runs/campaign/.code`` (a non-editable install, so editing ``edgesr/`` while a
run trains cannot break its lazy imports), restores each run folder from its committed checkpoint
folder when the run folder is missing (a fresh clone), and runs the pending items one after the
other, each as ``nice -n 10 python -m edgesr train --resume ...`` with its log in
``runs/campaign/NAME/train.log``; a background loop calls ``sync`` every ``--sync-every`` minutes,
so what has to be committed before work stops is always in ``checkpoints/``.

Cumulative minutes come from the ``time`` field of ``log.jsonl``, which restarts at each resume:
the minutes are the sum of the segments (a run that continues another adds that one's too).
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "benchmarks" / "campaign" / "plan.json"
RUNS = ROOT / "runs" / "campaign"
CODE = RUNS / ".code"
SMALL_FILES = ("last.pt", "best.pt", "model.pt", "config.json", "config_changes.jsonl")
log = logging.getLogger("campaign")


LOG_EVERY = 20  # steps between the training-loss records kept in a committed log


def load_plan() -> dict[str, Any]:
    return json.loads(PLAN.read_text())


def save_plan(plan: dict[str, Any]) -> None:
    PLAN.write_text(json.dumps(plan, indent=2) + "\n")


def read_log(folder: Path) -> list[dict[str, Any]]:
    """The run's log.jsonl records (plain in a run folder, gzipped in a committed checkpoint folder; a line
    cut short by a kill skipped): :func:`edgesr.training.log.read_log`, the reader beside the log's writer."""
    from edgesr.training.log import read_log as read_training_log  # lazy: status stays quick to load

    return read_training_log(folder, missing_ok=True)


def minutes(records: list[dict[str, Any]]) -> float:
    """Wall-clock minutes of a log whose ``time`` restarts at each resume: the sum of its segments."""
    total, seg_end, prev = 0.0, 0.0, -1.0
    for r in records:
        t = float(r.get("time", 0.0))
        if t < prev:  # a resume: the previous segment ended at prev
            total += seg_end
        seg_end = prev = t
    return (total + seg_end) / 60


def progress(item: dict[str, Any]) -> dict[str, Any]:
    """Steps, cumulative updates and minutes of a plan item, from its run folder or its committed copy."""
    run, ckpt = RUNS / item["name"], ROOT / item["checkpoint_dir"]
    recs = read_log(run) or read_log(ckpt)
    step = int(recs[-1]["step"]) if recs else 0
    vals = [(r["step"], r["val_psnr"]) for r in recs if "val_psnr" in r]
    return {"step": step, "updates": step + int(item.get("prior_updates", 0)),
            "minutes": round(minutes(recs) + float(item.get("prior_minutes", 0.0)), 1),
            "last_val": vals[-1] if vals else None}


def restore(item: dict[str, Any]) -> Path:
    """The run folder, restored from the committed checkpoint folder when it is missing."""
    run, ckpt = RUNS / item["name"], ROOT / item["checkpoint_dir"]
    if (run / "last.pt").exists() or not (ckpt / "last.pt").exists():
        return run
    run.mkdir(parents=True, exist_ok=True)
    for name in SMALL_FILES:
        if (ckpt / name).exists():
            shutil.copy2(ckpt / name, run / name)
    if (ckpt / "log.jsonl.gz").exists():
        (run / "log.jsonl").write_bytes(gzip.decompress((ckpt / "log.jsonl.gz").read_bytes()))
    log.info("restored %s from %s", run, ckpt)
    return run


def thin_log(text: str, every: int = LOG_EVERY) -> bytes:
    """The committed copy of a log: every ``every``-th step, every validation record and each resume segment's
    last record, so curves and summed minutes stay exact while the file stays small (a 100k-step run: ~0.3 MiB)."""
    from edgesr.training.log import parse_record  # the reader's rule: a line cut short by a kill is no record

    parsed = [(ln, parse_record(ln)) for ln in text.splitlines()]
    lines = [ln for ln, r in parsed if r is not None]
    recs = [r for _, r in parsed if r is not None]
    keep = []
    for i, (ln, r) in enumerate(zip(lines, recs)):
        seg_end = i + 1 == len(recs) or float(recs[i + 1].get("time", 0.0)) < float(r.get("time", 0.0))
        if seg_end or "val_psnr" in r or int(r.get("step", 0)) % every == 0:
            keep.append(ln)
    return ("\n".join(keep) + "\n").encode() if keep else b""


def sync(plan: dict[str, Any]) -> None:
    """Copy each run's small files into its checkpoint folder and record its progress in the plan."""
    for item in plan["runs"]:
        run, ckpt = RUNS / item["name"], ROOT / item["checkpoint_dir"]
        if (run / "log.jsonl").exists():
            ckpt.mkdir(parents=True, exist_ok=True)
            for name in SMALL_FILES:
                if (run / name).exists():
                    shutil.copy2(run / name, ckpt / name)
            (ckpt / "log.jsonl.gz").write_bytes(gzip.compress(thin_log((run / "log.jsonl").read_text()), mtime=0))
        p = progress(item)
        item.update(step=p["step"], updates=p["updates"], minutes=p["minutes"])
        if p["step"] >= item["target_steps"] and (ckpt / "model.pt").exists():
            item["status"] = "done"
    save_plan(plan)


def freeze_code() -> None:
    """A non-editable install of the current source, used by every campaign run of this start."""
    if CODE.exists():
        shutil.rmtree(CODE)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(CODE), str(ROOT)],
                   check=True)


def command(item: dict[str, Any], threads: int) -> list[str]:
    """The ``edgesr train`` command line that starts or resumes a plan item."""
    args = ["nice", "-n", "10", sys.executable, "-m", "edgesr", "train", "--out", str(RUNS / item["name"]),
            "--resume", "--no-progress", "--threads", str(threads)]
    for key, value in item["recipe"].items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, list):
            args += [flag, *map(str, value)]
        else:
            args += [flag, json.dumps(value) if isinstance(value, dict) else str(value)]
    return args + ["--steps", str(item["target_steps"])]


def run_pending(threads: int, sync_every: float) -> None:
    """Run the plan's pending items in order (the supervisor ``start`` launches in the background)."""
    env = {**os.environ, "PYTHONPATH": str(CODE)}
    make_splits(load_plan())
    for item in load_plan()["runs"]:
        if item["status"] == "done" or not all(dep_done(d) for d in item.get("after", [])):
            continue
        run = restore(item)
        run.mkdir(parents=True, exist_ok=True)
        cmd = command(item, threads)
        log.info("%s: %s", item["name"], " ".join(cmd))
        with open(run / "train.log", "a") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            last = time.time()
            while proc.poll() is None:
                time.sleep(min(60.0, sync_every * 60))
                if time.time() - last > sync_every * 60:
                    sync(load_plan())
                    last = time.time()
        sync(load_plan())
        log.info("%s: exit %d", item["name"], proc.returncode)
        if proc.returncode != 0:
            return


def make_splits(plan: dict[str, Any]) -> None:
    """Folders of symlinks for the plan's data splits (e.g. BSDS200 images 0-149 for training, 150-199
    held out for checkpoint selection), so Set5 / Set14 stay test sets."""
    for name, spec in plan.get("splits", {}).items():
        folder = ROOT / spec["folder"]
        src = sorted(p for p in (ROOT / spec["source"]).iterdir() if p.suffix.lower() in (".png", ".jpg", ".bmp"))
        chosen = src[spec["start"]: spec["stop"]]
        if folder.exists() and len(list(folder.iterdir())) == len(chosen):
            continue
        folder.mkdir(parents=True, exist_ok=True)
        for f in chosen:
            link = folder / f.name
            if not link.exists():
                link.symlink_to(f.resolve())
        log.info("split %s: %d images of %s in %s", name, len(chosen), spec["source"], folder)


def dep_done(name: str) -> bool:
    return any(i["name"] == name and i["status"] == "done" for i in load_plan()["runs"])


def status(plan: dict[str, Any]) -> str:
    rows = ["| run | model | scale | updates / target | minutes | state | last val (step, dB) | next |",
            "|---|---|---|---|---|---|---|---|"]
    for item in plan["runs"]:
        p = progress(item)
        target = item["target_steps"] + int(item.get("prior_updates", 0))
        val = f"{p['last_val'][0]}: {p['last_val'][1]:.3f}" if p["last_val"] else "-"
        rows.append(f"| {item['name']} | {item['recipe']['model']} | x{item['recipe']['scale']} | "
                    f"{p['updates']:,} / {target:,} | {p['minutes']} | {item['status']} | {val} | {item['next']} |")
    return "\n".join(rows)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["status", "start", "sync", "supervise"])
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1: the other core works)")
    ap.add_argument("--sync-every", type=float, default=10.0, help="minutes between syncs into checkpoints/")
    a = ap.parse_args()
    if a.action == "status":
        sys.stdout.write(status(load_plan()) + "\n")
    elif a.action == "sync":
        sync(load_plan())
    elif a.action == "start":
        RUNS.mkdir(parents=True, exist_ok=True)
        freeze_code()
        with open(RUNS / "campaign.log", "a") as out:
            proc = subprocess.Popen([sys.executable, __file__, "supervise", "--threads", str(a.threads),
                                     "--sync-every", str(a.sync_every)], cwd=ROOT, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        log.info("campaign running in the background (pid %d, log %s)", proc.pid, RUNS / "campaign.log")
    else:
        run_pending(a.threads, a.sync_every)


if __name__ == "__main__":
    main()
