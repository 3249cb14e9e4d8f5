"""DRN (Guo et al., CVPR 2020 / TPAMI 2022), following the official implementation.

Primal: bicubic-upsample the LR input to the target size, a head conv, ``log2(scale)`` down
blocks (stride-2 conv + LeakyReLU), then up blocks of RCABs with pixel-shuffle upsampling and
skip concatenations; one RGB output head per level (coarsest first). Dual: one
``DualBlock`` per x2 step mapping each output level back to the one below it.

Differences from the official code: edgesr works in [0, 1] (official: [0, 255]) and the
MeanShift layers are frozen (official: trained). ``edgesr.models.official`` converts official
checkpoints. Prunable layers, as DRC searches them (``P * (n_blocks + 2)``): each down block's
inner conv, each RCAB's inner conv and each up level's upsampler width.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..errors import ConfigError
from .base import DualBlock, DualPair, Prunable, SRModel, check_channels

RGB_MEAN = (0.4488, 0.4371, 0.4040)

# Official presets (template.py of guoyongcs/DRC): variant -> scale -> (n_feats, n_blocks).
# Other scales (x2, x16) have no official preset and use the x4 sizes.
VARIANTS: dict[str, dict[int, tuple[int, int]]] = {
    "s": {4: (16, 30), 8: (8, 30)},
    "l": {4: (20, 40), 8: (10, 36)},
}


@dataclass(frozen=True)
class DRNConfig:
    scale: int = 4
    variant: str = "s"  # DRN-S / DRN-L: supplies n_feats / n_blocks for this scale when they are None
    n_feats: int | None = None
    n_blocks: int | None = None  # RCABs per up level
    channels: tuple[int, ...] | None = None  # inner width of every RCAB, level by level; None = full
    down_channels: tuple[int, ...] | None = None  # inner width of each down block; None = full
    up_channels: tuple[int, ...] | None = None  # upsampler width u per up level (conv n->4u, shuffle, 1x1 u->out)
    reduction: int = 16  # channel-attention reduction
    negval: float = 0.2
    dual_feats: int | None = None  # None = n_feats, as in the official code
    n_colors: int = 3

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ConfigError(f"DRN variant must be one of {sorted(VARIANTS)} (DRN-S / DRN-L), got {self.variant!r}")
        nf, nb = VARIANTS[self.variant].get(self.scale, VARIANTS[self.variant][4])
        if self.n_feats is None:
            object.__setattr__(self, "n_feats", nf)
        if self.n_blocks is None:
            object.__setattr__(self, "n_blocks", nb)

    @classmethod
    def from_search(cls, search: str | os.PathLike[str] | Sequence[int], scale: int = 4, **fields_: Any) -> DRNConfig:
        """Config of the DRC-pruned DRN (official ``SDRN``) from a channel list in the official order.

        ``search`` is a ``search_x*p*.txt`` file of the official release (one integer a line) or
        its list: for each level the down-block inner widths first, then per up level its
        ``n_blocks`` RCAB inner widths followed by the upsampler width.
        """
        ch = read_search_file(search) if isinstance(search, (str, os.PathLike)) else [int(c) for c in search]
        base = cls(scale=scale, **fields_)
        assert base.n_blocks is not None
        down, rcab, up = split_official(ch, int(math.log2(scale)), base.n_blocks)
        return cls(scale=scale, **{**fields_, "channels": rcab, "down_channels": down, "up_channels": up})


def read_search_file(path: str | os.PathLike[str]) -> list[int]:
    """The channel list of an official DRC search file (whitespace-separated integers)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"channel search file not found: {p}; pass a search_x4p03.txt-style file")
    try:
        return [int(t) for t in p.read_text().split()]
    except ValueError:
        raise ConfigError(f"{p} is not a DRC channel file (expected one integer a line)") from None


def split_official(ch: Sequence[int], phase: int, n_blocks: int) -> tuple[tuple[int, ...], ...]:
    """(down, rcab, up) widths from a flat list in the official (and ``DRN.prunable()``) order."""
    n = phase * (n_blocks + 2)
    if len(ch) != n:
        raise ConfigError(f"channel list has {len(ch)} entries but a x{2 ** phase} DRN with {n_blocks} RCABs per "
                          f"level has {n} prunable layers ({phase} down + {phase} x ({n_blocks} RCABs + 1 upsampler)); "
                          "pass the matching scale / n_blocks")
    levels = [ch[phase + i * (n_blocks + 1): phase + (i + 1) * (n_blocks + 1)] for i in range(phase)]
    return (tuple(ch[:phase]), tuple(c for lv in levels for c in lv[:-1]), tuple(lv[-1] for lv in levels))


