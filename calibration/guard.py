"""The INT8 quality guard: how much did quantization cost, measured without labels where needed.

Three numbers per build, on held-out calibration frames:

* ``psnr_vs_fp32``: INT8 output against the FP32 output (fidelity; no labels).
* dual regression consistency: MATLAB-bicubic downscale of the SR output against the LR input
  (a no-reference check that works on real camera frames), for FP32 and INT8.
* ground truth: against HR references where they exist; otherwise each held-out frame is its
  own reference (downscaled by the scale with MATLAB bicubic, super-resolved, compared with the
  frame). ``drop_db`` = FP32 PSNR - INT8 PSNR on that ground truth: the number the guard's
  threshold applies to, in the same units as a benchmark table.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from edgesr.errors import ConfigError

from .dataset import CalibrationSet, frame_to_nchw, nchw_to_frame

log = logging.getLogger(__name__)

PSNR_CAP = 100.0  # identical outputs give inf; cap so means stay finite


KERNELS = {"cpu": "all", "qdq": "disable"}  # guard kernels -> ORT graph optimization level


def ort_session(model: str | os.PathLike[str] | bytes, threads: int = 1, kernels: str = "cpu") -> Any:
    """A CPU ONNX Runtime session, through the runtime backend's :func:`edgesr.runtimes.ort.ort_session`.

    ``kernels="cpu"``: ORT's fused INT8 CPU kernels, what a CPU deployment runs (their error depends on the
    host: VNNI or not, reduce_range). ``"qdq"``: no graph optimization, so each QuantizeLinear /
    DequantizeLinear runs as written and the convolutions in float: the Q/DQ graph's own arithmetic, the
    same on every host and the closer estimate for a backend that honours Q/DQ (TensorRT)."""
    from edgesr.runtimes.ort import ort_session

    if kernels not in KERNELS:
        raise ConfigError(f"unknown guard kernels {kernels!r}; use one of {', '.join(KERNELS)}")
    return ort_session(model, threads=threads, level=KERNELS[kernels], why="to check a quantized model")


def session_fn(sess: Any) -> Callable[[np.ndarray], np.ndarray]:
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


@dataclass
class Quality:
    frames: int
    psnr_vs_fp32: float
    dual_psnr_fp32: float
    dual_psnr_int8: float
    gt_psnr_fp32: float
    gt_psnr_int8: float
    gt_source: str  # "references" (HR given) or "self" (frames as their own HR)

    @property
    def drop_db(self) -> float:
        return self.gt_psnr_fp32 - self.gt_psnr_int8

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["drop_db"] = self.drop_db
        return d


def _psnr(a: np.ndarray, b: np.ndarray, shave: int) -> float:
    from edgesr.metrics import psnr

    return min(PSNR_CAP, psnr(a, b, shave))


def measure_quality(fp32: Callable[[np.ndarray], np.ndarray], int8: Callable[[np.ndarray], np.ndarray],
                    held_out: CalibrationSet, scale: int) -> Quality:
    """Compare two upscalers (NCHW float -> NCHW float) on held-out frames; see the module doc."""
    from edgesr.data import modcrop
    from edgesr.data.bicubic import imresize

    pv, d32, d8, g32, g8 = [], [], [], [], []
    source = "references" if all(r is not None for r in held_out.references) else "self"
    for x, ref in zip(held_out.frames, held_out.references):
        lr = nchw_to_frame(x)
        y32, y8 = nchw_to_frame(fp32(x)), nchw_to_frame(int8(x))
        if y32.shape[:2] != (lr.shape[0] * scale, lr.shape[1] * scale):
            raise ValueError(f"model output {y32.shape[:2]} is not x{scale} of input {lr.shape[:2]}; wrong scale?")
        pv.append(_psnr(y8, y32, scale))
        d32.append(_psnr(imresize(y32, 1.0 / scale), lr, 1))
        d8.append(_psnr(imresize(y8, 1.0 / scale), lr, 1))
        if source == "references":
            hr, out32, out8 = ref, y32, y8
        else:  # the frame is its own ground truth
            hr = modcrop(lr, scale)
            small = frame_to_nchw(imresize(hr, 1.0 / scale))
            out32, out8 = nchw_to_frame(fp32(small)), nchw_to_frame(int8(small))
        assert hr is not None
        g32.append(_psnr(out32, hr, scale))
        g8.append(_psnr(out8, hr, scale))
    m = lambda v: float(np.mean(v))  # noqa: E731
    return Quality(len(pv), m(pv), m(d32), m(d8), m(g32), m(g8), source)
