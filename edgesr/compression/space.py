"""The search space of DRC stage 1 and the rules that turn the search's probabilities into a
channel list that meets the budget.

Budgets: ``channels`` (official DRC: the candidate set *is* the budget, ``ratio`` is the fraction
of channels removed per layer, the result is the argmax), ``flops`` / ``params`` (edgesr's
extension: ``ratio`` of the whole model's FLOPs or params; the argmax is then fitted to the
budget: :func:`fit_budget` ends within ``tol`` of it, :func:`project` only shrinks, as shipped).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Sequence

from ..errors import ConfigError
from ..models.base import SRModel
from .common import CostModel, cost_model, round4, widths

log = logging.getLogger(__name__)

BUDGET_KINDS = ("flops", "params", "channels")


def official_round(n: int, max_num: int, factor: int = 4) -> int:
    """``channel_constraints`` of the official search: nearest multiple of ``factor`` (ties down), in
    ``[factor, max_num]``."""
    r = n % factor
    n = n + factor - r if r * 2 > factor else n - r
    return min(max(n, factor), max_num)


@dataclass(frozen=True)
class SearchSpace:
    candidates: tuple[tuple[int, ...], ...]  # per layer, ascending multiples of ``multiple``
    budget: float | None  # maximum cost (None: the candidate set is the budget, official ``channels``)
    cost: CostModel
    grid: tuple[tuple[int, ...], ...] = ()  # every width a layer may take when fitting the budget


def search_space(model: SRModel, ratio: float, budget: str = "flops", ratios: Sequence[float] = (0.5, 1.0),
                 multiple: int = 4, redistribute: bool = False,
                 cost_hw: tuple[int, int] = (64, 64)) -> SearchSpace:
    """Candidate widths per layer and the cost budget ``(1 - ratio) x cost(model)``."""
    if budget not in BUDGET_KINDS:
        raise ConfigError(f"budget must be one of {', '.join(BUDGET_KINDS)}, got {budget!r}; e.g. --budget flops")
    cm = cost_model(model, "flops" if budget == "channels" else budget, cost_hw)
    ws = widths(model)
    m = multiple
    grid = tuple(tuple(range(m, max(m, w // m * m) + 1, m)) for w in ws)
    if budget == "channels":
        cands = tuple(tuple(sorted({official_round(int(w * (1 - ratio) * a), w, m) for a in ratios})) for w in ws)
        return SearchSpace(cands, None, cm, grid)
    full = cm.cost(ws)
    limit = (1.0 - ratio) * full
    keep = (limit - cm.fixed) / (full - cm.fixed)  # uniform channel fraction that meets the budget exactly
    if keep <= 0 or cm.cost([m] * len(ws)) > limit:
        raise ConfigError(_unreachable(ratio, budget, cm, ws, m))
    out = []
    for w in ws:
        top = max(m, w // m * m)
        g = {min(top, round4(a * keep * w, lo=m, multiple=m)) for a in ratios}
        if redistribute:
            g |= {min(top, round4(a * w, lo=m, multiple=m)) for a in ratios}
        out.append(tuple(sorted(g)))
    return SearchSpace(tuple(out), limit, cm, grid)


_KIND_NAMES = {"flops": "FLOPs", "params": "parameters"}


def _floor2(x: float) -> float:
    return math.floor(x * 100 + 1e-9) / 100


def _unreachable(ratio: float, budget: str, cm: CostModel, ws: Sequence[int], m: int) -> str:
    """Why ``ratio`` cannot be reached at ``--multiple m``, and which setting reaches it (with the numbers)."""
    full = cm.cost(ws)
    best_m = 1.0 - cm.cost([m] * len(ws)) / full
    best_1 = 1.0 - cm.cost([1] * len(ws)) / full
    why = (f"ratio {ratio} is unreachable at --multiple {m}: the non-prunable part costs {cm.fixed / full:.0%} of the "
           f"model's {_KIND_NAMES.get(budget, budget)} and every layer keeps >= {m} channels, so at most {best_m:.1%} can be removed")
    smaller = f"--ratio {_floor2(best_m):g} or less" if best_m >= 0.01 else "no --ratio"
    if m > 1 and best_1 > ratio:
        return f"{why}; use --multiple 1 (layers keep >= 1 channel: up to {best_1:.1%}), or {smaller} at --multiple {m}"
    if m > 1:
        return f"{why} (--multiple 1: {best_1:.1%}); use {smaller}, or --multiple 1 with --ratio {_floor2(best_1):g} or less"
    return f"{why}; use {smaller}"


def nearest_fit(space: SearchSpace, tol: float = 0.02) -> list[int]:
    """The config :func:`fit_budget` reaches with no preference between widths (uniform probabilities, from
    the widest candidates): what the width grid allows near the budget, known before the search runs."""
    probs = [[1.0 / len(c)] * len(c) for c in space.candidates]
    return fit_budget([c[-1] for c in space.candidates], probs, space, tol, warn=False)


def project(channels: Sequence[int], probs: Sequence[Sequence[float]], space: SearchSpace) -> list[int]:
    """Shrink the layers whose smaller candidate loses the least probability per unit of cost
    saved, until the config fits the budget (legacy: rounding to multiples of 4 can overshoot it)."""
    ch = list(channels)
    if space.budget is None:
        return ch
    while space.cost.cost(ch) > space.budget * (1 + 1e-9):
        best, best_score = -1, math.inf
        for i, (c, cands) in enumerate(zip(ch, space.candidates)):
            k = cands.index(c)
            if k == 0:
                continue
            lost = math.log(max(probs[i][k], 1e-12)) - math.log(max(probs[i][k - 1], 1e-12))
            score = lost / (space.cost.per_channel[i] * (c - cands[k - 1]))
            if score < best_score:
                best, best_score = i, score
        if best < 0:
            raise ConfigError("no candidate config fits the budget; use a smaller --ratio or smaller candidate ratios")
        k = space.candidates[best].index(ch[best])
        ch[best] = space.candidates[best][k - 1]
    return ch


def _tail(probs: Sequence[float], cands: Sequence[int], w: int) -> float:
    """The search's probability that a layer needs at least ``w`` channels."""
    return sum(p for p, c in zip(probs, cands) if c >= w)


