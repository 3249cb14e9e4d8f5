"""Frame sources: files, cameras, network streams and GStreamer pipelines, plus the live reader.

Every source yields :class:`Frame` objects (BGR uint8 + capture timestamp) through one small
interface (``read() -> Frame | None``, ``close()``, ``live``, ``fps``) so the video pipeline and
``edgesr.stream`` never care where frames come from. Live sources are read on their own thread by
:class:`LatestFrameReader`, which keeps only the newest frame: for a camera, latency beats
completeness. The GStreamer builders are pure functions (unit-tested as strings) because a Jetson
is needed to run them, not to build them.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

NETWORK_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
APPSINK = "appsink drop=1 max-buffers=1"


@dataclass
class Frame:
    """One decoded frame: ``image`` is BGR uint8 HxWx3; ``captured`` is ``time.monotonic()`` at read.

    ``pts``/``time_base`` carry the container timestamp for files (so the output keeps the source
    timing exactly); live sources leave them ``None``.
    """

    image: np.ndarray
    index: int
    captured: float
    pts: int | None = None
    time_base: Fraction | None = None


@runtime_checkable
class Source(Protocol):
    """What the pipeline needs from a source. ``read`` returns ``None`` at the end of the stream."""

    live: bool
    fps: float | None

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


# ----------------------------------------------------------------------------------- GStreamer
def _check_positive(**kw: int | float) -> None:
    for k, v in kw.items():
        if not isinstance(v, (int, float)) or v <= 0:
            raise ConfigError(f"{k} must be a positive number, got {v!r}; pass e.g. {k}=30")


def csi_pipeline(sensor_id: int = 0, width: int = 1280, height: int = 720, fps: int = 30,
                 flip: int = 0, out_width: int | None = None, out_height: int | None = None) -> str:
    """GStreamer pipeline for a Jetson CSI camera (nvarguscamerasrc, ISP + hardware convert).

    The frame is converted to BGR by ``nvvidconv`` + ``videoconvert`` and handed to OpenCV through
    an ``appsink`` that keeps only the newest buffer (``drop=1 max-buffers=1``).
    """
    _check_positive(width=width, height=height, fps=fps)
    if flip not in range(8):
        raise ConfigError(f"flip-method must be 0..7 (nvvidconv), got {flip}; 0 = none, 2 = rotate 180")
    ow, oh = out_width or width, out_height or height
    _check_positive(out_width=ow, out_height=oh)
    return (f"nvarguscamerasrc sensor-id={int(sensor_id)} ! "
            f"video/x-raw(memory:NVMM), width={width}, height={height}, framerate={int(fps)}/1, format=NV12 ! "
            f"nvvidconv flip-method={flip} ! video/x-raw, width={ow}, height={oh}, format=BGRx ! "
            f"videoconvert ! video/x-raw, format=BGR ! {APPSINK}")


def usb_pipeline(device: str | int = "/dev/video0", width: int = 640, height: int = 480, fps: int = 30,
                 mjpeg: bool = False) -> str:
    """GStreamer pipeline for a USB (UVC) camera via v4l2src; ``mjpeg`` for cameras that need it
    at high resolution (decoded by jpegdec)."""
    _check_positive(width=width, height=height, fps=fps)
    dev = f"/dev/video{device}" if isinstance(device, int) else device
    if not dev.startswith("/dev/"):
        raise ConfigError(f"USB camera device must be /dev/videoN or an index, got {device!r}")
    caps = "image/jpeg" if mjpeg else "video/x-raw"
    decode = "jpegdec ! " if mjpeg else ""
    return (f"v4l2src device={dev} ! {caps}, width={width}, height={height}, framerate={int(fps)}/1 ! "
            f"{decode}videoconvert ! video/x-raw, format=BGR ! {APPSINK}")


def rtsp_pipeline(url: str, codec: str = "h264", latency_ms: int = 200, hardware: bool = True) -> str:
    """GStreamer pipeline for an RTSP camera; ``hardware`` decodes on the Jetson NVDEC
    (``nvv4l2decoder``), otherwise with the software ``avdec_*`` decoder."""
    if not url.startswith(("rtsp://", "rtsps://")):
        raise ConfigError(f"RTSP url must start with rtsp://, got {url!r}")
    if codec not in ("h264", "h265"):
        raise ConfigError(f"codec must be 'h264' or 'h265', got {codec!r}")
    if not isinstance(latency_ms, int) or latency_ms < 0:
        raise ConfigError(f"latency_ms must be a non-negative int, got {latency_ms!r}")
    depay, parse = f"rtp{codec}depay", f"{codec}parse"
    if hardware:
        dec = "nvv4l2decoder ! nvvidconv ! video/x-raw, format=BGRx ! videoconvert"
    else:
        dec = f"avdec_{codec} ! videoconvert"
    return (f"rtspsrc location={url} latency={latency_ms} ! {depay} ! {parse} ! {dec} ! "
            f"video/x-raw, format=BGR ! {APPSINK}")


# ------------------------------------------------------------------------------------- sources
def source_kind(spec: str | int | os.PathLike[str]) -> str:
    """Classify an input: ``camera``, ``network``, ``gstreamer``, ``folder``, ``image`` or ``video``."""
    from ..data import IMAGE_EXTS

    if isinstance(spec, int) or (isinstance(spec, str) and re.fullmatch(r"\d+", spec)):
        return "camera"
    s = str(spec)
    if s.lower().startswith(NETWORK_SCHEMES):
        return "network"
    if "!" in s and ("appsink" in s or "src" in s):
        return "gstreamer"
    p = Path(s)
    if p.is_dir():
        return "folder"
    if p.suffix.lower() in IMAGE_EXTS:
        return "image"
    return "video"


class FileSource:
    """Decodes every frame of a video file with PyAV, flushing the decoder at the end (the last
    frames, held back by B-frame reordering, are otherwise lost). With ``audio=True``,
    :meth:`items` also yields the audio packets, undecoded, in demux order (for remuxing)."""

    live = False

    def __init__(self, path: str | os.PathLike[str], audio: bool = False, thread_type: str = "AUTO") -> None:
        import av

        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"video file not found: {self.path}; check the path")
        try:
            self.container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as e:
            raise DataError(f"cannot open video {self.path}: {e}; the file is corrupt, truncated before its index "
                            "(moov atom) or not a video; re-download it or remux it with ffmpeg") from e
        if not self.container.streams.video:
            self.container.close()
            raise DataError(f"{self.path} has no video stream; pass a video file")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = thread_type
        self.audio_stream = self.container.streams.audio[0] if audio and self.container.streams.audio else None
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps: float | None = float(rate) if rate else None
        self.rate: Fraction | None = Fraction(rate) if rate else None
        self.time_base: Fraction | None = self.stream.time_base
        self.frames_expected: int = int(self.stream.frames or 0)
        self.declared_duration: float | None = self._declared_duration()
        self.decoded_end = 0.0  # seconds: end of the last decoded frame (to detect truncation)
        self.width, self.height = self.stream.codec_context.width, self.stream.codec_context.height
        self.error: Exception | None = None
        self._it: Iterator[Any] | None = None
        self._index = 0

    def _declared_duration(self) -> float | None:
        """The video track's own duration from the container (not the audio's), if it says."""
        s = self.stream
        if s.duration and s.time_base:
            return float(s.duration * s.time_base)
        tag = (s.metadata or {}).get("DURATION")  # Matroska stores it as a per-track tag
        m = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", tag.strip()) if tag else None
        return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else None

    def truncated(self) -> bool:
        """True if fewer frames were decoded than the container declares (count or duration)."""
        if self.frames_expected:
            return self._index < self.frames_expected
        if self.declared_duration and self.fps:
            return self.decoded_end < self.declared_duration - 1.5 / self.fps
        return False

    def items(self) -> Iterator[Any]:
        """Video :class:`Frame` objects and (with ``audio``) audio ``av.Packet`` objects, in order.
        A decode error ends the iteration cleanly and is kept in ``self.error``."""
        import av

        streams = [self.stream] + ([self.audio_stream] if self.audio_stream is not None else [])
        try:
            for packet in self.container.demux(*streams):
                if packet.size == 0:  # demux's end marker; the decoder is flushed explicitly below
                    continue
                if packet.stream.type == "audio":
                    yield packet
                    continue
                for f in packet.decode():
                    yield self._frame(f)
        except av.error.FFmpegError as e:
            self.error = e
            log.warning("decoding %s stopped after %d frames: %s", self.path, self._index, e)
        try:
            for f in self.stream.codec_context.decode(None):  # flush: the delayed last frames
                yield self._frame(f)
        except (av.error.FFmpegError, EOFError) as e:
            self.error = self.error or e

    def _frame(self, f: Any) -> Frame:
        tb = f.time_base or self.stream.time_base  # frames drained by the flush carry no time base
        fr = Frame(f.to_ndarray(format="bgr24"), self._index, time.monotonic(), f.pts, tb)
        self._index += 1
        if f.pts is not None and tb is not None:
            start = self.stream.start_time or 0
            end = float((f.pts - start) * tb) + (1 / self.fps if self.fps else 0.0)
            self.decoded_end = max(self.decoded_end, end)
        return fr

    def read(self) -> Frame | None:
        if self._it is None:
            self._it = self.items()
        for item in self._it:
            if isinstance(item, Frame):
                return item
        return None

    def close(self) -> None:
        self.container.close()


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log (every videoio backend reports its failure to open a source) for the
    block, restoring the level after; kept when edgesr.capture logs at DEBUG (``edgesr -v``)."""
    import cv2

    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


