"""edgesr upscale: image, folder, video file, a file played as a live source, and clear errors."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import pytest

from edgesr.cli import main
from edgesr.models import save_model

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: sibling helper
from video_testlib import make_clip, one_torch_thread, probe  # noqa: E402,F401  (autouse fixture)
from conftest import tiny_model  # noqa: E402


@pytest.fixture
def model_pt(tmp_path: Path) -> Path:
    p = tmp_path / "tiny_x2.pt"
    save_model(tiny_model("edge", 2), p)
    return p



def test_image_and_folder(image_folder: Path, model_pt: Path, tmp_path: Path) -> None:
    one = tmp_path / "one.png"
    assert main(["upscale", str(image_folder / "img0.png"), "-o", str(one), "--model", str(model_pt)]) == 0
    assert cv2.imread(str(one)).shape == (320, 320, 3)
    out = tmp_path / "out"
    assert main(["upscale", str(image_folder), "-o", str(out), "--model", str(model_pt)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["img0.png", "img1.png", "img2.png"]


def test_video_file_with_audio(tmp_path: Path, model_pt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=20, fps=25, audio=True)
    dst = tmp_path / "up.mp4"
    rc = main(["upscale", str(src), "-o", str(dst), "--model", str(model_pt), "--preset", "ultrafast",
               "--no-progress"])
    assert rc == 0
    out = probe(dst)
    assert out.frames == 20 and out.rate == 25 and out.audio and (out.width, out.height) == (192, 128)
    assert "20 frames at 25.000 fps" in capsys.readouterr().out


def test_truncated_video_exit_code(tmp_path: Path, model_pt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_clip(tmp_path / "in.mkv", frames=30, fps=25, audio=False)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    rc = main(["upscale", str(cut), "-o", str(tmp_path / "up.mp4"), "--model", str(model_pt), "--no-progress"])
    assert rc == 1
    msg = capsys.readouterr().out
    assert "stopped after" in msg and "up.partial.mp4" in msg
    assert probe(tmp_path / "up.partial.mp4").frames > 0


def test_realtime_file_as_live_source(tmp_path: Path, model_pt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=15, fps=30, audio=False)
    rec = tmp_path / "rec.mp4"
    assert main(["upscale", str(src), "--realtime", "-o", str(rec), "--model", str(model_pt)]) == 0
    out = capsys.readouterr().out
    assert "in 15 frames" in out and "dropped" in out and "latency p50" in out
    assert probe(rec).frames >= 1


def test_errors_name_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upscale", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4")]) == 2
    assert "input not found" in capsys.readouterr().err
    assert main(["upscale"]) == 2
    assert "--camera N" in capsys.readouterr().err
