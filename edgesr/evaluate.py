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

from .data import benchmark_pairs, to_tensor, to_uint8
from .imresize import imresize
from .metrics import psnr, ssim

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
        raise ValueError("evaluate: scale is required when model is a function")
    report = EvalReport(data=str(data), scale=scale, model=name or "model")
    t0 = time.perf_counter()
    for img_name, hr, lr in benchmark_pairs(data, scale):
        sr = fn(lr)
        if sr.shape != hr.shape:
            raise ValueError(f"{img_name}: model output {sr.shape} != HR {hr.shape}; is the scale x{scale} right?")
        bic = imresize(lr, scale)
        report.images.append(ImageResult(img_name, psnr(sr, hr, scale), ssim(sr, hr, scale),
                                         psnr(bic, hr, scale), ssim(bic, hr, scale)))
    report.seconds = time.perf_counter() - t0
    log.info("%s on %s x%d: %.2f dB / %.4f (bicubic %.2f dB)", report.model, data, scale, report.psnr,
             report.ssim, report.bicubic_psnr)
    return report
