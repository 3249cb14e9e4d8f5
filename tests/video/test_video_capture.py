"""GStreamer builders (pure strings), source classification, the paced (simulated live) source,
the newest-frame reader and reconnection with backoff."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgesr.video.sources import (APPSINK, LatestFrameReader, PacedSource, ReconnectingSource, csi_pipeline,
                            rtsp_pipeline, source_kind, usb_pipeline)
from edgesr.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: sibling helper
from video_testlib import GatedSource  # noqa: E402


def test_csi_pipeline_string() -> None:
    s = csi_pipeline(sensor_id=1, width=1920, height=1080, fps=30, flip=2, out_width=960, out_height=540)
    assert s.startswith("nvarguscamerasrc sensor-id=1 ! ")
    assert "video/x-raw(memory:NVMM), width=1920, height=1080, framerate=30/1, format=NV12" in s
    assert "nvvidconv flip-method=2 ! video/x-raw, width=960, height=540, format=BGRx" in s
    assert s.endswith("video/x-raw, format=BGR ! appsink drop=1 max-buffers=1")


def test_usb_pipeline_string() -> None:
    assert usb_pipeline(1, 640, 480, 30) == (
        "v4l2src device=/dev/video1 ! video/x-raw, width=640, height=480, framerate=30/1 ! "
        "videoconvert ! video/x-raw, format=BGR ! appsink drop=1 max-buffers=1")
    mj = usb_pipeline("/dev/video0", 1280, 720, 60, mjpeg=True)
    assert "image/jpeg, width=1280, height=720, framerate=60/1 ! jpegdec ! videoconvert" in mj


def test_rtsp_pipeline_string() -> None:
    hw = rtsp_pipeline("rtsp://cam/stream", codec="h265", latency_ms=100)
    assert hw == ("rtspsrc location=rtsp://cam/stream latency=100 ! rtph265depay ! h265parse ! "
                  "nvv4l2decoder ! nvvidconv ! video/x-raw, format=BGRx ! videoconvert ! "
                  "video/x-raw, format=BGR ! appsink drop=1 max-buffers=1")
    sw = rtsp_pipeline("rtsp://cam/stream", hardware=False)
    assert "avdec_h264 ! videoconvert" in sw and "nvv4l2decoder" not in sw
    for p in (hw, sw, csi_pipeline(), usb_pipeline()):
        assert p.endswith(APPSINK)


@pytest.mark.parametrize("call", [
    lambda: csi_pipeline(fps=0), lambda: csi_pipeline(flip=9), lambda: usb_pipeline("video0"),
    lambda: rtsp_pipeline("http://x"), lambda: rtsp_pipeline("rtsp://x", codec="vp9"),
    lambda: rtsp_pipeline("rtsp://x", latency_ms=-1)])
def test_builders_reject_bad_values(call) -> None:
    with pytest.raises(ConfigError):
        call()


def test_source_kind(tmp_path) -> None:
    (tmp_path / "a.png").write_bytes(b"")
    assert source_kind(0) == "camera" and source_kind("2") == "camera"
    assert source_kind("rtsp://10.0.0.2/live") == "network"
    assert source_kind("https://example.com/v.m3u8") == "network"
    assert source_kind(usb_pipeline()) == "gstreamer"
    assert source_kind(tmp_path) == "folder"
    assert source_kind(tmp_path / "a.png") == "image"
    assert source_kind(tmp_path / "clip.mp4") == "video"


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((8, 8, 3), i % 256, np.uint8) for i in range(n)]


def test_paced_source_keeps_its_rate() -> None:
    src = PacedSource(_frames(11), fps=50)
    t0 = time.monotonic()
    stamps = []
    while (fr := src.read()) is not None:
        stamps.append(fr.captured)
    assert len(stamps) == 11
    # stamped when due (as a camera's own clock), 20 ms apart, and read() never returns a frame early
    assert np.allclose(np.diff(stamps), 0.02, atol=1e-9)
    assert time.monotonic() - t0 >= stamps[-1] - stamps[0]


def test_latest_frame_reader_drops_stale_frames() -> None:
    """A consumer slower than the source, by construction: 4 new frames arrive per frame it takes."""
    src = GatedSource(_frames(40))
    r = LatestFrameReader(src)
    src.release(1)
    got, delivered = [], 1
    while (fr := r.get()) is not None:
        got.append(fr.index)
        src.release(4)
        delivered += 4
        src.wait_reader(delivered)
    r.close()
    assert r.frames_in == 40
    assert got == list(range(0, 40, 4)) + [39]  # always the newest, the last one included
    assert r.drops == 40 - len(got) == 29


class _RecordedWaits(threading.Event):
    """The reconnect backoff's clock: records each wait instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0.0))
        return self.is_set()


def test_reconnecting_source_reopens_with_backoff() -> None:
    opened = []

    def opener() -> PacedSource:  # each "connection" delivers 5 frames, then the stream is lost
        opened.append(len(opened))
        if len(opened) > 3:
            raise ConnectionError("camera gone")
        return PacedSource(_frames(5), fps=500)

    src = ReconnectingSource(opener, max_retries=2, backoff=0.02)
    src._closed = waits = _RecordedWaits()
    n = 0
    while src.read() is not None:
        n += 1
    assert n == 15 and src.reconnects == 2
    assert len(opened) == 5
    # a reconnect after each lost connection (backoff 0.02 s, reset by success); after the last good one
    # the backoff doubles: +0.02 s, +0.04 s, then it gives up
    assert waits.waits == [0.02, 0.02, 0.02, 0.04]
