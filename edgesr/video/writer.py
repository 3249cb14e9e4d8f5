"""Encoding side of the video pipeline: :class:`VideoWriter` (atomic temp file, partial output on
abort) and the codec choice.

Why the default codec depends on the container: AVI stores no presentation timestamps, only the
frame index, so FFmpeg's demuxer guesses a one-frame reorder delay for H.264 and every
libavformat-based reader (PyAV, ffprobe, ffplay, OpenCV) shows an H.264 AVI's first frame at
pts 1 (40 ms late at 25 fps, ahead of its audio). MPEG-4 Part 2 (``mp4v``, what FFmpeg itself
writes into ``.avi``) has no such guess: it starts at 0. So ``codec=None`` means libx264, except
mpeg4 for ``.avi``; an explicit libx264 AVI is written without B-frames (which AVI cannot
reorder) and with a warning.
"""
from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

log = logging.getLogger(__name__)

CODEC_ALIASES = {"mp4v": "mpeg4", "h264": "libx264", "x264": "libx264"}
FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".ts": "mpegts",
           ".webm": "webm"}


CRF_RANGE = (0, 51)  # libx264: 0 lossless .. 51 worst


def check_crf(crf: int, flag: str = "crf=") -> None:
    """libx264's quality range, checked before anything is opened (``flag``: how the message names it)."""
    lo, hi = CRF_RANGE
    if not isinstance(crf, int) or isinstance(crf, bool) or not lo <= crf <= hi:
        raise ConfigError(f"{flag}{crf} is out of range: libx264 takes {lo} (lossless) to {hi} (worst), "
                          "18 by default (visually lossless); lower is better and bigger")


def partial_path(dst: str | os.PathLike[str]) -> Path:
    """Where an interrupted run leaves its playable partial output: ``NAME.partial.EXT``."""
    p = Path(dst)
    return p.with_name(f"{p.stem}.partial{p.suffix}")


def default_codec(path: str | os.PathLike[str]) -> str:
    """libx264, or mpeg4 for ``.avi`` (H.264 in AVI is read one frame late: see the module docstring)."""
    return "mpeg4" if Path(path).suffix.lower() == ".avi" else "libx264"


def _pick_codec(codec: str) -> str:
    import av

    name = CODEC_ALIASES.get(codec, codec)
    try:
        av.codec.Codec(name, "w")
        return name
    except Exception:
        if name == "mpeg4":
            raise ConfigError(f"video encoder {codec!r} is not available in this PyAV/FFmpeg build; "
                              "reinstall PyAV from its wheel (pip install av)") from None
        log.warning("video encoder %r is not available in this FFmpeg build; falling back to mpeg4 (mp4v)", codec)
        return "mpeg4"


