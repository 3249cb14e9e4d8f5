"""EdgeSR: the edge-first family (LR-space body, one pixel-shuffle at the end).

Why this shape: every op is a 3x3 conv, ReLU, add or DepthToSpace, which TensorRT 8.5+ and
ONNX Runtime run natively and which quantize well to INT8 (no attention, no sigmoid, no
resize). The network predicts a residual over a nearest-neighbour "anchor" (the input
repeated s*s times before the pixel shuffle, as in ABPN), so it learns only the detail.
``rep`` trains every 3x3 conv as a re-parameterizable block (``rep.py``: ECB, RepVGG, SESR)
that collapses exactly into one 3x3 conv for deployment (``reparameterize``, ``export_form``).
``luma`` super-resolves only Y and upsamples the chroma bicubically, inside the RGB model (``luma.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from .base import DualBlock, OneHotPixelShuffle, Prunable, SRModel, check_channels
from .luma import LumaIO
from .rep import check_rep, rep_conv3x3, reparameterize


@dataclass(frozen=True)
class EdgeSRConfig:
    scale: int = 2
    n_feats: int = 16  # width of the residual stream (head, block outputs, tail input)
    n_blocks: int = 3  # residual blocks conv-ReLU-conv (+ identity)
    channels: tuple[int, ...] | None = None  # inner width of each block (DRC output); None = n_feats
    dual_feats: int = 16
    n_colors: int = 3
    rep: str = "none"  # train-time form of every 3x3 conv: none | ecb | repvgg | sesr (deploys as "none")
    rep_expand: int = 2  # width multiplier of the ECB 1x1->3x3 branch / the SESR expansion
    luma: bool = False  # the body sees only Y (BT.601); chroma is bicubic. Input and output stay RGB


class ResBlock(nn.Module):
    def __init__(self, n_feats: int, mid: int, rep: str = "none", rep_expand: int = 2) -> None:
        super().__init__()
        self.conv1 = rep_conv3x3(rep, n_feats, mid, rep_expand)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = rep_conv3x3(rep, mid, n_feats, rep_expand)

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
        check_rep(cfg.rep, cfg.rep_expand, name)
        self.config = cfg
        self.name = name
        s, c, r, e = cfg.scale, cfg.n_feats, cfg.rep, cfg.rep_expand
        body_colors = 1 if cfg.luma else cfg.n_colors
        if cfg.luma and cfg.n_colors != 3:
            from ..errors import ConfigError

            raise ConfigError(f"{name}: luma=True needs RGB models (n_colors=3), got n_colors={cfg.n_colors}")
        self.luma: LumaIO | None = LumaIO(s) if cfg.luma else None
        self.head = rep_conv3x3(r, body_colors, c, e)
        self.head_act = nn.ReLU(inplace=True)
        self.blocks = nn.ModuleList([ResBlock(c, m, r, e) for m in mids])
        self.tail = rep_conv3x3(r, c, body_colors * s * s, e)
        self.shuffle: nn.Module = nn.PixelShuffle(s)
        self.dual = nn.ModuleList([DualBlock(s, cfg.dual_feats, cfg.n_colors)])

    def forward_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.luma is None:
            return [self._body(x)]
        y, cbcr = self.luma.split(x)
        return [self.luma.merge(self._body(y), cbcr)]

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        s2 = self.config.scale ** 2
        # nearest-neighbour anchor: colour c repeated s*s times (exports as Slice + Concat)
        anchor = torch.cat([x[:, c:c + 1] for c in range(x.shape[1]) for _ in range(s2)], dim=1)
        f = self.head_act(self.head(x))
        for block in self.blocks:
            f = block(f)
        return self.shuffle(self.tail(f) + anchor)

    def export_form(self) -> nn.Module:
        """A collapsed copy (``rep="none"``) whose pixel shuffle is a one-hot ConvTranspose (faster in
        ONNX Runtime, identical output)."""
        m = reparameterize(self)
        m.shuffle = OneHotPixelShuffle(self.config.scale, 1 if self.config.luma else self.config.n_colors)
        return m

    def prunable(self) -> list[Prunable]:
        if self.config.rep != "none":
            from ..errors import ConfigError

            raise ConfigError(f"{self.name} has rep={self.config.rep!r} blocks; prune its collapsed form: "
                              "edgesr.models.rep.reparameterize(model)")
        blocks: list[ResBlock] = [b for b in self.blocks if isinstance(b, ResBlock)]
        return [Prunable(f"blocks.{i}.conv1", cast(nn.Conv2d, b.conv1), cast(nn.Conv2d, b.conv2), self.config.n_feats)
                for i, b in enumerate(blocks)]
