"""Evenly spaced frames of a video file: the one sampler behind ``edgesr adapt``'s frames and the calibration
data of a video, decoded by the project's video decoder (PyAV, :class:`~edgesr.video.sources.FileSource`).

Deployment side, so calibration and adaptation both use it: the same clip and ``max_frames`` give the same
frame indices and the same pixels to both. The indices come from the container's frame count, or from a
full decode where the container declares none.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np

log = logging.getLogger(__name__)


def evenly_spaced(n: int, k: int) -> list[int]:
    """``min(n, k)`` indices of ``range(n)``, evenly spaced, first and last included (none for ``k <= 0``)."""
    if n <= k:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, max(k, 0)).round()})


def count_frames(path: str | os.PathLike[str]) -> int:
    """Frames of a video file as decoded (for containers that do not declare a count)."""
    from .sources import FileSource

    src = FileSource(path)
    try:
        return sum(1 for _ in iter(src.read, None))
    finally:
        src.close()


def video_frame_count(path: str | os.PathLike[str]) -> int:
    """The container's frame count, or the decoded count where it declares none. An unreadable or
    non-video file is a DataError naming it."""
    from .sources import FileSource

    probe = FileSource(path)
    n = probe.frames_expected
    probe.close()
    return n or count_frames(path)


def sample_video_frames(path: str | os.PathLike[str], max_frames: int,
                        progress: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, RGB uint8 HxWx3) for ``max_frames`` evenly spaced frames of a video file, first and
    last included (every frame of a shorter clip). A file that stops decoding early gives the frames read
    before (logged)."""
    from tqdm import tqdm

    from .sources import FileSource

    path = Path(path)
    n = video_frame_count(path)
    want = set(evenly_spaced(n, max_frames))
    if not want:
        return
    kept = decoded = 0
    src = FileSource(path)
    try:
        for fr in tqdm(iter(src.read, None), total=n, unit="frame", desc=f"frames of {path.name}",
                       disable=not progress):
            decoded = fr.index + 1
            if fr.index in want:
                kept += 1
                yield fr.index, np.ascontiguousarray(fr.image[..., ::-1])
                if kept == len(want):
                    break
    finally:
        src.close()
    if src.error is not None or kept < len(want):
        log.warning("%s: decoding stopped after %d of %d frames (%s); using the %d frames read", path, decoded, n,
                    src.error or "truncated?", kept)


__all__ = ["count_frames", "evenly_spaced", "sample_video_frames", "video_frame_count"]
