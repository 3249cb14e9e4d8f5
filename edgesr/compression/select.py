"""Channel selection rules of DRC stage 2 (which input channels of a consumer conv to keep).

``drc``           the shipped DCP/DRC greedy score: norm of the consumer's weight gradient
                  ``G_c = sum_p x_c(p) * delta(p)`` (unmasked input ``x``, output gradient ``delta`` of
                  the pruning loss), largest first.
``drc_centered``  the same with per-channel-centred inputs ``x_c - mean(x_c)``: a ReLU channel that is
                  active almost everywhere carries a large constant part whose correlation with
                  ``delta`` is what the consumer's bias can already do; centring removes it.
``drc_omp``       least-squares greedy (orthogonal matching pursuit on the same objective): with the
                  quadratic model ``sum_j fw*MSE_j + <G, dW>`` of the pruning loss in the consumer
                  weights (Gram ``H = sum 2fw/n X^T X`` of the im2col inputs, gradient ``G``), the score
                  of ``c`` is the loss decrease of an exact refit on ``kept + {c}`` minus that on
                  ``kept`` (a Schur complement), so a channel the kept ones already explain scores ~0;
                  the consumer bias is an always-kept atom (which also does what centring does).
``l1``            filter L1 norm of the producer (Li et al. 2017), no data.
``random``        a seeded uniform subset.

The functions here work on plain tensors (tested on constructed data); ``prune.py`` drives them.
"""
from __future__ import annotations

import difflib
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.grad import conv2d_weight

from ..errors import ConfigError
from ..models.base import SRModel
from .common import l1_keep, random_keep

RULES = ("drc", "drc_centered", "drc_omp", "l1", "random")
GREEDY = ("drc", "drc_centered", "drc_omp")
GRAD_NORMS = ("l21", "fro2")  # official: sum over outputs of per-kernel norms of the accumulated G; legacy


