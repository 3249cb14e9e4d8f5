"""The dual regression loss: L1(P(x), y) + lambda * sum_levels L1(D(P(x)), x)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn.functional as F

from ..data.bicubic import imresize
from ..models.base import SRModel


@dataclass
class LossTerms:
    total: torch.Tensor
    primal: torch.Tensor
    dual: torch.Tensor
    outputs: list[torch.Tensor]


def intermediate_scales(model: SRModel) -> tuple[int, ...]:
    """Output levels of ``model`` strictly between the input and the final scale (x4 DRN: (2,))."""
    return tuple(s for s in model.level_scales if s not in (1, model.scale))


class DualRegressionLoss(torch.nn.Module):
    """Primal L1 on every output level plus ``dual_weight`` times the L1 of each dual map's
    reconstruction of the level below.

    Intermediate targets: ``levels[scale]`` when given (``SRDataset(levels=...)``: MATLAB bicubic of
    the whole HR image, uint8, as the official DRN's LR pyramid); otherwise a bicubic resize of the
    float HR crop (kept for callers without a level pyramid).

    With ``hr=None`` (unpaired LR) only the dual term applies; the dual maps are chained from
    the final output down to the input so the final output is still constrained.
    """

    def __init__(self, dual_weight: float = 0.1) -> None:
        super().__init__()
        self.dual_weight = dual_weight

    def forward(self, model: SRModel, lr: torch.Tensor, hr: torch.Tensor | None = None,
                levels: Mapping[int, torch.Tensor] | None = None) -> LossTerms:
        outs = model.forward_levels(lr)
        by_scale = dict(zip(model.level_scales, outs))
        s = model.scale
        zero = lr.new_zeros(())
        primal = zero
        targets: dict[int, torch.Tensor] = {1: lr}
        if hr is not None:
            targets[s] = hr
            targets.update({k: v for k, v in (levels or {}).items() if k in intermediate_scales(model)})
            for ls in model.level_scales:
                if ls not in targets:
                    targets[ls] = imresize(hr, ls / s)
            for ls, out in by_scale.items():
                primal = primal + F.l1_loss(out, targets[ls])
        dual = zero
        if self.dual_weight > 0:
            if hr is not None:
                for d, pair in zip(model.dual, model.dual_pairs):
                    dual = dual + F.l1_loss(d(by_scale[pair.src]), targets[pair.dst])
            else:
                x, cur = outs[-1], s
                pairs = {p.src: (d, p.dst) for d, p in zip(model.dual, model.dual_pairs)}
                while cur != 1:
                    d, cur = pairs[cur]
                    x = d(x)
                dual = F.l1_loss(x, lr)
        return LossTerms(primal + self.dual_weight * dual, primal.detach(), dual.detach(), outs)
