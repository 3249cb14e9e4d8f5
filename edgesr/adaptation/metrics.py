"""No-reference measures of a model on LR frames (no HR exists): what ``edgesr adapt`` reports.

All on the BT.601 Y channel (:func:`edgesr.metrics.rgb_to_y`, float, unrounded) of uint8 images,
computed with numpy / OpenCV on whole frames:

* ``dual_psnr``: PSNR (dB) of D(P(x)) against x, both uint8: the dual consistency the adaptation
  optimises. Higher is more consistent; it says nothing alone about detail (an identity-like P
  with a matching D would score well), hence the two measures below.
* ``sharpness``: variance of the 3x3 Laplacian of P(x) over that of MATLAB-bicubic upscaling of x
  (sums over the frames, so flat frames do not dominate). 1 = as soft as bicubic; above 1 is
  crisper, but also what noise and ringing amplified by P look like.
* ``gradient``: mean 3x3 Sobel gradient magnitude of P(x) over that of bicubic (the same way):
  a steadier sharpness measure, less driven by isolated noisy pixels.
* ``blockiness``: in P(x), the mean absolute step between neighbouring pixels across the lines
  of an 8x8 grid (between columns / rows 7|8, 15|16, ...) over the mean step everywhere else;
  1 = no grid structure, above 1 = 8x8 block edges (the JPEG / MPEG transform grid) stand out.
  Blocks of the *input* land on a grid of ``8 * scale`` in P(x), whose lines are also 8x8 lines.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch

from ..data import read_rgb, to_tensor, to_uint8
from ..data.bicubic import imresize
from ..metrics import psnr, rgb_to_y

log = logging.getLogger(__name__)

BLOCK = 8


@dataclass
class FrameMetrics:
    """Means over a set of frames (see the module docstring)."""

    dual_psnr: float
    sharpness: float
    gradient: float
    blockiness: float
    frames: int

    LABELS: ClassVar[dict[str, str]] = {
        "dual_psnr": "dual PSNR D(P(x)) vs x (dB)",
        "sharpness": "sharpness (x bicubic)",
        "gradient": "gradient (x bicubic)",
        "blockiness": "blockiness 8x8 (1 = none)",
    }


@dataclass
class Comparison:
    before: FrameMetrics
    after: FrameMetrics


def _y(img: np.ndarray) -> np.ndarray:
    return rgb_to_y(img.astype(np.float64))


def laplacian_variance(y: np.ndarray) -> float:
    return float(cv2.Laplacian(y, cv2.CV_64F, ksize=3).var())


def mean_gradient(y: np.ndarray) -> float:
    gx, gy = cv2.Sobel(y, cv2.CV_64F, 1, 0, ksize=3), cv2.Sobel(y, cv2.CV_64F, 0, 1, ksize=3)
    return float(np.hypot(gx, gy).mean())


def blockiness(y: np.ndarray, block: int = BLOCK) -> float:
    """Mean |step| across the lines of a ``block`` grid over the mean |step| elsewhere (1 = no grid)."""
    dh, dv = np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0))
    on_h, on_v = (np.arange(dh.shape[1]) + 1) % block == 0, (np.arange(dv.shape[0]) + 1) % block == 0
    on = np.concatenate([dh[:, on_h].ravel(), dv[on_v, :].ravel()])
    off = np.concatenate([dh[:, ~on_h].ravel(), dv[~on_v, :].ravel()])
    if not on.size or not off.size or off.mean() == 0:
        return 1.0
    return float(on.mean() / off.mean())


def dual_chain(model: Any, sr: torch.Tensor) -> torch.Tensor:
    """D(sr): the dual maps chained from the final output's scale down to the input's, as the unpaired
    dual loss does (one map for EdgeSR, one per level for DRN)."""
    x, cur = sr, model.scale
    pairs = {pair.src: (d, pair.dst) for d, pair in zip(model.dual, model.dual_pairs)}
    while cur != 1:
        d, cur = pairs[cur]
        x = d(x)
    return x


@torch.no_grad()
def sr_and_back(model: Any, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(x), D(P(x))) as uint8 RGB."""
    p = next(model.parameters())
    sr = model(to_tensor(rgb)[None].to(p.device, p.dtype))
    return to_uint8(sr[0].float()), to_uint8(dual_chain(model, sr)[0].float())


def frame_metrics(model: Any, frames: list[Path], desc: str = "metrics", progress: bool = True) -> FrameMetrics | None:
    """The measures of ``model`` over ``frames`` (image files); None for no frames."""
    if not frames:
        return None
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    dual, lap, lap_bic, grad, grad_bic, block = [], 0.0, 0.0, 0.0, 0.0, []
    try:
        for f in tqdm(frames, unit="frame", desc=desc, disable=not progress):
            x = read_rgb(f)
            sr, back = sr_and_back(model, x)
            y_sr, y_bic = _y(sr), _y(imresize(x, model.scale))
            dual.append(min(psnr(back, x), 99.0))  # identical frames: capped, not inf
            lap, lap_bic = lap + laplacian_variance(y_sr), lap_bic + laplacian_variance(y_bic)
            grad, grad_bic = grad + mean_gradient(y_sr), grad_bic + mean_gradient(y_bic)
            block.append(blockiness(y_sr))
    finally:
        model.train(was_training)
    return FrameMetrics(float(np.mean(dual)), lap / max(lap_bic, 1e-12), grad / max(grad_bic, 1e-12),
                        float(np.mean(block)), len(frames))


__all__ = ["FrameMetrics", "Comparison", "frame_metrics", "sr_and_back", "dual_chain", "laplacian_variance", "mean_gradient",
           "blockiness"]
