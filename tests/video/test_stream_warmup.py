"""The first frame of a stream is slow (buffers, kernel choice): the stream says so, once (issue 25)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

import edgesr
from edgesr.video.sources import PacedSource

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: sibling helper
from video_testlib import one_torch_thread, real_upscaler  # noqa: E402,F401  (autouse)


def test_first_frame_is_logged_as_warm_up_once(photo: np.ndarray, caplog: pytest.LogCaptureFixture) -> None:
    frames = [np.ascontiguousarray(photo[i * 8:i * 8 + 48, :64, ::-1]) for i in range(3)]  # real BGR crops
    with caplog.at_level(logging.INFO, logger="edgesr.video"):
        outs = list(edgesr.stream(PacedSource(frames, fps=100.0), real_upscaler(2), drop=False))
    assert len(outs) == 3
    warm = [r.getMessage() for r in caplog.records if "warm-up" in r.getMessage()]
    assert len(warm) == 1 and warm[0].startswith("first frame upscaled in ") and "64x48" in warm[0]
