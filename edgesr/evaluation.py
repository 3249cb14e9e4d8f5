"""The literature's evaluation protocol, as one function.

mod-crop HR to the scale, LR by MATLAB bicubic (stored as uint8, like an LR PNG), super-resolve,
quantise to uint8, BT.601 Y, shave ``scale`` pixels, PSNR and SSIM; plus bicubic as a reference.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .data import list_images, modcrop, read_rgb, to_tensor, to_uint8
from .errors import ConfigError, DataError
from .data.bicubic import imresize
from .metrics import psnr, ssim, ssim_min_size

log = logging.getLogger(__name__)

UpscaleFn = Callable[[np.ndarray], np.ndarray]  # RGB uint8 LR -> RGB uint8 SR


@dataclass
class ImageResult:
    name: str
    psnr: float
    ssim: float
    bicubic_psnr: float
    bicubic_ssim: float


@dataclass
class EvalReport:
    data: str
    scale: int
    model: str
    images: list[ImageResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def psnr(self) -> float:
        return float(np.mean([r.psnr for r in self.images]))

    @property
    def ssim(self) -> float:
        return float(np.mean([r.ssim for r in self.images]))

    @property
    def bicubic_psnr(self) -> float:
        return float(np.mean([r.bicubic_psnr for r in self.images]))

    @property
    def bicubic_ssim(self) -> float:
        return float(np.mean([r.bicubic_ssim for r in self.images]))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(psnr=self.psnr, ssim=self.ssim, bicubic_psnr=self.bicubic_psnr, bicubic_ssim=self.bicubic_ssim)
        return d

    def table(self) -> str:
        rows = [f"{'image':<14}{'PSNR':>8}{'SSIM':>8}{'bic PSNR':>10}{'bic SSIM':>10}"]
        for r in self.images:
            rows.append(f"{r.name:<14}{r.psnr:8.2f}{r.ssim:8.4f}{r.bicubic_psnr:10.2f}{r.bicubic_ssim:10.4f}")
        rows.append(f"{'mean':<14}{self.psnr:8.2f}{self.ssim:8.4f}{self.bicubic_psnr:10.2f}{self.bicubic_ssim:10.4f}")
        return "\n".join(rows)


def torch_upscale_fn(model: torch.nn.Module) -> UpscaleFn:
    """Wrap a model (RGB float NCHW in [0,1]) as an RGB uint8 -> uint8 function."""
    p = next(model.parameters())

    @torch.no_grad()
    def run(lr: np.ndarray) -> np.ndarray:
        was_training = model.training
        model.eval()
        out = model(to_tensor(lr)[None].to(p.device, p.dtype))[0].float()
        model.train(was_training)
        return to_uint8(out)

    return run


def bicubic_fn(scale: int) -> UpscaleFn:
    return lambda lr: imresize(lr, scale)


def _check_size(path: Path, hr: np.ndarray, scale: int) -> None:
    """SSIM needs its 11x11 window inside the image once ``scale`` pixels are shaved off each side."""
    need = ssim_min_size(scale)
    h, w = hr.shape[:2]
    if h < need or w < need:
        raise DataError(f"{path}: {w}x{h} (cropped to a multiple of x{scale}) is smaller than the {need}x{need} "
                        f"minimum for SSIM at x{scale}; remove it from the benchmark folder or use a larger image")


def evaluate(model: torch.nn.Module | UpscaleFn | str | Path, data: str | Path, scale: int | None = None,
             name: str | None = None) -> EvalReport:
    """Evaluate a model (module, checkpoint path, or uint8 upscale function) on an image folder."""
    if isinstance(model, (str, Path)):
        from .models import load_model

        name = name or Path(model).name
        model = load_model(model)
    if isinstance(model, torch.nn.Module):
        scale = scale or int(getattr(model, "scale"))
        name = name or getattr(model, "name", type(model).__name__)
        fn = torch_upscale_fn(model)
    else:
        fn = model
    if scale is None:
        raise ConfigError("evaluate: scale is required when model is a function; pass scale=2 (or 3, 4)")
    report = EvalReport(data=str(data), scale=scale, model=name or "model")
    t0 = time.perf_counter()
    for f in list_images(data):
        hr = modcrop(read_rgb(f), scale)
        _check_size(f, hr, scale)
        lr = imresize(hr, 1.0 / scale)
        sr = fn(lr)
        if sr.shape != hr.shape:
            raise DataError(f"{f.name}: model output {sr.shape} != HR {hr.shape}; is the scale x{scale} right? "
                            "pass the model's scale")
        bic = imresize(lr, scale)
        report.images.append(ImageResult(f.stem, psnr(sr, hr, scale), ssim(sr, hr, scale),
                                         psnr(bic, hr, scale), ssim(bic, hr, scale)))
    report.seconds = time.perf_counter() - t0
    log.info("%s on %s x%d: %.2f dB / %.4f (bicubic %.2f dB)", report.model, data, scale, report.psnr,
             report.ssim, report.bicubic_psnr)
    return report
