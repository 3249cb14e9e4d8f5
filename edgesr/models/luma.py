"""Luma-only super-resolution inside an RGB model (the FSRCNN / ECBSR / SESR protocol).

Those papers super-resolve only Y and upsample the chroma bicubically. Here the colour handling is
part of the network (``EdgeSRConfig(luma=True)``), so the model still maps RGB to RGB: the Upscaler,
tiling, evaluation, training losses and the exporters need no special case. The colour transforms
are fixed 1x1 convolutions (BT.601 as MATLAB's ``rgb2ycbcr``, the same Y the evaluation measures)
and the chroma upsampling is one bicubic Resize, so the graph stays plain ONNX.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# MATLAB rgb2ycbcr for RGB in [0, 1]: ycbcr = (OFFSET + M @ rgb) / 255
_M = torch.tensor([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0
_OFFSET = torch.tensor([16.0, 128.0, 128.0]) / 255.0


class ColorTransform(nn.Module):
    """Fixed affine colour transform as a 1x1 conv (buffers: not trained, not pruned, saved)."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, inverse: bool) -> None:
        super().__init__()
        m, b = (torch.linalg.inv(_M), -torch.linalg.inv(_M) @ _OFFSET) if inverse else (_M, _OFFSET)
        self.register_buffer("weight", m.reshape(3, 3, 1, 1).clone())
        self.register_buffer("bias", b.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype))


def upsample_chroma(cbcr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic chroma upsampling (what the luma-only papers do; chroma carries little detail)."""
    return F.interpolate(cbcr, scale_factor=scale, mode="bicubic", align_corners=False)


class LumaIO(nn.Module):
    """Splits RGB into Y and CbCr on the way in and recombines the super-resolved Y with the
    bicubic chroma on the way out."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.to_ycbcr = ColorTransform(inverse=False)
        self.to_rgb = ColorTransform(inverse=True)

    def split(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ycc = self.to_ycbcr(rgb)
        return ycc[:, :1], ycc[:, 1:]

    def merge(self, y_sr: torch.Tensor, cbcr_lr: torch.Tensor) -> torch.Tensor:
        return self.to_rgb(torch.cat([y_sr, upsample_chroma(cbcr_lr, self.scale)], dim=1))
