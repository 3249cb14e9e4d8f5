"""edgesr doctor: runs on this machine, names every gap with a fix, never crashes on TensorRT."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgesr.bench.doctor import diagnose, jetson_info, tensorrt_installed


@pytest.fixture(scope="module")
def report():
    return diagnose()


def test_report_covers_every_component(report) -> None:
    names = {c.name for c in report.checks}
    for n in ("platform", "Jetson", "GPU", "CUDA host API", "TensorRT", "DLA cores", "ONNX Runtime"):
        assert n in names
    for c in report.checks:
        if c.status in ("missing", "warn"):
            assert c.fix, f"{c.name} has no fix"


def test_usable_backends_match_this_machine(report) -> None:
    import onnxruntime as ort
    import torch

    assert report.usable["pytorch cpu"] == ["fp32"]
    assert report.usable["onnxruntime cpu"] == ["fp32", "int8"]
    assert ("pytorch cuda" in report.usable) == torch.cuda.is_available()
    assert ("onnxruntime cuda" in report.usable) == ("CUDAExecutionProvider" in ort.get_available_providers())
    if not (tensorrt_installed() and torch.cuda.is_available()):
        assert "tensorrt" in report.unusable and "fix" in report.unusable["tensorrt"]
    trt = next(c for c in report.checks if c.name == "TensorRT")
    if not tensorrt_installed():
        assert trt.status == "missing" and "pip install" in trt.fix


def test_jetson_release_files_are_parsed(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text(
        "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023\n")
    (tmp_path / "proc" / "device-tree").mkdir(parents=True)
    (tmp_path / "proc" / "device-tree" / "model").write_bytes(b"NVIDIA Jetson AGX Orin Developer Kit\x00")
    info = jetson_info(str(tmp_path))
    assert info == {"model": "NVIDIA Jetson AGX Orin Developer Kit", "l4t": "35.4.1", "jetpack": "5.1.2"}
    assert jetson_info(str(tmp_path / "nothing")) is None


def test_cli_doctor_text_and_json() -> None:
    r = subprocess.run([sys.executable, "-m", "edgesr", "doctor"], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert "TensorRT" in r.stdout and "usable backends and precisions:" in r.stdout
    assert "[ok]  onnxruntime cpu: fp32, int8" in r.stdout
    r = subprocess.run([sys.executable, "-m", "edgesr", "doctor", "--json", "--no-trt-probe"], capture_output=True,
                       text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {"checks", "usable", "unusable"} <= set(d)
