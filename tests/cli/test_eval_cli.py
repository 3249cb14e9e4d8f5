"""`edgesr eval`'s summary line: the difference to bicubic carries its own sign (issue 25: `(+-2.58 dB)`)."""
from __future__ import annotations

import re
from pathlib import Path

import edgesr
from conftest import tiny_model
from edgesr.cli import main


def test_a_model_below_bicubic_reads_minus(tmp_path: Path, image_folder: Path, capsys) -> None:
    pt = edgesr.save_model(tiny_model("edge", 2), tmp_path / "untrained.pt")  # untrained: far below bicubic
    assert main(["eval", str(pt), "--data", str(image_folder)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.search(r"PSNR (\d+\.\d\d) dB .*bicubic: (\d+\.\d\d) dB .*\(([-+]\d+\.\d\d) dB\)$", line)
    assert m and "+-" not in line, line
    psnr, bicubic, diff = (float(v) for v in m.groups())
    assert diff < 0 and abs(psnr - bicubic - diff) <= 0.011
