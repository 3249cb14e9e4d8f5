"""Video files and live streams through an :class:`~edgesr.upscaler.Upscaler`.

Two regimes, two guarantees:

* **Files** (:func:`upscale_video`): nothing lost. Decode, upscale and encode run on separate
  threads joined by bounded queues (memory stays flat, the model never waits on I/O); every frame
  keeps its source timestamp, the audio packets are remuxed untouched, and the frame count is
  checked. The output is written to a temporary file and renamed at the end, so a failed or
  interrupted run never leaves a broken file: it leaves a playable ``NAME.partial.EXT`` and says how
  far it got.
* **Live sources** (:func:`stream`): latency beats completeness. A capture thread keeps only the
  newest frame, stale ones are dropped and counted, and the stats report input/output fps,
  end-to-end latency p50/p99 and drops.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .sources import Frame, LatestFrameReader, ReconnectingSource, Source, open_source
from ..errors import ConfigError, DataError
from .writer import VideoWriter, partial_path

log = logging.getLogger(__name__)

__all__ = ["upscale_video", "stream", "Stream", "SRFrame", "StreamStats", "VideoResult", "VideoWriter",
           "IncompleteVideoError", "partial_path"]

_END = object()


class IncompleteVideoError(DataError):
    """The input ended early (truncated/corrupt) or the run failed part-way; ``partial`` is a playable
    file with the ``frames`` done so far (``None`` if no frame was written)."""

    def __init__(self, msg: str, partial: Path | None, frames: int, expected: int) -> None:
        super().__init__(msg)
        self.partial, self.frames, self.expected = partial, frames, expected


@dataclass
class VideoResult:
    """What :func:`upscale_video` did: ``frames`` written, the source's ``fps``, the output
    ``duration`` (s), whether audio was copied, wall ``seconds`` and the pipeline ``throughput`` (frames/s)."""

    path: Path
    frames: int
    frames_expected: int
    fps: float | None
    duration: float
    audio: bool
    seconds: float
    throughput: float


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Blocking put that gives up when the pipeline is stopping (no deadlock on a dead consumer)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def upscale_video(src: str | os.PathLike[str], dst: str | os.PathLike[str], upscaler: Any, *,
                  codec: str | None = None, crf: int = 18, preset: str = "medium", bitrate: int | None = None,
                  audio: bool = True, queue_size: int = 8, progress: bool = True,
                  encoder_threads: int = 0, overwrite: bool = False, in_place: bool = False) -> VideoResult:
    """Upscale every frame of ``src`` into ``dst``, keeping frame rate, timestamps and audio.

    Decode, upscale and encode are pipelined on three threads with bounded queues. On success the
    output is moved into place; on a truncated/corrupt input or an interruption, a playable
    ``NAME.partial.EXT`` is left and :class:`IncompleteVideoError` (or ``KeyboardInterrupt``) says
    how far it got. ``upscaler`` needs ``.run(bgr) -> bgr`` and ``.scale``. ``codec=None``: libx264
    (mpeg4 for ``.avi``). ``dst`` is checked before anything is opened (a video extension, a writable
    folder); an existing ``dst``, or ``dst == src``, is refused unless ``overwrite`` (the file, or the input,
    is then replaced only once the complete output is written). ``in_place=True`` (older spelling) allows
    only ``dst == src``.
    """
    from tqdm import tqdm

    from ..overwrite import check_output
    from .writer import check_crf

    if queue_size < 1:
        raise ConfigError(f"queue_size must be >= 1, got {queue_size}")
    check_crf(crf)
    src, dst = Path(src), Path(dst)
    in_place = in_place and src.resolve() == dst.resolve()
    check_output(dst, "video", overwrite=overwrite or in_place, src=src, flag="dst", how="overwrite=True")
    from .sources import FileSource

    source = FileSource(src, audio=audio)
    scale = int(upscaler.scale)
    writer: VideoWriter | None = None
    stop = threading.Event()
    q_in: queue.Queue[Any] = queue.Queue(queue_size)
    q_out: queue.Queue[Any] = queue.Queue(queue_size)
    enc_error: list[BaseException] = []
    dec_error: list[BaseException] = []
    frames_in = 0
    t0 = time.perf_counter()

    def decode() -> None:
        try:
            for item in source.items():
                if not _put(q_in, item, stop):
                    return
        except BaseException as e:  # surfaced by the main thread
            dec_error.append(e)
        finally:
            _put(q_in, _END, stop)

    def encode() -> None:
        assert writer is not None
        try:
            while True:
                item = q_out.get()
                if item is _END:
                    return
                if isinstance(item, Frame):
                    writer.write(item.image, item.pts)
                else:
                    writer.mux_audio(item)
        except BaseException as e:
            enc_error.append(e)
            stop.set()

    try:
        writer = VideoWriter(dst, source.width * scale, source.height * scale, rate=source.rate or 30,
                             time_base=source.time_base, codec=codec, crf=crf, preset=preset, bitrate=bitrate,
                             threads=encoder_threads, audio_template=source.audio_stream)
    except BaseException:
        source.close()
        raise
    threads = [threading.Thread(target=decode, name="edgesr-decode", daemon=True),
               threading.Thread(target=encode, name="edgesr-encode", daemon=True)]
    for t in threads:
        t.start()
    total = source.frames_expected or (round(source.declared_duration * source.fps)
                                       if source.declared_duration and source.fps else None)
    bar = tqdm(total=total, unit="frame", desc=src.name, disable=not progress,
               dynamic_ncols=True)
    interrupted: BaseException | None = None
    try:
        while not stop.is_set():
            try:
                item = q_in.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                break
            if isinstance(item, Frame):
                item.image = upscaler.run(item.image)
                frames_in += 1
                bar.update(1)
            if not _put(q_out, item, stop):
                break
    except BaseException as e:  # KeyboardInterrupt, or the model failing on a frame
        interrupted = e
    finally:
        bar.close()
        if not enc_error:
            _put(q_out, _END, stop)
        stop.set()  # releases the decoder if it is blocked on a full queue
        for t in threads:
            t.join(timeout=30)
        source.close()
    seconds = time.perf_counter() - t0
    done, expected = writer.frames, source.frames_expected or (total or 0)
    err = interrupted or (enc_error[0] if enc_error else None) or (dec_error[0] if dec_error else None)
    if err is None and (source.error is not None or source.truncated()):
        why = source.error or "the input ends early (truncated?)"
        err = DataError(f"input {src} is corrupt or truncated: {why}")
    if err is None and done != frames_in:
        err = DataError(f"internal error: {frames_in} frames upscaled but {done} encoded")
    if err is not None:
        part = writer.abort()  # never raises: err stays the error reported
        where = f"playable partial output: {part}" if part else "no frame was written, no output"
        of = f"/{expected}" if expected else ""
        msg = f"stopped after {done}{of} frames ({err.__class__.__name__}: {err}); {where}"
        if isinstance(err, KeyboardInterrupt):
            log.warning("interrupted after %d%s frames; %s", done, of, where)
            raise err
        log.error("%s", msg)
        raise IncompleteVideoError(msg + "; fix the input (or re-encode it) and run again",
                                   part, done, expected) from err
    path = writer.finish()
    rate = source.rate
    duration = done / float(rate) if rate else 0.0
    log.info("wrote %s: %d frames at %.3f fps%s in %.1f s (%.1f frames/s)", path, done, float(rate or 0),
             ", audio copied" if writer.audio_packets else "", seconds, done / seconds if seconds else 0.0)
    return VideoResult(path, done, expected, float(rate) if rate else None, duration,
                       writer.audio_packets > 0, seconds, done / seconds if seconds > 0 else 0.0)


# ---------------------------------------------------------------------------------------- live
@dataclass
class SRFrame:
    """One upscaled frame: ``image`` (BGR), the source frame ``index``, when it was ``captured``
    (``time.monotonic()``) and its end-to-end ``latency`` in seconds (capture -> upscaled)."""

    image: np.ndarray
    index: int
    captured: float
    latency: float


@dataclass
class StreamStats:
    frames_in: int = 0
    frames_out: int = 0
    drops: int = 0
    reconnects: int = 0
    input_fps: float = 0.0
    output_fps: float = 0.0
    latency_p50: float = 0.0
    latency_p99: float = 0.0
    latency_max: float = 0.0

    def __str__(self) -> str:
        return (f"in {self.frames_in} frames @ {self.input_fps:.1f} fps, out {self.frames_out} @ "
                f"{self.output_fps:.1f} fps, dropped {self.drops}, latency p50 {self.latency_p50 * 1e3:.0f} ms "
                f"p99 {self.latency_p99 * 1e3:.0f} ms, reconnects {self.reconnects}")


def _display_available() -> bool:
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Stream:
    """Iterate upscaled frames of a live or file source: ``for sr in Stream(src, up): ...``.

    ``drop`` (default: ``True`` for live sources) makes the pipeline always work on the newest
    frame; ``preview`` shows frames with ``cv2.imshow`` (skipped with a warning when there is no
    display; ``q``/Esc stops); ``record`` writes the upscaled frames to a video with their real
    timing (an existing file is refused unless ``overwrite``). ``max_frames``/``duration`` bound the run.
    ``stats`` is live while iterating.
    """

    def __init__(self, source: Any, upscaler: Any, *, drop: bool | None = None, preview: bool = False,
                 record: str | os.PathLike[str] | None = None, max_frames: int | None = None,
                 duration: float | None = None, window: str = "edgesr", codec: str | None = None,
                 latency_window: int = 10000, overwrite: bool = False) -> None:
        if record:  # checked before the source opens: a recording that cannot be written fails first
            from ..overwrite import check_output

            check_output(record, "video", overwrite=overwrite, flag="record", how="overwrite=True")
        self.source: Source = open_source(source)
        self.upscaler = upscaler
        self.drop = self.source.live if drop is None else drop
        self.preview = preview and self._check_preview()
        self.record = Path(record) if record else None
        self.max_frames, self.duration, self.window, self.codec = max_frames, duration, window, codec
        self._lat: deque[float] = deque(maxlen=latency_window)  # bounded memory on endless streams
        self._frames_in = self._frames_out = 0
        self._t_first_out: float | None = None
        self._t_last_out = 0.0
        self._reader: LatestFrameReader | None = None
        self._writer: VideoWriter | None = None
        self._t_rec0: float | None = None
        self._closed = False

    def _check_preview(self) -> bool:
        if not _display_available():
            log.warning("no display (DISPLAY/WAYLAND_DISPLAY unset): preview disabled")
            return False
        return True

    def _next_frame(self) -> Frame | None:
        if self.drop:
            if self._reader is None:
                self._reader = LatestFrameReader(self.source)
            fr = self._reader.get()
            if fr is None and self._reader.error is not None:
                raise DataError(f"live source failed: {self._reader.error}") from self._reader.error
            return fr
        fr = self.source.read()
        if fr is not None:
            self._frames_in += 1
        return fr

    def __iter__(self) -> Iterator[SRFrame]:
        t_start = time.monotonic()
        try:
            while not self._closed:
                if self.max_frames is not None and self._frames_out >= self.max_frames:
                    break
                if self.duration is not None and time.monotonic() - t_start >= self.duration:
                    break
                fr = self._next_frame()
                if fr is None:
                    break
                t_run = time.monotonic()
                img = self.upscaler.run(fr.image)
                now = time.monotonic()
                if self._t_first_out is None:  # say why the first frame is slow, once
                    h, w = fr.image.shape[:2]
                    log.info("first frame upscaled in %.2f s: warm-up (the backend allocates its buffers and picks "
                             "kernels for %dx%d frames); the next frames run at the model's speed", now - t_run, w, h)
                lat = now - fr.captured
                self._lat.append(lat)
                self._frames_out += 1
                if self._t_first_out is None:
                    self._t_first_out = now
                self._t_last_out = now
                if self.record is not None:
                    self._record(img, fr.captured)
                if self.preview and not self._show(img):
                    break
                yield SRFrame(img, fr.index, fr.captured, lat)
        finally:
            self.close()

    def _record(self, img: np.ndarray, captured: float) -> None:
        if self._writer is None:
            assert self.record is not None
            self._t_rec0 = captured
            h, w = img.shape[:2]
            self._writer = VideoWriter(self.record, w, h, rate=Fraction(self.source.fps or 30).limit_denominator(1001),
                                       time_base=Fraction(1, 1000), codec=self.codec, preset="veryfast")
        assert self._t_rec0 is not None
        self._writer.write(img, int(round((captured - self._t_rec0) * 1000)))

    def _show(self, img: np.ndarray) -> bool:
        import cv2

        try:
            cv2.imshow(self.window, img)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as e:
            log.warning("preview unavailable (%s): disabled", str(e).strip().splitlines()[-1])
            self.preview = False
            return True
        return key not in (ord("q"), 27)

    @property
    def stats(self) -> StreamStats:
        lat = np.asarray(self._lat) if self._lat else np.zeros(1)
        r = self._reader
        frames_in = r.frames_in if r is not None else self._frames_in
        out_dt = self._t_last_out - (self._t_first_out or self._t_last_out)
        src = self.source
        return StreamStats(
            frames_in=frames_in, frames_out=self._frames_out, drops=r.drops if r is not None else 0,
            reconnects=src.reconnects if isinstance(src, ReconnectingSource) else 0,
            input_fps=r.input_fps if r is not None else (self._frames_out - 1) / out_dt if out_dt > 0 else 0.0,
            output_fps=(self._frames_out - 1) / out_dt if out_dt > 0 else 0.0,
            latency_p50=float(np.percentile(lat, 50)), latency_p99=float(np.percentile(lat, 99)),
            latency_max=float(lat.max()))

    def close(self) -> None:
        """Stop capture, finalize the recording (renamed into place), close the preview window."""
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.close()
        else:
            self.source.close()
        if self._writer is not None:
            path = self._writer.finish()
            log.info("recording written to %s (%d frames)", path, self._writer.frames)
        if self.preview:
            import cv2

            cv2.destroyWindow(self.window)

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream(source: Any, upscaler: Any, **kwargs: Any) -> Stream:
    """``for sr in edgesr.stream(0, Upscaler()): ...`` — see :class:`Stream` for the options."""
    return Stream(source, upscaler, **kwargs)
