"""Frames for ``edgesr adapt``: a deterministic selection from a video file or an image folder, a
time-spaced capture from a camera or stream (through :mod:`edgesr.video.sources`'s live sources).

Files and folders: ``max_frames`` evenly spaced indices over the whole source (first and last
included), so the same source always gives the same frames; video files go through
:func:`edgesr.video.frames.sample_video_frames`, the sampler calibration uses too. Live sources: the
:class:`~edgesr.capture.LatestFrameReader` keeps only the newest frame; one is kept at least
``duration / max_frames`` seconds after the previous one, for ``duration`` seconds (or the next
``max_frames`` frames without a duration). Frames are RGB uint8, with their index in the source.
"""
from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..video.frames import evenly_spaced, sample_video_frames  # the one sampler (calibration uses it too)
from ..video.sources import LatestFrameReader, open_source, source_kind
from ..data import list_images, read_rgb
from ..errors import DataError

log = logging.getLogger(__name__)

LIVE_KINDS = ("camera", "network", "gstreamer")


def iter_frames(spec: str | int | os.PathLike[str], max_frames: int = 200, duration: float | None = None,
                timeout: float = 10.0, progress: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """(source index, RGB uint8 frame) of ``spec``: evenly spaced for files and folders (at most
    ``max_frames``); for live sources at least ``duration / max_frames`` s apart over ``duration`` s (or the
    next ``max_frames``), waiting at most ``timeout`` s for a frame."""
    kind = source_kind(spec)
    if kind in ("folder", "image", "video") and not Path(str(spec)).exists():
        raise DataError(f"frames source not found: {spec}; pass a video file, a folder of images, a camera index "
                        "or a stream URL")
    if kind in ("folder", "image"):
        from tqdm import tqdm

        files = list_images(str(spec))
        for i in tqdm(evenly_spaced(len(files), max_frames), unit="frame", desc=f"frames of {Path(str(spec)).name}",
                      disable=not progress):
            yield i, read_rgb(files[i])  # an unreadable image is a DataError naming it
    elif kind in LIVE_KINDS:
        yield from _live_frames(spec, max_frames, duration, timeout, progress)
    else:
        yield from sample_video_frames(Path(str(spec)), max_frames, progress)


def collect_frames(spec: str | int | os.PathLike[str], **kwargs: Any) -> list[tuple[int, np.ndarray]]:
    """:func:`iter_frames` as a list."""
    return list(iter_frames(spec, **kwargs))


def _live_frames(spec: Any, max_frames: int, duration: float | None, timeout: float,
                 progress: bool) -> Iterator[tuple[int, np.ndarray]]:
    """Frames of a camera / stream: at least ``duration / max_frames`` s apart for ``duration`` s, or the next
    ``max_frames``. The reader keeps only the newest frame, so each kept frame is fresh."""
    from tqdm import tqdm

    reader = LatestFrameReader(open_source(spec))  # a camera that cannot be opened raises a DataError here
    kept, end = 0, time.monotonic() + duration if duration else math.inf
    every, due = (duration or 0.0) / max_frames, -math.inf
    bar = tqdm(total=max_frames, unit="frame", desc=f"capturing {spec}", disable=not progress)
    try:
        while kept < max_frames and time.monotonic() < end:
            wait = min(timeout, max(0.0, end - time.monotonic()))
            asked = time.monotonic()
            fr = reader.get(timeout=wait)
            if reader.error is not None:
                raise DataError(f"reading {spec} failed: {reader.error}; check the source")
            if fr is None:
                if time.monotonic() - asked < wait - 0.05 or time.monotonic() >= end:  # ended, or time is up
                    break
                raise DataError(f"no frame from {spec} for {timeout:g} s (after {kept} frames); "
                                "check the camera or stream (or raise the frame timeout)")
            if fr.captured >= due:
                kept, due = kept + 1, fr.captured + every
                bar.update(1)
                yield fr.index, np.ascontiguousarray(fr.image[..., ::-1])
    finally:
        bar.close()
        reader.close()


__all__ = ["iter_frames", "collect_frames", "evenly_spaced", "LIVE_KINDS"]