def full_widths(cfg: DRNConfig) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Unpruned (down, rcab, up) widths of ``cfg``: those of the official DRN. The upsampler width
    equals its level's RCAB width (official ``Upsampler``: conv n -> 4n)."""
    assert cfg.n_feats is not None and cfg.n_blocks is not None
    nf, nb, P = cfg.n_feats, cfg.n_blocks, int(math.log2(cfg.scale))
    lw = [nf * 2**P] + [nf * 2**p for p in range(P, 1, -1)]
    return tuple(nf * 2**p for p in range(P)), tuple(w for w in lw for _ in range(nb)), tuple(lw)


def _conv(cin: int, cout: int, k: int = 3, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


class MeanShift(nn.Conv2d):
    """Frozen 1x1 conv that subtracts (sign=-1) or adds (sign=+1) the dataset RGB mean."""

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


def _up(cin: int, u: int, cout: int) -> list[nn.Module]:
    """Official upsampler: conv cin -> 4u, PixelShuffle(2) (u channels), then the 1x1 conv u -> cout."""
    return [_conv(cin, 4 * u), nn.PixelShuffle(2), _conv(u, cout, 1)]


class DRN(SRModel):
    family = "drn"

    def __init__(self, config: DRNConfig | None = None, name: str = "drn") -> None:
        super().__init__()
        cfg = config or DRNConfig()
        if cfg.scale not in (2, 4, 8, 16):
            raise ConfigError(f"{name}: scale must be a power of two (2, 4, 8), got {cfg.scale}")
        self.config = cfg
        self.name = name
        self.phase = P = int(math.log2(cfg.scale))
        assert cfg.n_feats is not None and cfg.n_blocks is not None
        nf, nb = cfg.n_feats, cfg.n_blocks
        full = self.full_widths()
        down = check_channels(cfg.down_channels, P, 0, f"{name} down_channels") if cfg.down_channels else full[0]
        mids = check_channels(cfg.channels, P * nb, 0, name) if cfg.channels else full[1]
        ups = check_channels(cfg.up_channels, P, 0, f"{name} up_channels") if cfg.up_channels else full[2]
        self.upsample = nn.Upsample(scale_factor=cfg.scale, mode="bicubic", align_corners=False)
        self.sub_mean = MeanShift(-1)
        self.add_mean = MeanShift(+1)
        self.head = _conv(cfg.n_colors, nf)
        self.down = nn.ModuleList(
            [DownBlock(nf * 2**p, down[p], nf * 2 ** (p + 1), cfg.negval) for p in range(P)]
        )
        widths = self._level_widths()  # RCAB / upsampler input width per up level
        outs = [nf * 2 ** (P - 1)] + [nf * 2 ** (p - 2) for p in range(P, 1, -1)]  # 1x1 conv outputs
        self.up_blocks = nn.ModuleList()
        for i, w in enumerate(widths):
            blocks = [RCAB(w, mids[i * nb + j], cfg.reduction) for j in range(nb)]
            self.up_blocks.append(nn.Sequential(*blocks, *_up(w, ups[i], outs[i])))
        tails = [_conv(nf * 2**P, cfg.n_colors)] + [_conv(nf * 2**p, cfg.n_colors) for p in range(P, 0, -1)]
        self.tail = nn.ModuleList(tails)
        df = cfg.dual_feats or nf
        self.dual = nn.ModuleList([DualBlock(2, df, cfg.n_colors, cfg.negval) for _ in range(P)])

    def _level_widths(self) -> list[int]:
        return list(full_widths(self.config)[2])

    def full_widths(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return full_widths(self.config)

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
        """The layers DRC prunes, in the official order: every down block, then per up level its
        RCABs and its upsampler (whose conv loses 4 output channels per removed channel)."""
        fd, fr, fu = self.full_widths()
        nb = self.config.n_blocks
        downs = [list(d.children()) for d in self.down]
        out = [Prunable(f"down.{p}.0", _c(d[0]), _c(d[2]), fd[p]) for p, d in enumerate(downs)]
        for i, up in enumerate(self.up_blocks):
            mods = list(up.children())
            for j, m in enumerate(mods[:nb]):
                assert isinstance(m, RCAB)
                out.append(Prunable(f"up_blocks.{i}.{j}.body.0", _c(m.body[0]), _c(m.body[2]), fr[i * nb + j]))
            out.append(Prunable(f"up_blocks.{i}.{nb}", _c(mods[nb]), _c(mods[nb + 2]), fu[i], group=4))
        return out

    def channel_config(self, widths: Sequence[int]) -> dict[str, Any]:
        assert self.config.n_blocks is not None
        down, rcab, up = split_official([int(w) for w in widths], self.phase, self.config.n_blocks)
        return {"down_channels": list(down), "channels": list(rcab), "up_channels": list(up)}


def _c(m: nn.Module) -> nn.Conv2d:
    assert isinstance(m, nn.Conv2d)
    return m


__all__ = ["DRN", "DRNConfig", "VARIANTS", "full_widths", "read_search_file", "split_official"]
