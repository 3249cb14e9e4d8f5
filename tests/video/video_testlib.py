"""Helpers shared by the video tests: make a real clip (H.264 + AAC) with PyAV, probe a file by
decoding it, and build the real Upscaler on a tiny model."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import av
import numpy as np

from conftest import tiny_model


def real_upscaler(scale: int) -> Any:
    """The real ``edgesr.Upscaler`` (PyTorch backend) on a tiny seeded model."""
    from edgesr.upscaler import Upscaler

    return Upscaler(tiny_model("edge", scale))


def make_clip(path: Path, frames: int = 30, fps: int = 25, audio: bool = True, size: tuple[int, int] = (96, 64)) -> Path:
    """A moving-gradient H.264 clip with (optionally) a 440 Hz AAC track of the same duration."""
    w, h = size
    opts = {"movflags": "faststart"} if path.suffix == ".mp4" else {}
    with av.open(str(path), "w", options=opts) as c:
        v = c.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = None
        if audio:
            a = c.add_stream("aac", rate=44100, layout="mono")
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(frames):
            img = np.stack([(xx * 2 + i * 5) % 256, (yy * 3 + i * 3) % 256, (xx + yy + i * 7) % 256], -1)
            f = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="bgr24")
            f.pts = i
            f.time_base = Fraction(1, fps)
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        if a is not None:
            n = int(44100 * frames / fps)
            t = np.arange(n) / 44100
            pcm = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for s in range(0, n, 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, s:s + 1024]), format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = 44100, s, Fraction(1, 44100)
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)
    return path


@dataclass
class Probe:
    frames: int
    rate: Fraction
    duration: float
    width: int
    height: int
    codec: str
    audio: bool
    audio_codec: str | None
    audio_packets: int
    audio_bytes: int
    last_mean: float


def probe(path: Path) -> Probe:
    """Decode every video frame (counted, not trusted from the header) and count audio packets."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        n, last_pts, last, ap, ab = 0, None, None, 0, 0
        for pkt in c.demux(*([v] + ([a] if a is not None else []))):
            if pkt.size == 0:
                continue
            if pkt.stream.type == "audio":
                ap, ab = ap + 1, ab + pkt.size
                continue
            for f in pkt.decode():
                n += 1
                last_pts = f.pts if last_pts is None else max(last_pts, f.pts)
                last = f
        for f in v.codec_context.decode(None):
            n += 1
            last_pts = max(last_pts or 0, f.pts)
            last = f
        rate = Fraction(v.average_rate)
        start = v.start_time or 0
        duration = float((last_pts - start) * v.time_base + 1 / rate) if last_pts is not None else 0.0
        mean = float(last.to_ndarray(format="bgr24").mean()) if last is not None else 0.0
        return Probe(n, rate, duration, v.codec_context.width, v.codec_context.height, v.codec_context.name,
                     a is not None and ap > 0, a.codec_context.name if a is not None else None, ap, ab, mean)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Decode/encode threads plus 2 model threads thrash a 2-core CI box: video tests use 1 (import
    this fixture into a test module to apply it there)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class GatedSource:
    """A live source driven by the test, not by a clock: ``read`` blocks until the test ``release``s
    frames, and stamps each frame when it is released (its "arrival"). ``wait_reader(n)`` returns once
    the reader thread has taken frame ``n - 1`` and asks for the next one (or the source ended), so a
    consumer can make "the model is slower than the camera" happen exactly, on any machine."""

    live = True
    fps: float | None = 30.0

    def __init__(self, frames: list[np.ndarray]) -> None:
        import threading

        self._frames, self._released, self._asked = frames, 0, 0
        self._cond = threading.Condition()
        self.stamps: list[float] = []

    def release(self, n: int) -> None:
        import time

        with self._cond:
            for _ in range(min(n, len(self._frames) + 1 - self._released)):
                self._released += 1
                self.stamps.append(time.monotonic())
            self._cond.notify_all()

    def read(self) -> Any:
        from edgesr.video.sources import Frame

        with self._cond:
            i = self._asked
            self._asked += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._released > i)
            return None if i >= len(self._frames) else Frame(self._frames[i], i, self.stamps[i])

    def wait_reader(self, n: int) -> None:
        """Until frames ``0..n-1`` were delivered and the reader asks for frame ``n`` (taken ones are stored)."""
        with self._cond:
            self._cond.wait_for(lambda: self._asked > min(n, len(self._frames)))

    def close(self) -> None:
        pass


class SlowerThanSource:
    """Wraps an upscaler: after each ``run`` the camera delivers ``per_run`` more frames before the result is
    returned, i.e. a model exactly ``per_run`` times slower than its source. Records when each run started."""

    def __init__(self, upscaler: Any, source: GatedSource, per_run: int, wait: bool = True) -> None:
        self.upscaler, self.source, self.per_run, self.wait = upscaler, source, per_run, wait
        self.delivered = 1
        self.run_started: list[float] = []
        source.release(1)

    def run(self, img: np.ndarray) -> np.ndarray:
        import time

        self.run_started.append(time.monotonic())
        out = self.upscaler.run(img)
        self.source.release(self.per_run)
        self.delivered += self.per_run
        if self.wait:  # the reader thread has stored the newest of them before the model is free again
            self.source.wait_reader(self.delivered)
        return out
