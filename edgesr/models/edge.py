"""EdgeSR: the edge-first family (LR-space body, one pixel-shuffle at the end).

Why this shape: every op is a 3x3 conv, ReLU, add or DepthToSpace, which TensorRT 8.5+ and
ONNX Runtime run natively and which quantize well to INT8 (no attention, no sigmoid, no
resize). The network predicts a residual over a nearest-neighbour "anchor" (the input
repeated s*s times before the pixel shuffle, as in ABPN), so it learns only the detail.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import DualBlock, OneHotPixelShuffle, Prunable, SRModel, check_channels, conv3x3


@dataclass(frozen=True)
class EdgeSRConfig:
    scale: int = 2
    n_feats: int = 16  # width of the residual stream (head, block outputs, tail input)
    n_blocks: int = 3  # residual blocks conv-ReLU-conv (+ identity)
    channels: tuple[int, ...] | None = None  # inner width of each block (DRC output); None = n_feats
    dual_feats: int = 16
    n_colors: int = 3


class ResBlock(nn.Module):
    def __init__(self, n_feats: int, mid: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(n_feats, mid)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(mid, n_feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class EdgeSR(SRModel):
    family = "edge"

    def __init__(self, config: EdgeSRConfig | None = None, name: str = "edge") -> None:
        super().__init__()
        cfg = config or EdgeSRConfig()
        if cfg.scale not in (2, 3, 4):
            from ..errors import ConfigError

            raise ConfigError(f"{name}: scale must be 2, 3 or 4, got {cfg.scale}")
        mids = check_channels(cfg.channels, cfg.n_blocks, cfg.n_feats, name)
        self.config = cfg
        self.name = name
        s, c = cfg.scale, cfg.n_feats
        self.head = conv3x3(cfg.n_colors, c)
        self.head_act = nn.ReLU(inplace=True)
        self.blocks = nn.ModuleList([ResBlock(c, m) for m in mids])
        self.tail = conv3x3(c, cfg.n_colors * s * s)
        self.shuffle: nn.Module = nn.PixelShuffle(s)
        self.dual = nn.ModuleList([DualBlock(s, cfg.dual_feats, cfg.n_colors)])

    def forward_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        s2 = self.config.scale ** 2
        # nearest-neighbour anchor: colour c repeated s*s times (exports as Slice + Concat)
        anchor = torch.cat([x[:, c:c + 1] for c in range(x.shape[1]) for _ in range(s2)], dim=1)
        f = self.head_act(self.head(x))
        for block in self.blocks:
            f = block(f)
        return [self.shuffle(self.tail(f) + anchor)]

    def export_form(self) -> nn.Module:
        """A copy whose pixel shuffle is a one-hot ConvTranspose (faster in ONNX Runtime, identical output)."""
        import copy

        m = copy.deepcopy(self)
        m.shuffle = OneHotPixelShuffle(self.config.scale, self.config.n_colors)
        return m

    def prunable(self) -> list[Prunable]:
        blocks: list[ResBlock] = [b for b in self.blocks if isinstance(b, ResBlock)]
        return [Prunable(f"blocks.{i}.conv1", b.conv1, b.conv2, self.config.n_feats) for i, b in enumerate(blocks)]
