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
