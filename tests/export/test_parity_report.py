"""The parity line says what was checked (issue 25: INT8 export printed `(tol inf)`)."""
from __future__ import annotations

from pathlib import Path

import edgesr
from edgesr.export.parity import ParityReport


def test_report_line_names_the_limits_that_apply() -> None:
    fp32 = ParityReport(2e-4, 61.3, 1e-3, None, (1, 3, 128, 128), (1, 3, 256, 256))
    assert str(fp32) == "OK: max abs diff 0.0002 (tol 0.001), PSNR 61.30 dB, input 1x3x128x128"
    int8 = ParityReport(0.11, 41.2, float("inf"), 25.0, (1, 3, 128, 128), (1, 3, 256, 256))
    assert str(int8) == "OK: max abs diff 0.11 (no limit), PSNR 41.20 dB (min 25), input 1x3x128x128"
    low = ParityReport(0.3, 21.0, float("inf"), 25.0, (1, 3, 64, 64), (1, 3, 128, 128))
    assert str(low).startswith("FAILED:") and "(min 25)" in str(low)


def test_int8_export_prints_no_inf(tmp_path: Path, image_folder: Path, capsys) -> None:
    from edgesr.cli import main

    pt = edgesr.save_model(edgesr.create_model("edge_tiny", scale=2, n_feats=8, n_blocks=1), tmp_path / "m.pt")
    assert main(["export", "onnx", str(pt), "-o", str(tmp_path / "q.onnx"), "--int8", "--calib",
                 str(image_folder)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("parity (ONNX Runtime vs PyTorch)"))
    assert "inf" not in line and "(no limit)" in line and "(min 25)" in line