def check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    """Raise a ConfigError naming the valid values (and the closest one) if ``value`` is not one."""
    if value not in choices:
        close = difflib.get_close_matches(value, list(choices), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{what} must be one of {', '.join(choices)}, got {value!r}{hint}")


def weight_grad(x: torch.Tensor, delta: torch.Tensor, conv: nn.Conv2d, centered: bool = False) -> torch.Tensor:
    """``dLoss/dW`` of ``conv`` (O, C, kh, kw) from its unmasked input ``x`` and output gradient ``delta``."""
    if centered:
        x = x - x.mean(dim=(0, 2, 3), keepdim=True)
    return conv2d_weight(x, conv.weight.shape, delta, conv.stride, conv.padding, conv.dilation, conv.groups)


def grad_scores(g: torch.Tensor, norm: str = "l21") -> torch.Tensor:
    """Per-input-channel score (C,) of a weight gradient (O, C, kh, kw).

    ``l21`` (official ``find_most_violated``): ``sum_o ||G[o, c]||_F``; ``fro2``: ``||G[:, c]||_F^2``."""
    check_choice(norm, GRAD_NORMS, "grad_norm")
    if norm == "l21":
        return g.pow(2).sum(dim=(2, 3)).sqrt().sum(0)
    return g.pow(2).sum(dim=(0, 2, 3))


class LeastSquaresStats:
    """Accumulated Gram ``H`` and gradient ``G`` of a consumer conv's im2col inputs (``drc_omp``).

    Atoms: for input channel ``c`` the ``kh*kw`` columns of its patches, plus one constant column for
    the bias (when the conv has one). Float64, accumulated per sample to bound memory.
    """

    def __init__(self, conv: nn.Conv2d, ridge: float = 1e-4) -> None:
        if conv.groups != 1:
            raise ConfigError("drc_omp needs an ungrouped consumer conv (groups=1); use --select drc for this model")
        self.conv = conv
        self.k = conv.kernel_size[0] * conv.kernel_size[1]
        self.c = conv.in_channels
        self.bias = conv.bias is not None
        d = self.c * self.k + int(self.bias)
        self.H = torch.zeros(d, d, dtype=torch.float64)
        self.G = torch.zeros(conv.out_channels, d, dtype=torch.float64)
        self.ridge = ridge

    def add(self, x: torch.Tensor, delta: torch.Tensor, curvature: float) -> None:
        """One batch: ``x`` the unmasked input, ``delta`` dLoss/dy, ``curvature`` d2Loss/dy2 per element."""
        cv = self.conv
        if isinstance(cv.padding, str):
            raise ConfigError("drc_omp needs numeric conv padding; use --select drc for this model")
        for i in range(x.shape[0]):
            cols = F.unfold(x[i:i + 1].double(), cv.kernel_size, cv.dilation, cv.padding, cv.stride)[0].T
            if self.bias:
                cols = torch.cat([cols, cols.new_ones(cols.shape[0], 1)], 1)
            d = delta[i].double().flatten(1)  # (O, P), P in the same row-major order as unfold
            self.H += curvature * cols.T @ cols
            self.G += d @ cols

    def _cols(self, channels: list[int]) -> torch.Tensor:
        idx = [c * self.k + j for c in channels for j in range(self.k)]
        if self.bias:
            idx.append(self.c * self.k)
        return torch.tensor(idx, dtype=torch.long)

    def _reg(self, h: torch.Tensor) -> torch.Tensor:
        eps = self.ridge * float(torch.diagonal(self.H).mean().clamp_min(1e-30))
        return h + eps * torch.eye(h.shape[0], dtype=h.dtype)

    def scores(self, kept: list[int]) -> torch.Tensor:
        """Loss decrease (C,) of refitting on ``kept + [c]`` instead of ``kept``; -inf for kept channels."""
        s_idx = self._cols(kept)
        out = torch.full((self.c,), -torch.inf, dtype=torch.float64)
        h_ss = self._reg(self.H[s_idx][:, s_idx]) if len(s_idx) else None
        for c in range(self.c):
            if c in kept:
                continue
            c_idx = torch.arange(c * self.k, (c + 1) * self.k)
            m = self.H[c_idx][:, c_idx]
            u = self.G[:, c_idx]
            if h_ss is not None:
                a = torch.linalg.solve(h_ss, self.H[s_idx][:, c_idx])  # (|S|, k)
                m = m - self.H[c_idx][:, s_idx] @ a
                u = u - self.G[:, s_idx] @ a
            m = self._reg(m)
            out[c] = 0.5 * (u * torch.linalg.solve(m, u.T).T).sum()
        return out

    def step(self, kept: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Newton step of the quadratic model restricted to ``kept``: (dW like conv.weight, db or None)."""
        idx = self._cols(kept)
        delta = -torch.linalg.solve(self._reg(self.H[idx][:, idx]), self.G[:, idx].T).T  # (O, |S|k [+1])
        w = self.conv.weight
        dw = torch.zeros(w.shape[0], self.c * self.k, dtype=torch.float64)
        dw[:, idx[: len(kept) * self.k]] = delta[:, : len(kept) * self.k]
        db = delta[:, -1].to(w.dtype) if self.bias else None
        return dw.view_as(w).to(w.dtype), db


def greedy_order(scores_fn: Callable[[list[int]], torch.Tensor], n: int) -> list[int]:
    """``n`` greedy picks with fixed statistics: ``scores_fn(kept) -> (C,)`` scores."""
    kept: list[int] = []
    for _ in range(n):
        s = scores_fn(kept).clone()
        if kept:
            s[kept] = -torch.inf
        kept.append(int(torch.argmax(s)))
    return kept


def static_keep(model: SRModel, channels: list[int], rule: str, seed: int = 0) -> list[list[int]]:
    """The data-free rules: ``l1`` (largest producer filter L1 norm) or ``random`` (seeded)."""
    if rule == "l1":
        return l1_keep(model, channels)
    if rule == "random":
        return random_keep(model, channels, seed)
    raise ConfigError(f"{rule!r} is a greedy rule (needs data); static rules are l1 and random")


__all__ = ["static_keep", "RULES", "GREEDY", "GRAD_NORMS", "check_choice", "weight_grad", "grad_scores", "LeastSquaresStats",
           "greedy_order"]
