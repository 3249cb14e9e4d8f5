"""mypy --strict of the TensorRT calibrator against tensorrt-stubs (TensorRT itself cannot run here).

tensorrt-stubs 10.13 ships without a py.typed marker and with syntax errors, so mypy ignores it as
installed. The test repairs a copy with scripts/trt_stubs.py (the same repair scripts/typecheck.sh
uses) and type-checks a copy of the calibration package laid out as ``edgesr/calibration`` (mypy
cannot see the editable install's mapped folders; conventions.md).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _trt_stubs():  # scripts/trt_stubs.py, the one stub-repair implementation
    spec = importlib.util.spec_from_file_location("trt_stubs", ROOT / "scripts" / "trt_stubs.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_trt_calibrator_typechecks_against_tensorrt_stubs(tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None or importlib.util.find_spec("tensorrt_stubs") is None:
        pytest.skip("needs mypy and tensorrt-stubs (pip install 'edgesr[test]')")
    stubs = _trt_stubs().repair_stubs(tmp_path / "stubs")
    pkg = tmp_path / "src" / "edgesr"
    shutil.copytree(ROOT / "calibration", pkg / "calibration", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, MYPYPATH=str(stubs))
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports", "--follow-imports=silent",
                        "--no-incremental", "--cache-dir", str(tmp_path / "cache"), "edgesr/calibration/trt.py"],
                       cwd=tmp_path / "src", env=env, capture_output=True, text=True, timeout=600)
    ours = [ln for ln in r.stdout.splitlines() if ln.startswith("edgesr/")]
    assert not ours, "\n".join(ours)
    assert "Class cannot subclass" not in r.stdout  # the stubs really were used (not Any)