class CvSource:
    """Camera index, network URL or GStreamer pipeline through ``cv2.VideoCapture``."""

    def __init__(self, spec: str | int, api: int | None = None) -> None:
        import cv2

        kind = source_kind(spec)
        self.spec, self.kind = spec, kind
        if api is None:
            api = cv2.CAP_GSTREAMER if kind == "gstreamer" else cv2.CAP_ANY
        target: str | int = int(spec) if kind == "camera" else str(spec)
        with quiet_opencv():  # a failed open logs a dozen backend lines before our one clear error
            self.cap = cv2.VideoCapture(target, api)
        if not self.cap.isOpened():
            hint = {"camera": "check that the camera is connected and not used by another program",
                    "gstreamer": "check the pipeline with gst-launch-1.0 and that OpenCV was built with GStreamer",
                    "network": "check the URL, the network and the camera's credentials"}.get(kind, "check the path")
            raise DataError(f"cannot open {kind} source {spec!r}; {hint}")
        self.live = kind in ("camera", "network", "gstreamer")
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None
        self._index = 0

    def read(self) -> Frame | None:
        ok, img = self.cap.read()
        if not ok or img is None:
            return None
        fr = Frame(img, self._index, time.monotonic())
        self._index += 1
        return fr

    def close(self) -> None:
        self.cap.release()