class VideoWriter:
    """Encodes BGR frames (and remuxes audio packets) into a temp file, renamed into place by
    :meth:`finish`; :meth:`abort` finalizes what was written as a playable partial file instead.

    ``time_base`` is the timestamp unit of the ``pts`` passed to :meth:`write` (the source stream's,
    so timing is kept exactly); without pts, frames are spaced at ``rate``.
    """

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, *, rate: Fraction | float = 30,
                 time_base: Fraction | None = None, codec: str | None = None, crf: int = 18,
                 preset: str = "medium", bitrate: int | None = None, threads: int = 0,
                 audio_template: Any = None) -> None:
        import av

        check_crf(crf)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")
        self.rate = Fraction(rate).limit_denominator(100000)
        self.in_tb = time_base or 1 / self.rate
        self.codec = _pick_codec(codec or default_codec(self.path))
        # yuv420p needs even sizes: pad one edge pixel rather than crop (no content lost).
        self.width, self.height = width, height
        self.pad = (height % 2, width % 2)
        try:
            self.container = av.open(str(self.tmp), "w", format=FORMATS.get(self.path.suffix.lower()))
        except OSError as e:  # av's PermissionError / ReadOnly... are OSErrors too: not a format problem
            raise ConfigError(f"cannot write the video {self.path}: {(e.strerror or str(e)).lower()}; choose another "
                              "output folder or make it writable") from None
        except (av.error.FFmpegError, ValueError) as e:
            raise ConfigError(f"cannot write {self.path.suffix!r} videos: {e}; use .mp4 or .mkv") from e
        self.vstream = self._add_video_stream(crf, preset, bitrate, threads)
        self.ctb: Fraction = self.vstream.codec_context.time_base
        self.astream = None
        if audio_template is not None:
            try:
                self.astream = self.container.add_stream_from_template(audio_template)
            except Exception as e:
                log.warning("audio track (%s) cannot go into %s (%s): written without audio; use .mkv to keep it",
                            audio_template.codec_context.name, self.path.suffix, e)
        self.frames = 0
        self.audio_packets = 0
        self._last_pts: int | None = None
        self._closed = False

    def _add_video_stream(self, crf: int, preset: str, bitrate: int | None, threads: int) -> Any:
        s: Any = self.container.add_stream(self.codec, rate=self.rate)
        s.width, s.height, s.pix_fmt = self.width + self.pad[1], self.height + self.pad[0], "yuv420p"
        if self.codec == "libx264":
            ctb = self.in_tb  # keep the source clock exactly
            s.options = {"crf": str(crf), "preset": preset}
            if self.path.suffix.lower() == ".avi":
                s.options = {**s.options, "bf": "0"}  # AVI has no pts: B-frames would come back out of order
                log.warning("H.264 in .avi is read one frame late by FFmpeg-based players (AVI has no timestamps); "
                            "use .mp4/.mkv, or --codec mp4v for .avi")
            if bitrate:
                s.bit_rate = bitrate
        else:  # mpeg4 cannot take time bases finer than 1/65535
            ctb = 1 / self.rate if self.rate.denominator < 65536 and self.rate.numerator < 65536 else Fraction(1, 1000)
            s.bit_rate = bitrate or int(0.2 * s.width * s.height * float(self.rate))
        s.codec_context.time_base = ctb
        s.time_base = ctb
        s.thread_count = threads
        return s

    def write(self, image: np.ndarray, pts: int | None = None) -> None:
        import av

        if self.pad != (0, 0):
            image = np.pad(image, ((0, self.pad[0]), (0, self.pad[1]), (0, 0)), mode="edge")
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        if pts is None:
            out = int(round(self.frames / self.rate / self.ctb))
        else:
            out = int(round(pts * self.in_tb / self.ctb))
        if self._last_pts is not None and out <= self._last_pts:
            out = self._last_pts + 1  # encoders reject repeated timestamps
        self._last_pts = out
        f.pts, f.time_base = out, self.ctb
        for pkt in self.vstream.encode(f):
            self.container.mux(pkt)
        self.frames += 1

    def mux_audio(self, packet: Any) -> None:
        """Copy one audio packet as-is (no re-encoding)."""
        if self.astream is None or packet.dts is None:
            return
        packet.stream = self.astream
        self.container.mux(packet)
        self.audio_packets += 1

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for pkt in self.vstream.encode(None):  # flush the encoder's delayed frames
                self.container.mux(pkt)
        finally:
            self.container.close()  # writes the index (moov): the file is playable from here on

    def finish(self) -> Path:
        """Flush, close and move the complete file into place."""
        self._close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> Path | None:
        """Close what was written as a playable ``NAME.partial.EXT``; ``None`` if nothing was written or it
        cannot be kept. Never raises: it runs while an error is on its way up, which must stay the one reported."""
        try:
            self._close()
        except Exception as e:
            log.warning("could not finalize the partial output: %s", e)
        try:
            if self.frames == 0:
                self.tmp.unlink(missing_ok=True)
                return None
            dst = partial_path(self.path)
            os.replace(self.tmp, dst)
            return dst
        except OSError as e:
            log.warning("could not keep the partial output %s: %s", partial_path(self.path), e.strerror or e)
            try:
                self.tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return None
