"""DRN (Guo et al., CVPR 2020 / TPAMI 2022), following the official implementation.

Primal: bicubic-upsample the LR input to the target size, a head conv, ``log2(scale)`` down
blocks (stride-2 conv + LeakyReLU), then up blocks of RCABs with pixel-shuffle upsampling and
skip concatenations; one RGB output head per level (coarsest first). Dual: one
``DualBlock`` per x2 step mapping each output level back to the one below it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .base import DualBlock, DualPair, Prunable, SRModel, check_channels

RGB_MEAN = (0.4488, 0.4371, 0.4040)


@dataclass(frozen=True)
class DRNConfig:
    scale: int = 4
    n_feats: int = 16
    n_blocks: int = 30
    channels: tuple[int, ...] | None = None  # inner width of every RCAB (DRC output); None = full
    reduction: int = 16  # channel-attention reduction
    negval: float = 0.2
    dual_feats: int | None = None  # None = n_feats, as in the official code
    n_colors: int = 3


def _conv(cin: int, cout: int, k: int = 3, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


class MeanShift(nn.Conv2d):
    """Fixed 1x1 conv that subtracts (sign=-1) or adds (sign=+1) the dataset RGB mean."""

    def __init__(self, sign: int) -> None:
        super().__init__(3, 3, 1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            assert self.bias is not None
            self.bias.copy_(sign * torch.tensor(RGB_MEAN))
        for p in self.parameters():
            p.requires_grad = False


class CALayer(nn.Module):
    def __init__(self, c: int, reduction: int) -> None:
        super().__init__()
        r = max(1, c // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.body = nn.Sequential(nn.Conv2d(c, r, 1), nn.ReLU(inplace=True), nn.Conv2d(r, c, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.body(self.pool(x))


class RCAB(nn.Module):
    """Residual channel-attention block; ``mid`` is the prunable inner width."""

    def __init__(self, c: int, mid: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(c, mid), nn.ReLU(inplace=True), _conv(mid, c), CALayer(c, reduction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DownBlock(nn.Sequential):
    def __init__(self, cin: int, nf: int, cout: int, negval: float) -> None:
        super().__init__(
            nn.Conv2d(cin, nf, 3, stride=2, padding=1, bias=False),
            nn.LeakyReLU(negval, inplace=True),
            nn.Conv2d(nf, cout, 3, padding=1, bias=False),
        )


class DRN(SRModel):
    family = "drn"

    def __init__(self, config: DRNConfig | None = None, name: str = "drn") -> None:
        super().__init__()
        cfg = config or DRNConfig()
        if cfg.scale not in (2, 4, 8, 16):
            from ..errors import ConfigError

            raise ConfigError(f"{name}: scale must be a power of two (2, 4, 8), got {cfg.scale}")
        self.config = cfg
        self.name = name
        self.phase = int(math.log2(cfg.scale))
        nf, nb, P = cfg.n_feats, cfg.n_blocks, self.phase
        mids = check_channels(cfg.channels, P * nb, 0, name) if cfg.channels else None
        self.upsample = nn.Upsample(scale_factor=cfg.scale, mode="bicubic", align_corners=False)
        self.sub_mean = MeanShift(-1)
        self.add_mean = MeanShift(+1)
        self.head = _conv(cfg.n_colors, nf)
        self.down = nn.ModuleList(
            [DownBlock(nf * 2**p, nf * 2**p, nf * 2 ** (p + 1), cfg.negval) for p in range(P)]
        )
        widths = [nf * 2**P] + [nf * 2**p for p in range(P, 1, -1)]  # RCAB width per up block
        ups: list[list[nn.Module]] = [
            [_conv(nf * 2**P, 4 * nf * 2**P), nn.PixelShuffle(2), _conv(nf * 2**P, nf * 2 ** (P - 1), 1)]
        ]
        for p in range(P - 1, 0, -1):
            ups.append([_conv(2 * nf * 2**p, 4 * 2 * nf * 2**p), nn.PixelShuffle(2), _conv(2 * nf * 2**p, nf * 2 ** (p - 1), 1)])
        self.up_blocks = nn.ModuleList()
        k = 0
        for idx in range(P):
            w = widths[idx]
            blocks = []
            for _ in range(nb):
                blocks.append(RCAB(w, mids[k] if mids else w, cfg.reduction))
                k += 1
            self.up_blocks.append(nn.Sequential(*blocks, *ups[idx]))
        tails = [_conv(nf * 2**P, cfg.n_colors)] + [_conv(nf * 2**p, cfg.n_colors) for p in range(P, 0, -1)]
        self.tail = nn.ModuleList(tails)
        df = cfg.dual_feats or nf
        self.dual = nn.ModuleList([DualBlock(2, df, cfg.n_colors, cfg.negval) for _ in range(P)])

    @property
    def level_scales(self) -> tuple[int, ...]:
        return tuple(2**p for p in range(self.phase + 1))

    @property
    def dual_pairs(self) -> tuple[DualPair, ...]:
        return tuple(DualPair(2 ** (p + 1), 2**p) for p in range(self.phase))

    def forward_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.upsample(x)
        x = self.head(self.sub_mean(x))
        copies = []
        for down in self.down:
            copies.append(x)
            x = down(x)
        results = [self.add_mean(self.tail[0](x))]
        for idx, up in enumerate(self.up_blocks):
            x = torch.cat((up(x), copies[self.phase - idx - 1]), 1)
            results.append(self.add_mean(self.tail[idx + 1](x)))
        return results

    def prunable(self) -> list[Prunable]:
        out = []
        for i, up in enumerate(self.up_blocks):
            for j, m in enumerate(up.children()):
                if isinstance(m, RCAB):
                    conv1, conv2 = m.body[0], m.body[2]
                    assert isinstance(conv1, nn.Conv2d) and isinstance(conv2, nn.Conv2d)
                    out.append(Prunable(f"up_blocks.{i}.{j}.body.0", conv1, conv2, conv2.out_channels))
        return out
