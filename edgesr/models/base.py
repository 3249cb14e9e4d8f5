"""What every edgesr model is: a plain ``nn.Module`` plus a frozen config.

A model maps an RGB float tensor in [0, 1] (N, 3, h, w) to (N, 3, s*h, s*w). For dual
regression it also exposes its intermediate outputs (``forward_levels``) and a ``dual``
``ModuleList`` mapping outputs back down (HR -> LR). The dual networks are training-time
only: ``forward`` never touches them, so ONNX export carries the primal network alone.
"""
from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Sequence

import torch
from torch import nn

from ..config import to_dict


class Prunable(NamedTuple):
    """A channel-prunable pair: ``producer``'s output channels feed ``consumer``'s inputs.

    Pruning removes output channels of ``producer`` and the matching input channels of
    ``consumer``; nothing else in the network depends on that width (no residual sum).
    Widths and channel indices count ``consumer`` input channels; each one is fed by ``group``
    consecutive ``producer`` output channels (4 when a x2 ``PixelShuffle`` sits between them).
    """

    name: str
    producer: nn.Conv2d
    consumer: nn.Conv2d
    width: int  # channels in the full-width (reference) architecture
    group: int = 1  # producer output channels per consumer input channel


class DualPair(NamedTuple):
    """``dual[i]`` maps the level at scale ``src`` down to scale ``dst`` (relative to the input)."""

    src: int
    dst: int


class SRModel(nn.Module):
    """Base class: subclasses set ``family``, ``config``, ``scale`` and implement ``forward_levels``."""

    family: ClassVar[str] = ""
    config: Any
    name: str
    dual: nn.ModuleList

    @property
    def scale(self) -> int:
        return int(self.config.scale)

    @property
    def level_scales(self) -> tuple[int, ...]:
        """Scale (relative to the input) of each output of ``forward_levels``; last is ``scale``."""
        return (self.scale,)

    @property
    def dual_pairs(self) -> tuple[DualPair, ...]:
        return (DualPair(self.scale, 1),)

    def forward_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_levels(x)[-1]

    def prunable(self) -> list[Prunable]:
        """Channel-prunable layer pairs, in the order :meth:`channel_config` reads a width list."""
        return []

    def channel_config(self, widths: Sequence[int]) -> dict[str, Any]:
        """Config overrides that build this architecture with ``widths[i]`` for ``prunable()[i]``."""
        return {"channels": [int(w) for w in widths]}

    def export_form(self) -> nn.Module:
        """The module ONNX export traces: numerically identical, laid out for fast runtimes.

        Default: ``self``. EdgeSR swaps its pixel shuffle for ``OneHotPixelShuffle``.
        """
        return self

    def arch(self) -> dict[str, Any]:
        """Everything needed to rebuild the module: stored beside the weights by ``save_model``."""
        return {"name": self.name, "family": self.family, "config": to_dict(self.config)}


def conv3x3(cin: int, cout: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


class DualBlock(nn.Module):
    """The paper's dual network: stride-2 conv(s) + LeakyReLU(0.2), then a conv back to RGB.

    For a scale that is not a power of two (x3) one stride-``scale`` conv does the reduction.
    """

    def __init__(self, scale: int, n_feats: int = 16, n_colors: int = 3, negval: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        strides = _strides(scale)
        cin = n_colors
        for s in strides:
            layers += [nn.Conv2d(cin, n_feats, 3, stride=s, padding=1, bias=False), nn.LeakyReLU(negval, inplace=True)]
            cin = n_feats
        layers.append(nn.Conv2d(n_feats, n_colors, 3, padding=1, bias=False))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _strides(scale: int) -> list[int]:
    if scale & (scale - 1) == 0:  # power of two
        return [2] * (scale.bit_length() - 1)
    return [scale]


def check_channels(channels: Sequence[int] | None, n: int, width: int, what: str) -> tuple[int, ...]:
    """Validate a per-layer channel list (``None`` = full width)."""
    from ..errors import ConfigError

    if channels is None or len(channels) == 0:
        return (width,) * n
    ch = tuple(int(c) for c in channels)
    if len(ch) != n:
        raise ConfigError(f"{what}: channels has {len(ch)} entries but the model has {n} prunable layers")
    if any(c < 1 for c in ch):
        raise ConfigError(f"{what}: every channel count must be >= 1, got {ch}")
    return ch



class OneHotPixelShuffle(nn.Module):
    """Pixel shuffle as a stride-``s`` ConvTranspose with fixed one-hot weights (bit-exact).

    Why: ONNX Runtime's CPU DepthToSpace is a generic 6-D transpose; at 12x360x640 -> 3x720x1280
    it took 11.5 ms against 4.7 ms for this ConvTranspose (2 threads, idle), a fifth of a
    real-time model's frame. TensorRT runs both natively. Used only for export (``export_form``).
    """

    weight: torch.Tensor

    def __init__(self, scale: int, out_channels: int) -> None:
        super().__init__()
        s = scale
        w = torch.zeros(out_channels * s * s, out_channels, s, s)
        for c in range(out_channels):  # DepthToSpace CRD order: input channel c*s*s + i*s + j -> (c, i, j)
            for i in range(s):
                for j in range(s):
                    w[c * s * s + i * s + j, c, i, j] = 1.0
        self.register_buffer("weight", w, persistent=False)
        self.scale = s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv_transpose2d(x, self.weight, stride=self.scale)


def is_one_hot_shuffle(weight: Any) -> bool:
    """True for a ConvTranspose weight (C*s*s, C, s, s) that only moves pixels (``OneHotPixelShuffle``)."""
    import numpy as np

    w = np.asarray(weight)
    if w.ndim != 4 or w.shape[2] != w.shape[3] or w.shape[0] != w.shape[1] * w.shape[2] * w.shape[3]:
        return False
    return bool(np.isin(w, (0.0, 1.0)).all() and (w.reshape(w.shape[0], -1).sum(axis=1) == 1).all()
                and (w.sum(axis=0) == 1).all())
