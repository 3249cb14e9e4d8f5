"""Exponential moving average of the weights (``TrainConfig.ema`` / ``edgesr train --ema 0.999``).

``e_0 = w_0``, then after every optimizer step ``e_t = decay * e_{t-1} + (1 - decay) * w_t``
(``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn``: one fused ``lerp`` over
all parameters). Buffers are copied, not averaged (edgesr models have no running statistics).
The averaged copy is what training validates and saves (``model.pt``, ``best.pt``); its state,
including the update count, goes into ``last.pt`` so a resumed run continues it bit-exactly.
"""
from __future__ import annotations

from typing import Any, cast

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .errors import ConfigError
from .models.base import SRModel


class ModelEMA:
    """The averaged copy of ``model``; call :meth:`update` after each optimizer step."""

    def __init__(self, model: SRModel, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"ema decay must be in (0, 1) (e.g. 0.999), got {decay}")
        self.decay = decay
        self.avg = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)
        self.avg.requires_grad_(False)
        self.avg.eval()
        self.avg.update_parameters(model)  # e_0: the starting weights (the first update copies)

    @property
    def module(self) -> SRModel:
        return cast(SRModel, self.avg.module)

    @property
    def updates(self) -> int:
        """Optimizer steps averaged so far (the initial copy not counted)."""
        return int(self.avg.n_averaged.item()) - 1

    @torch.no_grad()
    def update(self, model: SRModel) -> None:
        self.avg.update_parameters(model)

    def state_dict(self) -> dict[str, Any]:
        return self.avg.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.avg.load_state_dict(state)


__all__ = ["ModelEMA"]
