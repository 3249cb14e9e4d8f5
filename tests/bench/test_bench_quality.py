"""A model that fails its quality guard is timed but marked, never ranked (issue 25: `edgesr bench` logged
`INT8 drop 0.982 dB > 0.30 dB` and then ranked that INT8 row like any other)."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from conftest import tiny_model  # type: ignore[import-not-found]
from edgesr.bench.result import BenchResult, Cell, fastest_lines, fastest_precision, summarize
from edgesr.bench.rows import guard_verdict
from edgesr.calibration import QuantReport

FAILED = "INT8 quality guard failed: drop 0.982 dB > 0.30 dB"


def _report(passed: bool | None, drop: float | None = 0.982) -> QuantReport:
    q = None if drop is None else {"drop_db": drop}
    return QuantReport("q.onnx", "percentile", "uint8", "int8", True, False, 6, 2, 0.3, quality=q, passed=passed)


def test_guard_verdict_names_the_figures() -> None:
    assert guard_verdict(_report(False)) == FAILED
    assert guard_verdict(_report(True, 0.05)) == "" and guard_verdict(_report(None, None)) == ""


def _cell(prec: str, fps: float, failed: str = "", row: str | None = None, kind: str = "edgesr") -> Cell:
    return Cell(row or f"edgesr onnxruntime cpu {prec}", kind, "onnxruntime", prec, "cpu", "360p", (360, 640),
                fps=fps, quality_failed=failed)


def test_a_failed_row_is_marked_and_left_out_of_every_ranking() -> None:
    res = BenchResult({}, {}, {}, {}, [_cell("fp32", 10.0), _cell("int8", 16.0, FAILED),
                                       _cell("fp32", 5.0, row="opencv FSRCNN", kind="peer")])
    assert fastest_precision(res) == {}  # int8 would have "won" at 1.6x
    assert fastest_lines(res).splitlines() == [f"not ranked: edgesr onnxruntime cpu int8 ({FAILED}; its frames/s "
                                               "are in the table, its output is not what FP32 gives)"]
    int8_line = next(x for x in res.table().splitlines() if "int8" in x)
    assert int8_line.rstrip().endswith(f"NOT RANKED: {FAILED}")
    assert "int8" not in summarize(res) and "fp32 vs opencv FSRCNN: 360p 2.00x" in summarize(res)
    back = BenchResult.from_dict(res.to_dict())  # the record keeps it
    assert back.cell("edgesr onnxruntime cpu int8", "360p").quality_failed == FAILED
    assert BenchResult.from_dict({**res.to_dict(), "cells": [{k: v for k, v in c.items() if k != "quality_failed"}
                                                             for c in res.to_dict()["cells"]]}).cells  # old records


def test_run_bench_marks_a_real_int8_model_that_fails_its_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real quantizer and guard on a tiny model, with a threshold no INT8 model meets (and no repair)."""
    import edgesr
    import edgesr.calibration as calibration
    from edgesr.bench.run import BenchConfig, run_bench

    strict = functools.partial(calibration.quantize_onnx, threshold_db=-100.0, max_auto_exclude=0)
    monkeypatch.setattr(calibration, "quantize_onnx", strict)
    pt = edgesr.save_model(tiny_model("edge", 2), tmp_path / "tiny.pt")
    res = run_bench(BenchConfig(model=str(pt), sizes=("360p",), rows=("onnxruntime cpu",), budget_s=0.05,
                                min_iters=1, peak_s=0.1, device="cpu", trace_memory=False, full=True))
    int8 = res.cell("edgesr onnxruntime cpu int8", "360p")
    fp32 = res.cell("edgesr onnxruntime cpu fp32", "360p")
    assert int8 is not None and int8.status == "ok" and int8.fps and int8.quality_failed.startswith(
        "INT8 quality guard failed: drop ")
    assert fp32 is not None and fp32.quality_failed == ""
    assert fastest_precision(res) == {} and "not ranked: edgesr onnxruntime cpu int8" in fastest_lines(res)
