"""Luma-only super-resolution inside an RGB model (the FSRCNN / ECBSR / SESR protocol).

Those papers super-resolve only Y and upsample the chroma bicubically. Here the colour handling is
part of the network (``EdgeSRConfig(luma=True)``), so the model still maps RGB to RGB: the Upscaler,
tiling, evaluation, training losses and the exporters need no special case. The colour transforms
are fixed 1x1 convolutions (BT.601 as MATLAB's ``rgb2ycbcr``, the same Y the evaluation measures)
and the chroma upsampling is one bicubic Resize, so the graph stays plain ONNX.
"""
from __future__ import annotations

import math

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


def _cubic(x: float, a: float = -0.75) -> float:
    x = abs(x)
    if x <= 1:
        return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
    return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a if x < 2 else 0.0


def bicubic_kernel(scale: int) -> torch.Tensor:
    """The 1-D polyphase kernel (length 5·scale) of PyTorch's bicubic x``scale`` upsampling (a = -0.75,
    half-pixel centres), laid out for a stride-``scale`` transposed convolution of a 2-pixel-padded input."""
    k = [0.0] * (5 * scale)
    for p in range(scale):
        u = (p + 0.5) / scale - 0.5
        f = math.floor(u)
        for m in range(-1, 3):
            k[p + scale * (2 - (f + m))] += _cubic(u - f - m)
    return torch.tensor(k)


def chroma_kernel(scale: int, channels: int = 2) -> torch.Tensor:
    """Polyphase form of :func:`upsample_chroma`: a depthwise 5x5 conv whose ``scale²`` outputs per channel are
    the output phases (weight (channels·s², 1, 5, 5), DepthToSpace channel order). A constant: exportable."""
    k, s = bicubic_kernel(scale), scale
    w = torch.zeros(channels * s * s, 1, 5, 5)
    for c in range(channels):
        for py in range(s):
            for px in range(s):
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        w[c * s * s + py * s + px, 0, dy + 2, dx + 2] = k[py + s * (2 - dy)] * k[px + s * (2 - dx)]
    return w


def upsample_chroma(cbcr: torch.Tensor, scale: int, kernel: torch.Tensor | None = None,
                    shuffle: torch.Tensor | None = None) -> torch.Tensor:
    """Bicubic chroma upsampling (what the luma-only papers do; chroma carries little detail).

    Exactly ``F.interpolate(..., mode="bicubic", align_corners=False)`` (edge-clamped), written as an
    edge pad, a depthwise polyphase conv and a one-hot pixel shuffle: ONNX Runtime's cubic ``Resize``
    took more time than every convolution of ``edge_tiny`` together (780 vs 646 ms of a profile at
    640x360), and a 10x10 depthwise ConvTranspose nearly as much; plain convs run on its fast kernels."""
    from .base import OneHotPixelShuffle

    c = cbcr.shape[1]
    w = (kernel if kernel is not None else chroma_kernel(scale, c)).to(cbcr.dtype)
    y = F.conv2d(F.pad(cbcr, (2, 2, 2, 2), mode="replicate"), w, groups=w.shape[0] // (scale * scale))
    sw = shuffle if shuffle is not None else OneHotPixelShuffle(scale, c).weight
    return F.conv_transpose2d(y, sw.to(y.dtype), stride=scale)


class LumaIO(nn.Module):
    """Splits RGB into Y and CbCr on the way in and recombines the super-resolved Y with the
    bicubic chroma on the way out."""

    chroma_kernel: torch.Tensor
    chroma_shuffle: torch.Tensor

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.to_ycbcr = ColorTransform(inverse=False)
        self.to_rgb = ColorTransform(inverse=True)
        # not in the state dict: a constant of the scale, so checkpoints saved before it still load
        self.register_buffer("chroma_kernel", chroma_kernel(scale), persistent=False)
        from .base import OneHotPixelShuffle

        self.register_buffer("chroma_shuffle", OneHotPixelShuffle(scale, 2).weight, persistent=False)

    def split(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ycc = self.to_ycbcr(rgb)
        return ycc[:, :1], ycc[:, 1:]

    def merge(self, y_sr: torch.Tensor, cbcr_lr: torch.Tensor) -> torch.Tensor:
        return self.to_rgb(torch.cat([y_sr, upsample_chroma(cbcr_lr, self.scale, self.chroma_kernel, self.chroma_shuffle)], dim=1))
