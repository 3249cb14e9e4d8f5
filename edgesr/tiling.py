"""Overlapping tiles with seamless blending (pure numpy).

Why: frames larger than a TensorRT profile or a memory budget are cut into equal-size tiles
(equal sizes keep one set of I/O buffers and one engine shape). Neighbouring tiles overlap by
``overlap`` input pixels; inside each overlap, weights ramp linearly from 0 to 1 after a dead
margin of ``overlap // 4`` pixels at the tile edge, where a convolution saw zero padding instead
of image. Weights of a pair sum to exactly 1, so there is no seam (Real-ESRGAN#211) and, when
the margin exceeds the model's receptive radius, the blend reproduces the untiled output.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .errors import ConfigError


def starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile start offsets along one axis: equal tiles of ``min(tile, length)``, spread evenly so every
    overlap is at least ``overlap`` (never a sliver tile at the end)."""
    if tile >= length:
        return [0]
    if overlap >= tile:
        raise ConfigError(f"tile overlap {overlap} must be smaller than the tile size {tile}; lower tile_overlap")
    step = tile - overlap
    n = -(-(length - overlap) // step)
    return [round(i * (length - tile) / (n - 1)) for i in range(n)] if n > 1 else [0]


def balanced_tile(length: int, limit: int, overlap: int, multiple: int = 1) -> int:
    """Tile size along one axis: as few tiles as ``limit``-sized ones need, but each only as large as
    that count requires (a multiple of ``multiple``, at most ``limit``). A frame just over the limit
    then runs as two halves, not as two nearly full, mostly overlapping tiles (twice the work)."""
    if length <= limit:
        return length
    n = -(-(length - overlap) // max(limit - overlap, 1))
    t = -(-(length + (n - 1) * overlap) // n)
    return min(-(-t // multiple) * multiple, limit)


#: Tile side (input pixels) of the default tiling on CPU backends, from ``benchmarks/tile_sweep.py``
#: (``benchmarks/results/tile_sweep.json``): with ONNX Runtime on CPU, wall time is flat from 768 to 2048 for
#: every bundled model class at 2000^2..8000^2, CPU time falls with the tile (overlap, per-call cost: 256 costs
#: 1.7x, 512 1.2x) and peak memory rises with it (2048: +33..160 %, the budget-sized tiles edgesr used
#: before: +51..172 %, with page faults); 1024 is where the CPU time flattens.
DEFAULT_TILE = 1024
#: Frames up to this many tiles' worth of pixels run whole (at 1024: 1080p, 1920x1200): in a stream the arena
#: is reused and the whole frame was 4..38 % faster per frame than four tiles (same record, label video-1080p).
WHOLE_FRAME_TILES = 3


def default_tile(height: int, width: int, max_pixels: int | None, multiple: int = 1,
                 tile: int = DEFAULT_TILE) -> int | None:
    """The tile side limit for an (H, W) frame when the caller chose neither ``tile=`` nor ``max_pixels=``
    (None: the frame runs whole). Pure: frame size, the model's memory budget in input pixels per call
    (``max_pixels``, from :func:`edgesr.budget.default_max_pixels`: the model's bytes per pixel and the
    machine's memory) and the model's pad multiple in, a tile side out.

    Frames above ``WHOLE_FRAME_TILES * tile**2`` pixels run as tiles of about ``tile`` (cache- and arena-friendly,
    not the largest that fit); a budget smaller than ``tile`` squared (a small machine, a huge frame) lowers the
    side to what fits, and a frame above the budget is tiled whatever its size."""
    pixels = height * width
    over_budget = bool(max_pixels) and pixels > int(max_pixels or 0)
    if pixels <= WHOLE_FRAME_TILES * tile * tile and not over_budget:
        return None
    side = tile
    if max_pixels:
        side = min(side, math.isqrt(int(max_pixels)))
    side = max(side // multiple * multiple, multiple)
    return side if height > side or width > side else None


def _ramp(d: np.ndarray, ov: int) -> np.ndarray:
    """Weight at HR distance ``d`` from an interior tile edge whose overlap is ``ov`` HR pixels."""
    m = ov // 4
    return np.clip((d - m + 0.5) / max(ov - 2 * m, 1), 0.0, 1.0)


def axis_weights(length: int, tile: int, overlap: int, scale: int) -> tuple[list[int], list[np.ndarray]]:
    """Start offsets (input pixels) and per-tile 1-D output weights along one axis (sum to 1)."""
    st = starts(length, tile, overlap)
    t = min(tile, length)
    n_out = t * scale
    d = np.arange(n_out, dtype=np.float32)
    ws = []
    for i, a in enumerate(st):
        w = np.ones(n_out, np.float32)
        if i > 0:  # overlap with the previous tile on the low side
            w = np.minimum(w, _ramp(d, (st[i - 1] + t - a) * scale))
        if i + 1 < len(st):  # overlap with the next tile on the high side
            w = np.minimum(w, _ramp(d[::-1], (a + t - st[i + 1]) * scale))
        ws.append(w.astype(np.float32))
    total = np.zeros(length * scale, np.float32)
    for a, w in zip(st, ws):
        total[a * scale:a * scale + n_out] += w
    if (total <= 0).any():  # cannot happen for overlap < tile; guard against silent black bands
        raise ConfigError(f"tiling left uncovered pixels (length {length}, tile {tile}, overlap {overlap})")
    ws = [w / total[a * scale:a * scale + n_out] for a, w in zip(st, ws)]
    return st, [w.astype(np.float32) for w in ws]


@dataclass
class TilePlan:
    """Tiles of an (H, W) input and their blend weights; reuse it for every frame of that size."""

    height: int
    width: int
    tile_h: int
    tile_w: int
    overlap: int
    scale: int
    ys: list[int] = field(init=False)
    xs: list[int] = field(init=False)
    wy: list[np.ndarray] = field(init=False)
    wx: list[np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self.ys, self.wy = axis_weights(self.height, self.tile_h, self.overlap, self.scale)
        self.xs, self.wx = axis_weights(self.width, self.tile_w, self.overlap, self.scale)
        self.tile_h, self.tile_w = min(self.tile_h, self.height), min(self.tile_w, self.width)
        self._tmp = np.empty((3, self.tile_h * self.scale, self.tile_w * self.scale), np.float32)

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)

    def boxes(self) -> list[tuple[int, int, int, int]]:
        """(tile index y, tile index x, y0, x0) for every tile, row-major."""
        return [(i, j, y, x) for i, y in enumerate(self.ys) for j, x in enumerate(self.xs)]

    def accumulate(self, acc: np.ndarray, tile_out: np.ndarray, i: int, j: int) -> None:
        """acc[:, region] += tile_out * weight (no allocation: one scratch buffer per plan)."""
        s = self.scale
        y0, x0 = self.ys[i] * s, self.xs[j] * s
        th, tw = tile_out.shape[-2:]
        np.multiply(tile_out, self.wy[i][:, None], out=self._tmp)
        self._tmp *= self.wx[j][None, :]
        acc[..., y0:y0 + th, x0:x0 + tw] += self._tmp


def tiled_apply(img: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], tile: int | tuple[int, int], overlap: int,
                scale: int, out: np.ndarray | None = None, plan: TilePlan | None = None) -> np.ndarray:
    """Apply ``fn`` ((3, th, tw) -> (3, s*th, s*tw)) tile by tile to a (3, H, W) image and blend."""
    c, h, w = img.shape
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    plan = plan or TilePlan(h, w, th, tw, overlap, scale)
    if out is None:
        out = np.zeros((c, h * scale, w * scale), np.float32)
    else:
        out[...] = 0
    for i, j, y, x in plan.boxes():
        y_t = fn(img[:, y:y + plan.tile_h, x:x + plan.tile_w])
        plan.accumulate(out, y_t, i, j)
    return out
