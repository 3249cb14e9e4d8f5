"""The stable mode (edgesr/video/temporal.py): still regions stop changing, motion passes, scene cuts and new
videos reset the state, and no frame is dropped or reordered."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import edgesr
from edgesr.errors import ConfigError
from edgesr.video.temporal import TemporalConfig, TemporalFilter, temporal_config

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: sibling helper
from video_testlib import make_clip, probe  # noqa: E402


def _noisy_still(photo: np.ndarray, n: int, sigma: float = 3.0) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = photo[:64, :96].astype(np.float32)
    return [np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]


def test_still_frames_change_less_and_motion_passes(photo: np.ndarray) -> None:
    frames = _noisy_still(photo, 12)
    f = TemporalFilter()
    out = [f(x) for x in frames]
    change = lambda seq: np.mean([np.abs(b.astype(float) - a).mean() for a, b in zip(seq, seq[1:])])  # noqa: E731
    assert change(out) < 0.7 * change(frames)  # noise that changes frame to frame is filtered out
    assert np.array_equal(out[0], frames[0])  # the first frame passes as is
    moved = np.roll(frames[-1], 8, axis=1)  # an edge-rich frame shifted by 8 px: real motion
    y = f(moved)
    edges = np.abs(moved.astype(float) - frames[-1]).max(axis=2) > 60
    assert np.abs(y.astype(float) - moved)[edges].mean() < 1.0  # no ghost of the previous frame


def test_scene_cut_and_size_change_reset_the_state(photo: np.ndarray) -> None:
    f = TemporalFilter()
    a = _noisy_still(photo, 3)
    for x in a:
        f(x)
    other = np.ascontiguousarray(255 - a[0])  # a different scene
    assert np.array_equal(f(other), other) and f.cuts == 1
    small = a[0][:32, :48].copy()
    assert np.array_equal(f(small), small)  # a new size starts again too
    f.reset()
    assert np.array_equal(f(a[1]), a[1])


def test_non_uint8_frames_pass_untouched() -> None:
    f = TemporalFilter()
    x = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    assert f(x) is x and f(x) is x


def test_config_values_are_checked() -> None:
    assert temporal_config(False) is None and temporal_config(True) == TemporalConfig()
    assert temporal_config("flow").flow and temporal_config({"strength": 0.3}).strength == 0.3
    with pytest.raises(ConfigError, match="strength"):
        TemporalConfig(strength=1.0)
    with pytest.raises(ConfigError, match="temporal="):
        temporal_config("smooth")


def test_upscaler_temporal_filters_before_the_model(photo: np.ndarray) -> None:
    frames = _noisy_still(photo, 6)
    up = edgesr.Upscaler("edge_nano_x2", temporal=True)
    plain = edgesr.Upscaler("edge_nano_x2")
    ref = TemporalFilter(up.temporal)
    for x in frames:
        assert np.array_equal(up.run(x), plain.run(ref(x)))  # the same filter, then the same model
    up.reset()
    assert np.array_equal(up.run(frames[0]), plain.run(frames[0]))


def _decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def test_video_file_keeps_every_frame_in_order(tmp_path: Path) -> None:
    from conftest import tiny_model

    src = make_clip(tmp_path / "in.mp4", frames=20, fps=25, audio=True)
    dst = tmp_path / "out.mp4"
    model = tiny_model("edge", 2)
    edgesr.upscale_video(src, dst, edgesr.Upscaler(model, temporal=True))
    out = probe(dst)
    assert out.frames == 20 and (out.width, out.height) == (192, 128) and out.audio
    same = edgesr.Upscaler(model, temporal=True)  # the same stable mode, fed the decoded frames in order
    refs = [same.run(f).astype(np.float32) for f in _decode(src)]
    got = _decode(dst)
    nearest = [int(np.argmin([np.mean((g.astype(np.float32) - r) ** 2) for r in refs])) for g in got]
    assert nearest == list(range(20))  # each output frame is its own input frame's, in order, none dropped


def test_flow_mode_follows_a_camera_pan(photo: np.ndarray) -> None:
    """Under a 2 px pan the unwarped previous frame is gated off; only a working warp can still remove noise."""
    rng = np.random.default_rng(1)
    clean = [np.roll(photo[:96, :128].astype(np.float32), 2 * t, axis=1) for t in range(6)]
    noisy = [np.clip(c + rng.normal(0, 3, c.shape), 0, 255).astype(np.uint8) for c in clean]
    inner = (slice(8, -8), slice(16, -16))  # away from the wrapped border
    err = lambda a, b: float(np.abs(a[inner].astype(np.float32) - b[inner]).mean())  # noqa: E731
    for cfg, should_help in ((TemporalConfig(flow=True), True), (TemporalConfig(flow=False), False)):
        f = TemporalFilter(cfg)
        outs = [f(x) for x in noisy]
        gain = np.mean([err(o, c) for o, c in zip(outs[1:], clean[1:])]) / np.mean(
            [err(x, c) for x, c in zip(noisy[1:], clean[1:])])
        assert (gain < 0.9) == should_help, (cfg, gain)
