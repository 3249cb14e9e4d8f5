"""edgesr.training.log: the one reader of log.jsonl (plain, gzipped, cut short by a kill), beside its writer."""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from edgesr.training.log import final_loss, parse_record, read_log, steps_per_s
from edgesr.training.state import truncate_log

RECS = [{"step": s, "time": float(s), "primal": 1.0 / s, "dual": 0.5} for s in range(1, 21)]


def _text(recs: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in recs)


def test_plain_gz_and_folder_skip_a_line_cut_short(tmp_path: Path) -> None:
    cut = _text(RECS) + '{"step": 21, "ti'  # what a kill during a write leaves
    (tmp_path / "log.jsonl").write_text(cut)
    packed = tmp_path / "packed"
    packed.mkdir()
    (packed / "log.jsonl.gz").write_bytes(gzip.compress(cut.encode(), mtime=0))
    assert read_log(tmp_path / "log.jsonl") == read_log(packed / "log.jsonl.gz") == RECS
    assert read_log(tmp_path) == read_log(packed) == RECS  # a run folder: plain first, else gzipped
    whole = gzip.compress(_text(RECS).encode(), mtime=0)
    (packed / "log.jsonl.gz").write_bytes(whole[: len(whole) - 12])  # the gzip stream itself cut short
    got = read_log(packed)
    assert got and got == RECS[: len(got)]
    assert parse_record("") is None and parse_record("[1, 2]") is None and parse_record('{"step": 1}') == {"step": 1}


def test_missing_log(tmp_path: Path) -> None:
    assert read_log(tmp_path / "nope", missing_ok=True) == [] and read_log(tmp_path, missing_ok=True) == []
    with pytest.raises(FileNotFoundError, match="no training log at"):
        read_log(tmp_path / "log.jsonl")


def test_steps_per_s_over_resumed_segments_and_final_loss(tmp_path: Path) -> None:
    resumed = RECS[:10] + [{"step": s, "time": float(s - 10) * 2, "primal": 0.1} for s in range(11, 21)]
    (tmp_path / "log.jsonl").write_text(_text(resumed))
    sps, timed = steps_per_s(tmp_path / "log.jsonl")
    assert timed == 18 and sps == pytest.approx(18 / (9 + 18))  # step 11 only restarts the clock
    assert steps_per_s(resumed) == (sps, timed)
    assert math.isnan(steps_per_s(RECS[:1])[0])
    assert final_loss(resumed) == pytest.approx(0.1)  # the last tenth: steps 19 and 20
    assert final_loss(RECS, "dual") == 0.5


def test_truncate_log_uses_the_same_record_rule(tmp_path: Path) -> None:
    p = tmp_path / "log.jsonl"
    p.write_text(_text(RECS) + "\n" + '{"step": 21, "ti')
    assert truncate_log(p, 15) == 7  # steps 16-20, the blank line and the cut-short one
    assert read_log(p) == RECS[:15]
