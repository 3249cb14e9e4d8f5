"""Resuming a training run: its state read safely, its settings restored, its records kept honest.

``resume=True`` (``edgesr train --resume``) continues the run in ``out/`` with the settings it was
started with: ``last.pt``'s config (or ``config.json`` when the run died before its first
checkpoint). A setting given explicitly (on the command line, or as an argument of ``train``)
overrides the saved one and is logged, e.g. ``resume: steps 1000 -> 2000 (from the command line)``.

Records: ``config.json`` always keeps the settings the run was *started* with and is never
rewritten by a resume; each resume that changes a setting appends
``{"step", "source", "time", "changes": {name: [old, new]}}`` to ``config_changes.jsonl``; the
settings in effect are those in ``last.pt``. A setting added after a run was started (``ema``,
``precision``...) takes its default, which is what such a run trained with. On resume ``log.jsonl`` is cut back to the
checkpoint's step, so no step appears twice.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from ..config import to_dict
from ..errors import ModelFormatError
from ..fileio import atomic_write_text
from ..models import FORMAT, safe_torch_load
from .log import parse_record

log = logging.getLogger(__name__)

# How a run is executed, not what it trains: taken from the current call, never reported as a change.
# ``workers`` too: worker processes load exactly the batches the training process would (edgesr.training.feed).
RUNTIME_FIELDS = frozenset({"out", "progress", "threads", "workers"})
# Settings that define the learning-rate schedule: changing one rebuilds the scheduler.
SCHEDULE_FIELDS = frozenset({"lr", "steps", "schedule", "step_size", "gamma"})
STATE_KEYS = frozenset({"arch", "model", "optimizer", "scheduler", "gen", "step", "epoch", "pos", "best", "config"})
CHANGES_FILE = "config_changes.jsonl"

Changes = dict[str, tuple[Any, Any]]
C = TypeVar("C")


def resolve(explicit: dict[str, Any], resume: bool, build: Callable[[dict[str, Any]], C], default_out: str,
            source: str, report: bool = True) -> tuple[C, dict[str, Any] | None, Changes]:
    """The run's config (``build`` of a settings dict), its saved state when resuming, and the saved
    settings that ``explicit`` changed (logged when ``report``)."""
    if not resume:
        return build(explicit), None, {}
    out = Path(explicit.get("out", default_out))
    state = read_state(out / "last.pt")
    saved = saved_settings(out, state)
    if saved is None:
        log.warning("--resume: no %s yet, starting a new run", out / "last.pt")
        return build(explicit), None, {}
    if state is None:
        log.warning("--resume: no %s yet, starting the run again with the settings in %s", out / "last.pt",
                    out / "config.json")
    new = build({**saved, **explicit, "out": str(out)})
    changes = diff_settings(to_dict(build(saved)), to_dict(new))
    if report:
        log_changes(changes, source)
    return new, state, changes


def read_state(path: Path) -> dict[str, Any] | None:
    """``last.pt`` as a dict (None if absent); a corrupt, foreign or code-carrying file raises."""
    if not path.is_file():
        return None
    fix = f"start over without --resume (or with a new --out), or put back a good copy of {path.name}"
    st = safe_torch_load(path, fix, what="training state")
    if isinstance(st, dict) and STATE_KEYS <= st.keys() and isinstance(st["config"], dict):
        return st
    kind = ("an edgesr model file" if isinstance(st, dict) and st.get("format") == FORMAT
            else "a PyTorch file of another kind")
    raise ModelFormatError(f"{path} is {kind}, not a training state written by edgesr train; {fix}")


def saved_settings(out: Path, state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The run's settings: from ``last.pt``, else from ``config.json``, else None."""
    if state is not None:
        return dict(state["config"])
    p = out / "config.json"
    if not p.is_file():
        return None
    try:
        cfg = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelFormatError(f"{p} is not valid JSON ({e}); start over without --resume or fix the file") from None
    if not isinstance(cfg, dict):
        raise ModelFormatError(f"{p} does not hold a train config; start over without --resume or fix the file")
    cfg.pop("arch", None)
    cfg.pop("run", None)  # what the run resolved (precision, device), not a setting
    return cfg


def diff_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> Changes:
    """Settings (plain-dict form) that differ, as ``{name: (old, new)}``; runtime fields are ignored."""
    return {k: (old.get(k), v) for k, v in new.items() if k not in RUNTIME_FIELDS and old.get(k) != v}


def log_changes(changes: Changes, source: str) -> None:
    for k, (a, b) in changes.items():
        log.warning("resume: %s %s -> %s (from %s)", k, json.dumps(a), json.dumps(b), source)


def record_changes(out: Path, step: int, changes: Changes, source: str) -> None:
    """Append one line to ``config_changes.jsonl`` (``config.json`` keeps the original settings)."""
    if not changes:
        return
    rec = {"step": step, "source": source, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "changes": {k: [a, b] for k, (a, b) in changes.items()}}
    with open(out / CHANGES_FILE, "a") as f:
        f.write(json.dumps(rec) + "\n")


def truncate_log(path: Path, step: int) -> int:
    """Drop ``log.jsonl`` records after ``step`` (and a line cut short by a kill); returns how many.
    What is a record is :func:`edgesr.training.log.parse_record`, the rule every reader applies."""
    if not path.is_file():
        return 0
    keep, dropped = [], 0
    for line in path.read_text().splitlines():
        rec = parse_record(line)
        if rec is not None and isinstance(rec.get("step"), int) and rec["step"] <= step:
            keep.append(line)
        else:
            dropped += 1
    if dropped:
        atomic_write_text(path, "".join(f"{line}\n" for line in keep))
        log.info("resume: dropped %d log records after step %d from %s", dropped, step, path)
    return dropped
