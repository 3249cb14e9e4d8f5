"""mypy --strict of the TensorRT calibrator against tensorrt-stubs (TensorRT itself cannot run here).

tensorrt-stubs 10.13 ships without a py.typed marker and with two syntax errors (a parameter
named ``in``, a non-default parameter after defaults), so mypy ignores it as installed. The test
copies the stubs, repairs exactly those two things, and type-checks a non-editable copy of the
calibration package (mypy cannot see the editable install's mapped folders; conventions.md).
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_trt_calibrator_typechecks_against_tensorrt_stubs(tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None or importlib.util.find_spec("tensorrt_stubs") is None:
        pytest.skip("needs mypy and tensorrt-stubs (pip install 'edgesr[test]')")
    site = Path(importlib.util.find_spec("tensorrt_stubs").submodule_search_locations[0]).parent  # type: ignore[union-attr,index]
    stubs = tmp_path / "stubs"
    for pkg in ("tensorrt", "tensorrt_bindings"):
        shutil.copytree(site / pkg, stubs / pkg)
    pyi = stubs / "tensorrt_bindings" / "tensorrt.pyi"
    text = re.sub(r"([(, ])in: ", r"\1in_: ", pyi.read_text())
    text = text.replace("power: Weights = None, channel_axis: int)", "power: Weights = None, channel_axis: int = 0)")
    pyi.write_text(text)
    pkg = tmp_path / "src" / "edgesr"
    shutil.copytree(ROOT / "calibration", pkg / "calibration", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, MYPYPATH=str(stubs))
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports", "--follow-imports=silent",
                        "--no-incremental", "--cache-dir", str(tmp_path / "cache"), "edgesr/calibration/trt.py"],
                       cwd=tmp_path / "src", env=env, capture_output=True, text=True, timeout=600)
    ours = [ln for ln in r.stdout.splitlines() if ln.startswith("edgesr/")]
    assert not ours, "\n".join(ours)
    assert "Class cannot subclass" not in r.stdout  # the stubs really were used (not Any)