class PacedSource:
    """Replays frames at a fixed rate, like a camera: ``read`` blocks until the next frame is due,
    and frames are timestamped when they "arrive". Use it to run a file as a live source
    (``--realtime``) or to check that the live pipeline drops stale frames when the model is slower
    than the source."""

    live = True

    def __init__(self, frames: Iterable[np.ndarray], fps: float, loop: bool = False) -> None:
        _check_positive(fps=fps)
        self.fps: float | None = float(fps)
        self._frames = list(frames) if loop else frames
        self._loop = loop
        self._it: Iterator[np.ndarray] = iter(self._frames)
        self._t0: float | None = None
        self._index = 0

    def read(self) -> Frame | None:
        img = next(self._it, None)
        if img is None and self._loop and self._frames:
            self._it = iter(self._frames)
            img = next(self._it, None)
        if img is None:
            return None
        if self._t0 is None:
            self._t0 = time.monotonic()
        due = self._t0 + self._index / (self.fps or 1.0)
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        # stamped when it "arrived" (due), even if read late: as a camera's own timestamp would be
        fr = Frame(img, self._index, due)
        self._index += 1
        return fr

    def close(self) -> None:
        pass


def open_source(spec: str | int | os.PathLike[str] | Source) -> Source:
    """A :class:`Source` for a file path, camera index, URL or GStreamer pipeline (or pass one)."""
    if isinstance(spec, Source):
        return spec
    kind = source_kind(spec)  # type: ignore[arg-type]
    if kind in ("camera", "network", "gstreamer"):
        src: Source = CvSource(spec)  # type: ignore[arg-type]
        if kind == "network":
            return ReconnectingSource(lambda: CvSource(spec), source=src)  # type: ignore[arg-type]
        return src
    if kind in ("folder", "image"):
        raise DataError(f"{spec} is an image/folder, not a video or stream; use the 'edgesr upscale' image path")
    return FileSource(spec)  # type: ignore[arg-type]


