"""Reading a run's ``log.jsonl``, beside its writer (:mod:`edgesr.training.loop` appends one JSON record per
step; :func:`edgesr.training.state.truncate_log` cuts it back on resume).

A record is ``{"step", "loss", "primal", "dual", "lr", "time", ...}`` (``val_psnr`` on validation steps);
``time`` is seconds since the start of the run's current segment, so it restarts at 0 on each resume.
:func:`read_log` takes the plain file, its gzipped copy (``log.jsonl.gz``, how committed checkpoint folders
keep it) or a run folder, and skips a line cut short by a kill (and a gzip stream cut short). Nothing here
imports torch beyond what ``edgesr.training`` itself loads.
"""
from __future__ import annotations

import json
import logging
import os
import statistics
import zlib
from pathlib import Path
from typing import Any, Sequence, Union

log = logging.getLogger(__name__)

LOG_FILE = "log.jsonl"
Records = Sequence[dict[str, Any]]
LogLike = Union[str, "os.PathLike[str]", Records]


def parse_record(line: str) -> dict[str, Any] | None:
    """One ``log.jsonl`` line -> its record; ``None`` for a blank line, one cut short or anything not a record."""
    if not line.strip():
        return None
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return None
    return rec if isinstance(rec, dict) else None


def _gunzip(data: bytes) -> bytes:
    """Every byte a (possibly cut short, possibly multi-member) gzip stream holds."""
    out = []
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out.append(d.decompress(data))
        except zlib.error:  # garbage after the last member, or a corrupt one: keep what came before
            break
        if not d.eof:  # cut short: what it held so far
            break
        data = d.unused_data
    return b"".join(out)


def _log_file(path: Path) -> Path | None:
    if path.is_dir():
        for name in (LOG_FILE, LOG_FILE + ".gz"):
            if (path / name).is_file():
                return path / name
        return None
    return path if path.is_file() else None


def read_log(path: str | os.PathLike[str], missing_ok: bool = False) -> list[dict[str, Any]]:
    """The records of a ``log.jsonl``, a ``log.jsonl.gz`` or a run folder (its ``log.jsonl``, else its
    ``log.jsonl.gz``), in order. Lines that are not records (a last line cut short by a kill) are skipped.
    A missing log is ``[]`` with ``missing_ok``, else a FileNotFoundError naming it."""
    p = Path(path)
    f = _log_file(p)
    if f is None:
        if missing_ok:
            return []
        raise FileNotFoundError(f"no training log at {p} (expected {LOG_FILE} or {LOG_FILE}.gz)")
    raw = f.read_bytes()
    text = (_gunzip(raw) if f.suffix == ".gz" else raw).decode("utf-8", errors="replace")
    lines = text.splitlines()
    recs = [r for r in map(parse_record, lines) if r is not None]
    skipped = sum(1 for line in lines if line.strip()) - len(recs)
    if skipped:
        log.debug("%s: skipped %d line(s) that are not records (cut short by a kill?)", f, skipped)
    return recs


def records(log_or_records: LogLike) -> list[dict[str, Any]]:
    """A path (see :func:`read_log`) or records already read -> the records."""
    if isinstance(log_or_records, (str, os.PathLike)):
        return read_log(log_or_records)
    return list(log_or_records)


def steps_per_s(log_or_records: LogLike) -> tuple[float, int]:
    """Training steps/s over every logged step: ``time`` restarts at 0 in a resumed segment, whose first step
    is then only the new segment's reference point. Returns (steps/s, steps timed); NaN when none was."""
    steps, secs, prev = 0, 0.0, None
    for r in records(log_or_records):
        if prev is not None and r["step"] == prev["step"] + 1 and r["time"] > prev["time"]:
            steps, secs = steps + 1, secs + r["time"] - prev["time"]
        prev = r
    return (steps / secs if secs > 0 else float("nan")), steps


def final_loss(log_or_records: LogLike, key: str = "primal") -> float:
    """Mean ``key`` loss over the last tenth of the records that have it (at least one record)."""
    recs = [r for r in records(log_or_records) if key in r]
    if not recs:
        raise ValueError(f"no {key!r} loss in the training log")
    return statistics.fmean(float(r[key]) for r in recs[-max(1, len(recs) // 10):])


__all__ = ["LOG_FILE", "final_loss", "parse_record", "read_log", "records", "steps_per_s"]
