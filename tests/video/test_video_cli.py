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


def _cli(*args: str, sigterm_at: int) -> list[str]:
    """The real CLI in a child process, one torch thread (the 2-core CI box), which sends itself SIGTERM as
    it starts upscaling frame ``sigterm_at``: the signal lands mid-run on any machine, not by a timer."""
    child = ("import os, signal, sys, edgesr.upscaler as u; run = u.Upscaler.run; n = [0]\n"
             "def counted(self, f, out=None):\n"
             "    n[0] += 1\n"
             f"    if n[0] == {sigterm_at}: os.kill(os.getpid(), signal.SIGTERM)\n"
             "    return run(self, f, out)\n"
             "u.Upscaler.run = counted\n"
             "from edgesr.cli import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", child, *args]


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def test_sigterm_leaves_playable_partial_with_audio(tmp_path: Path, model_pt: Path) -> None:
    import subprocess

    src = make_clip(tmp_path / "in.mp4", frames=80, fps=25, audio=True)
    dst = tmp_path / "up.mp4"
    tmp = dst.with_name(".up.tmp.mp4")
    p = subprocess.run(_cli("upscale", str(src), "-o", str(dst), "--model", str(model_pt), "--preset",
                            "ultrafast", "--no-progress", sigterm_at=40),
                       capture_output=True, text=True, env=_env(), timeout=600)
    out, err = p.stdout, p.stderr
    assert p.returncode == 143, (out, err)
    assert "terminated (SIGTERM); playable partial output:" in err and "up.partial.mp4" in err
    assert not dst.exists() and not tmp.exists()
    part = probe(tmp_path / "up.partial.mp4")
    assert 0 < part.frames < 80 and part.audio


def test_camera_that_cannot_open_is_one_clear_line(tmp_path: Path) -> None:
    import subprocess

    r = subprocess.run([sys.executable, "-m", "edgesr", "upscale", "--camera", "97", "--max-frames", "1"],
                       capture_output=True, text=True, env=_env(), timeout=120)
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert r.returncode == 2 and len(lines) <= 2, lines  # no OpenCV backend noise
    assert "cannot open camera source 97" in lines[-1] and "check that the camera is connected" in lines[-1]