class ReconnectingSource:
    """Wraps a network source: when it stops delivering, reopen it with exponential backoff.

    ``opener`` builds a fresh source; ``max_retries`` consecutive failed attempts end the stream
    (``None``: retry forever). ``reconnects`` counts successful reopenings.
    """

    live = True

    def __init__(self, opener: Callable[[], Source], max_retries: int | None = 8,
                 backoff: float = 0.5, max_backoff: float = 10.0, source: Source | None = None) -> None:
        self.opener, self.max_retries, self.backoff, self.max_backoff = opener, max_retries, backoff, max_backoff
        self.reconnects = 0
        self._closed = threading.Event()
        self.src: Source | None = source or opener()
        self.fps = self.src.fps
        self._index = 0

    def read(self) -> Frame | None:
        attempt = 0
        while not self._closed.is_set():
            if self.src is not None:
                try:
                    fr = self.src.read()
                except Exception as e:  # a dying network source may raise instead of returning None
                    log.warning("stream read failed: %s", e)
                    fr = None
                if fr is not None:
                    fr.index = self._index
                    self._index += 1
                    return fr
                self.src.close()
                self.src = None
                log.warning("stream lost after %d frames; reconnecting", self._index)
            if self.max_retries is not None and attempt >= self.max_retries:
                log.error("stream did not come back after %d attempts; giving up", attempt)
                return None
            delay = min(self.max_backoff, self.backoff * 2 ** attempt)
            attempt += 1
            if self._closed.wait(delay):
                break
            try:
                self.src = self.opener()
                self.reconnects += 1
                log.info("reconnected (attempt %d)", attempt)
            except Exception as e:
                log.warning("reconnect attempt %d failed: %s", attempt, e)
        return None

    def close(self) -> None:
        self._closed.set()
        if self.src is not None:
            self.src.close()


class LatestFrameReader:
    """Reads a live source on its own thread and keeps only the newest frame (one slot: bounded
    memory). A frame overwritten before anyone took it is a *drop*, counted in ``drops``."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.frames_in = 0
        self.drops = 0
        self.error: BaseException | None = None
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._done = False
        self._stop = threading.Event()
        self.t_start = time.monotonic()
        self.t_last = self.t_start
        self._thread = threading.Thread(target=self._loop, name="edgesr-capture", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                fr = self.source.read()
                if fr is None:
                    break
                with self._cond:
                    if self._slot is not None:
                        self.drops += 1
                    self._slot = fr
                    self.frames_in += 1
                    self.t_last = time.monotonic()
                    self._cond.notify()
        except BaseException as e:  # surfaced to the consumer by get()
            self.error = e
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet taken (waits for one); ``None`` when the source has ended."""
        with self._cond:
            end = None if timeout is None else time.monotonic() + timeout
            while self._slot is None and not self._done:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            fr, self._slot = self._slot, None
            return fr

    @property
    def input_fps(self) -> float:
        dt = self.t_last - self.t_start
        return (self.frames_in - 1) / dt if self.frames_in > 1 and dt > 0 else 0.0

    def close(self) -> None:
        self._stop.set()
        if isinstance(self.source, ReconnectingSource):
            self.source.close()
        self._thread.join(timeout=2.0)
        if not isinstance(self.source, ReconnectingSource):
            self.source.close()
