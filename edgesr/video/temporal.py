"""Temporal stability for per-frame SR: a motion-gated recursive filter on the LR input (issue 24).

Per-frame SR on compressed video flickers because codec noise changes from frame to frame and each
frame's noise is sharpened differently. :class:`TemporalFilter` removes that change where the scene
does not move, *before* the model: each LR pixel is blended with the previous filtered LR frame
(optionally warped by optical flow) with a weight that falls to 0 where the frames differ by more
than codec noise would, so moving content passes untouched (no ghosting) and still content feeds the
model nearly the same input every frame (so its output stops shimmering). Working at LR costs a
quarter of the pixels of an output-domain filter. A scene cut (a large mean change) resets the state;
so does a change of frame size. Frames are never dropped, reordered or delayed.

Used by ``Upscaler(..., temporal=True)`` and therefore by ``upscale_video`` / ``stream`` and
``edgesr upscale --temporal``. Imports only numpy and OpenCV (deployment side).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TemporalConfig:
    """Knobs of the stable mode (defaults measured in ``benchmarks/temporal_study.py``).

    strength: weight of the previous frame where nothing moved (0: off, < 1: the filter stays recursive
        but always takes some of the new frame). threshold: LR difference (0-255 units, after a 3x3 box
        filter) at which the blend weight reaches 0: above the codec noise, below real motion.
    flow: warp the previous frame by DIS optical flow (computed on a half-size LR) before blending, so a
        panning or shaking camera is stabilized too; costs more per frame. cut: mean absolute LR
        difference (0-255) above which a frame starts a new scene and the state resets.
    """

    strength: float = 0.6
    threshold: float = 10.0
    flow: bool = False
    cut: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength < 1.0:
            raise ConfigError(f"temporal strength must be in [0, 1), got {self.strength!r}")
        if self.threshold <= 0 or self.cut <= 0:
            raise ConfigError(f"temporal threshold and cut must be > 0, got {self.threshold!r}, {self.cut!r}")


def temporal_config(spec: Any) -> TemporalConfig | None:
    """``Upscaler(temporal=...)``: False/None (off), True (defaults), ``"flow"``, a dict or a TemporalConfig."""
    if spec is None or spec is False:
        return None
    if spec is True:
        return TemporalConfig()
    if spec == "flow":
        return TemporalConfig(flow=True)
    if isinstance(spec, TemporalConfig):
        return spec
    if isinstance(spec, dict):
        return TemporalConfig(**spec)
    raise ConfigError(f"temporal={spec!r}: use True, 'flow', a dict of TemporalConfig fields or a TemporalConfig")


class TemporalFilter:
    """The recursive LR filter of one video (one state per stream; not thread-safe by design)."""

    def __init__(self, config: TemporalConfig | None = None) -> None:
        self.config = config or TemporalConfig()
        self.cuts = 0  # scene cuts seen (state resets that were not the first frame)
        self._prev: np.ndarray | None = None  # the previous *filtered* LR frame, float32 HxWxC
        self._dis: Any = None
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def reset(self) -> None:
        self._prev = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The filtered LR frame to feed the model (same shape and dtype as ``frame``)."""
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            return frame  # float / 16-bit / tensors: the filter is for 8-bit video frames only
        x = frame.astype(np.float32)
        prev = self._prev
        if prev is None or prev.shape != x.shape:
            self._prev = x
            return frame
        if _thumb_change(x, prev) > self.config.cut:  # scene cut: start again
            self.cuts += 1
            log.debug("temporal filter: scene cut, state reset")
            self._prev = x
            return frame
        out = self._blend(x, [prev, self._warp(prev, frame)] if self.config.flow else [prev])
        self._prev = out
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def _blend(self, x: np.ndarray, candidates: list[np.ndarray]) -> np.ndarray:
        """Blend ``x`` with, per pixel, the candidate previous frame that matches it best (unwarped or warped)."""
        best, best_d = candidates[0], self._diff(x, candidates[0])
        for c in candidates[1:]:
            d = self._diff(x, c)
            pick = d < best_d
            best = np.where(pick[..., None] if x.ndim == 3 else pick, c, best)
            best_d = np.minimum(d, best_d)
        w = self.config.strength * np.clip(1.0 - best_d / self.config.threshold, 0.0, 1.0)
        if x.ndim == 3:
            w = w[..., None]
        return x + w * (best - x)

    @staticmethod
    def _diff(x: np.ndarray, prev: np.ndarray) -> np.ndarray:
        import cv2

        d = np.abs(x - prev)
        if d.ndim == 3:
            d = d.max(axis=2)
        return cv2.blur(d, (3, 3))

    def _warp(self, prev: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """``prev`` moved onto ``frame`` by the flow from the current to the previous frame (half-size DIS)."""
        import cv2

        if self._dis is None:
            self._dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        h, w = frame.shape[:2]
        small = (max(8, w // 2), max(8, h // 2))
        cur_g = cv2.resize(_gray(frame), small, interpolation=cv2.INTER_AREA)
        prev_g = cv2.resize(_gray(np.clip(prev + 0.5, 0, 255).astype(np.uint8)), small, interpolation=cv2.INTER_AREA)
        flow = self._dis.calc(cur_g, prev_g, None)  # cur(x) ~ prev(x + flow(x))
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(w / small[0])
        if self._grid is None or self._grid[0].shape != (h, w):  # one pixel grid per frame size, not per frame
            self._grid = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        gx, gy = self._grid
        return cv2.remap(prev, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _thumb_change(x: np.ndarray, prev: np.ndarray) -> float:
    """Mean absolute difference of 16x9 thumbnails: large at a scene cut, small for camera motion of a few
    pixels (which moves detail, not the thumbnail)."""
    import cv2

    a = cv2.resize(x, (16, 9), interpolation=cv2.INTER_AREA)
    b = cv2.resize(prev, (16, 9), interpolation=cv2.INTER_AREA)
    return float(np.mean(np.abs(a - b)))


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


__all__ = ["TemporalConfig", "TemporalFilter", "temporal_config"]