def _grow(ch: list[int], probs: Sequence[Sequence[float]], space: SearchSpace, lo: float, limit: float) -> list[int]:
    """Grow one grid step at a time (the layer the search is most sure needs more) while under ``lo``."""
    ch = list(ch)
    while space.cost.cost(ch) < lo:
        opts = []
        for i, c in enumerate(ch):
            g = space.grid[i]
            k = g.index(c)
            if k + 1 < len(g) and space.cost.cost(ch[:i] + [g[k + 1]] + ch[i + 1:]) <= limit:
                opts.append((-_tail(probs[i], space.candidates[i], g[k + 1]), space.cost.per_channel[i], i))
        if not opts:
            break
        i = min(opts)[2]
        ch[i] = space.grid[i][space.grid[i].index(ch[i]) + 1]
    return ch


def fit_budget(channels: Sequence[int], probs: Sequence[Sequence[float]], space: SearchSpace,
               tol: float = 0.02, warn: bool = True) -> list[int]:
    """Move ``channels`` into ``[1 - tol, 1] x budget`` on the width grid (``1 + tol`` only where the grid
    has nothing within ``tol`` under the budget): shrink the layer the search is least sure needs its
    width, then grow the one it is most sure needs more, one grid step at a time. Warns if the grid
    has no config within ``tol`` on that path."""
    ch = list(channels)
    if space.budget is None:
        return ch
    lo, hi = space.budget * (1 - tol), space.budget * (1 + tol)
    cost = space.cost.cost
    while cost(ch) > space.budget:
        opts = [(_tail(probs[i], space.candidates[i], c), i) for i, c in enumerate(ch) if space.grid[i].index(c) > 0]
        if not opts:
            raise ConfigError("no channel config fits the budget; use a smaller --ratio")
        i = min(opts)[1]
        ch[i] = space.grid[i][space.grid[i].index(ch[i]) - 1]
    for limit in (space.budget, hi):  # under the budget if the grid allows it, else up to 1 + tol
        ch = _grow(ch, probs, space, lo, limit)
    if warn and not lo <= cost(ch) <= hi:
        log.warning("search: the width grid has no config within %.0f%% of the budget on the fitting path; "
                    "ended at %.1f%% of it (a finer --multiple helps)", 100 * tol, 100 * cost(ch) / space.budget)
    return ch


__all__ = ["BUDGET_KINDS", "SearchSpace", "search_space", "project", "fit_budget", "nearest_fit", "official_round"]
