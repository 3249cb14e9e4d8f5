"""Video defaults that fit video (issue 24): a video file, camera or stream gets the degradation-aware `_real`
model unless --model says otherwise; --temporal turns on the stable mode."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from edgesr.cli import main
from edgesr.cli.upscale import video_default_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))
from video_testlib import make_clip, probe  # noqa: E402


def test_video_default_is_the_real_model_of_the_scale() -> None:
    assert video_default_model(None) == "edge_tiny_x2_real" and video_default_model(2) == "edge_tiny_x2_real"
    assert video_default_model(4) is None  # no x4 _real bundled: the clean default stays


def test_upscale_video_uses_real_model_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=4, fps=25, audio=False, size=(48, 32))
    with caplog.at_level(logging.INFO, logger="edgesr.cli.upscale"):
        assert main(["upscale", str(src), "-o", str(tmp_path / "a.mp4"), "--no-progress", "--temporal"]) == 0
    assert any("using edge_tiny_x2_real" in r.message and "--model edge_tiny_x2" in r.message for r in caplog.records)
    assert probe(tmp_path / "a.mp4").frames == 4
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="edgesr.cli.upscale"):
        assert main(["upscale", str(src), "-o", str(tmp_path / "b.mp4"), "--no-progress",
                     "--model", "edge_nano_x2"]) == 0
    assert not any("edge_tiny_x2_real" in r.message for r in caplog.records)


def test_images_keep_the_clean_default(tmp_path: Path, photo, caplog: pytest.LogCaptureFixture) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "p.png"), photo[:32, :48])
    with caplog.at_level(logging.INFO, logger="edgesr.cli.upscale"):
        assert main(["upscale", str(tmp_path / "p.png"), "-o", str(tmp_path / "o.png")]) == 0
    assert not any("_real" in r.message for r in caplog.records)


def test_temporal_flag_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["upscale", "x.mp4", "-o", str(tmp_path / "o.mp4"), "--temporal", "smooth"])
    assert "invalid choice" in capsys.readouterr().err
