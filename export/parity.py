"""PyTorch vs ONNX Runtime parity: every export is checked on a real image before it is kept.

Why a real image: random noise exercises a network in a regime it never sees (no edges, no flat
areas), and small numerical differences in Resize(cubic) or DepthToSpace layout bugs show up best
on natural content. ``check_parity`` is public: export uses it, tests use it, users can too.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from edgesr.errors import DataError, EdgeSRError

log = logging.getLogger(__name__)

MAX_SIDE = 128  # parity crop: large enough for real content, small enough for 2 CPU cores


class ParityError(EdgeSRError):
    """The exported model does not reproduce the PyTorch model within tolerance."""


@dataclass(frozen=True)
class ParityReport:
    """Outcome of one PyTorch/ONNX Runtime comparison (outputs as floats in [0, 1])."""

    max_abs_diff: float
    psnr: float
    atol: float
    min_psnr: float | None
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @property
    def passed(self) -> bool:
        ok = self.max_abs_diff <= self.atol
        if self.min_psnr is not None:
            ok = ok and self.psnr >= self.min_psnr
        return bool(ok)

    def raise_if_failed(self, what: str = "the ONNX model") -> None:
        if not self.passed:
            raise ParityError(
                f"{what} does not match PyTorch on a real image {self.input_shape}: max abs diff "
                f"{self.max_abs_diff:.3g} (tolerance {self.atol:g}), PSNR {self.psnr:.2f} dB"
                + (f" (minimum {self.min_psnr:g})" if self.min_psnr is not None else "")
                + "; the export is wrong: re-export with --no-simplify and another --opset to find the step "
                "that breaks it, or loosen the tolerance only if the precision (fp16/int8) explains it")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def __str__(self) -> str:
        # INT8 has no max-diff limit (atol inf): its check is the PSNR floor, so say that, not "(tol inf)"
        tol = f" (tol {self.atol:g})" if math.isfinite(self.atol) else " (no limit)"
        floor = f" (min {self.min_psnr:g})" if self.min_psnr is not None else ""
        return (f"{'OK' if self.passed else 'FAILED'}: max abs diff {self.max_abs_diff:.3g}{tol}, "
                f"PSNR {self.psnr:.2f} dB{floor}, input {'x'.join(map(str, self.input_shape))}")


def default_image() -> np.ndarray:
    """A real photo (scikit-image's astronaut) when available, else a deterministic synthetic scene."""
    try:
        from skimage import data

        return np.asarray(data.astronaut())
    except Exception:  # scikit-image is a test extra
        log.warning("scikit-image not installed: parity runs on a synthetic image; pass image= (or --image) "
                    "with a real photo for a stronger check")
        yy, xx = np.mgrid[0:256, 0:256].astype(np.float32)
        r = 127 + 120 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
        g = (xx + yy) / 2.0
        b = np.where((xx // 32 + yy // 32) % 2 == 0, 200.0, 40.0)
        return np.stack([r, g, b], axis=2).clip(0, 255).astype(np.uint8)


def _load_image(image: Any) -> np.ndarray:
    if image is None:
        return default_image()
    if isinstance(image, (str, os.PathLike)):
        from edgesr.data import read_rgb

        return read_rgb(image)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise DataError(f"parity image must be RGB uint8 HxWx3, got {arr.dtype} {arr.shape}; "
                        "pass a photo read with edgesr.data.read_rgb")
    return arr


def _prepare(img: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is not None:
        import cv2

        return cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    ch, cw = min(h, MAX_SIDE), min(w, MAX_SIDE)
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(img[y:y + ch, x:x + cw])


def run_onnx(onnx_path: str | os.PathLike[str], x: np.ndarray, providers: list[str] | None = None) -> np.ndarray:
    """Run an ONNX SR model on NCHW float input with ONNX Runtime (CPU unless ``providers``)."""
    from edgesr.runtimes.ort import ort_session

    sess = ort_session(onnx_path, providers=providers or None, why="to verify an ONNX export")
    inp = sess.get_inputs()[0]
    dtype = np.float16 if "float16" in inp.type else np.float32
    out = sess.run(None, {inp.name: x.astype(dtype)})[0]
    return np.asarray(out, dtype=np.float32)


def check_parity(model: torch.nn.Module, onnx_path: str | os.PathLike[str], image: Any = None, *,
                 atol: float = 1e-3, min_psnr: float | None = None, size: tuple[int, int] | None = None,
                 batch: int = 1, providers: list[str] | None = None) -> ParityReport:
    """Compare ``model`` (PyTorch, CPU) with ``onnx_path`` (ONNX Runtime) on a real image.

    ``image``: RGB uint8 array or file (default: scikit-image's astronaut), centre-cropped to at
    most ``MAX_SIDE`` px or resized to ``size`` (H, W) for static-shape models. Returns a
    ``ParityReport``; call ``.raise_if_failed()`` to turn a mismatch into a ``ParityError``.
    """
    from edgesr.data import to_tensor
    from edgesr.metrics import psnr

    img = _prepare(_load_image(image), size)
    x = to_tensor(img).unsqueeze(0).repeat(batch, 1, 1, 1)
    model = model.eval().float().cpu()
    with torch.no_grad():
        ref = model(x).numpy()
    out = run_onnx(onnx_path, x.numpy(), providers)
    if out.shape != ref.shape:
        raise ParityError(f"{onnx_path} returns shape {out.shape} but PyTorch returns {ref.shape} for input "
                          f"{tuple(x.shape)}; the export is wrong (wrong scale or static shape): re-export it")
    diff = float(np.max(np.abs(out - ref))) if out.size else 0.0
    if not math.isfinite(diff):
        diff = float("inf")
    a = (np.clip(ref[0], 0, 1) * 255.0).transpose(1, 2, 0)
    b = (np.clip(np.nan_to_num(out[0]), 0, 1) * 255.0).transpose(1, 2, 0)
    report = ParityReport(max_abs_diff=diff, psnr=float(psnr(a, b, y=False)), atol=atol, min_psnr=min_psnr,
                          input_shape=tuple(x.shape), output_shape=tuple(out.shape))
    log.debug("parity of %s: %s", onnx_path, report)
    return report
