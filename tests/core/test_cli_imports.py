"""The CLI is a thin, lazy layer: --help never imports heavy/optional runtimes."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edgesr.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]


def _py(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_and_help_never_import_trt_or_ort():
    r = _py("import sys, edgesr; edgesr.create_model('edge_tiny', scale=2)\n"
            "from edgesr.cli import main\n"
            "import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
            "bad = [m for m in ('onnxruntime', 'tensorrt', 'pycuda', 'av') if m in sys.modules]\n"
            "print(bad)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in COMMANDS)
    assert main(["nonsense"]) == 2


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_every_subcommand_help_works(cmd):
    r = subprocess.run([sys.executable, "-m", "edgesr", cmd, "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "usage: edgesr " + cmd in r.stdout


def test_cli_eval_json_and_errors(tmp_path, image_folder, capsys):
    import edgesr
    from conftest import tiny_model

    m = edgesr.save_model(tiny_model("edge", 2), tmp_path / "m.pt")
    assert main(["eval", str(m), "--data", str(image_folder), "--json", str(tmp_path / "r.json"), "--per-image"]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["scale"] == 2 and len(rep["images"]) == 3 and rep["bicubic_psnr"] > 20
    assert main(["eval", str(tmp_path / "missing.pt"), "--data", str(image_folder)]) == 2
    assert "not found" in capsys.readouterr().err


def test_eval_handles_grayscale(tmp_path, small_photo):
    import cv2

    from edgesr.evaluation import bicubic_fn, evaluate

    (tmp_path / "g").mkdir()
    cv2.imwrite(str(tmp_path / "g" / "gray.png"), small_photo.mean(2).astype("uint8"))
    r = evaluate(bicubic_fn(2), tmp_path / "g", 2)
    assert 20 < r.psnr < 60


def test_wheel_has_only_edgesr_at_top_level(tmp_path):
    """package-dir maps export/, runtimes/, calibration/ under edgesr: nothing else may land in site-packages."""
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
                        str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    whl = next(tmp_path.glob("edgesr-*.whl"))
    names = zipfile.ZipFile(whl).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"edgesr"}
    for sub in ("edgesr/export/__init__.py", "edgesr/runtimes/__init__.py", "edgesr/calibration/__init__.py",
                "edgesr/py.typed"):
        assert sub in names
