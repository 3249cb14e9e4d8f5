"""DRC stage 1: channel number search (DARTS-style, minimising the dual regression loss).

Each prunable layer gets architecture weights ``alpha`` over candidate widths (ratios of
``(1 - r) x width``, multiples of 4); a channel's mask is the softmax mass of the candidates
containing it, applied by a forward hook on the producer conv (the network is not edited).
Network weights and ``alpha`` are updated alternately on two disjoint image splits; ``alpha``
also pays a penalty when the expected cost exceeds the budget, and the argmax config is
finally projected onto the budget, so the result always respects it.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm import tqdm

from ..fileio import atomic_write_text
from ..config import to_dict
from ..data import SRDataset
from ..errors import ConfigError
from ..losses import DualRegressionLoss
from ..models import atomic_torch_save
from ..models.base import SRModel
from .common import Batches, CostModel, cost_model, output_mask_hook, round4, split_images, widths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchConfig:
    ratio: float = 0.3  # fraction of the budget quantity (FLOPs or params) to remove
    budget: str = "flops"  # flops | params
    ratios: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # candidate ratios of (1 - r_channels) x width
    # widths are multiples of this: 4 suits TensorRT; 8 suits ONNX Runtime on AVX2 x86, whose blocked (NCHWc)
    # convs run 4 channels padded to 8 (measured: mids 4 saved 10% of the time for 34% of the FLOPs)
    multiple: int = 4
    # also offer each layer the full-width grid (ratios x width), not only ratios x the uniform width that fits
    # the budget: then the search can keep some layers wider than uniform and prune others harder
    redistribute: bool = False
    steps: int = 200
    batch: int = 8
    patch: int = 32
    w_lr: float = 1e-4  # network weights (Adam)
    a_lr: float = 1e-2  # architecture weights (Adam)
    dual_weight: float = 0.1
    budget_weight: float = 1.0
    cost_hw: tuple[int, int] = (64, 64)  # input size of the FLOPs cost model (ratios do not depend on it)
    seed: int = 0
    ckpt_every: int = 50
    progress: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.ratio < 1.0:
            raise ConfigError(f"ratio must be in (0, 1) (fraction to remove), got {self.ratio}; e.g. --ratio 0.3")
        if not self.ratios or any(not 0.0 < a <= 1.0 for a in self.ratios):
            raise ConfigError(f"candidate ratios must be in (0, 1], got {self.ratios}")
        if self.steps < 1:
            raise ConfigError("search steps must be >= 1")
        if self.multiple < 1:
            raise ConfigError(f"channel multiple must be >= 1, got {self.multiple}; e.g. --multiple 8")


@dataclass(frozen=True)
class SearchSpace:
    candidates: tuple[tuple[int, ...], ...]  # per layer, ascending multiples of ``multiple``
    budget: float  # maximum cost
    cost: CostModel


def search_space(model: SRModel, cfg: SearchConfig) -> SearchSpace:
    """Candidate widths per layer and the cost budget ``(1 - ratio) x cost(model)``."""
    cm = cost_model(model, cfg.budget, cfg.cost_hw)
    ws = widths(model)
    full = cm.cost(ws)
    budget = (1.0 - cfg.ratio) * full
    prunable = full - cm.fixed
    keep = (budget - cm.fixed) / prunable  # uniform channel fraction that meets the budget exactly
    m = cfg.multiple
    min_cost = cm.cost([m] * len(ws))
    if keep <= 0 or min_cost > budget:
        raise ConfigError(f"ratio {cfg.ratio} is unreachable: the non-prunable part alone costs "
                          f"{cm.fixed / full:.0%} of the model and every layer keeps >= {m} channels; use a smaller --ratio")
    cands = []
    for w in ws:
        top = max(m, w // m * m)
        grid = {min(top, round4(a * keep * w, lo=m, multiple=m)) for a in cfg.ratios}
        if cfg.redistribute:
            grid |= {min(top, round4(a * w, lo=m, multiple=m)) for a in cfg.ratios}
        cands.append(tuple(sorted(grid)))
    return SearchSpace(tuple(cands), budget, cm)


def project(channels: Sequence[int], probs: Sequence[Sequence[float]], space: SearchSpace) -> list[int]:
    """Shrink the layers whose smaller candidate loses the least probability per unit of cost
    saved, until the config fits the budget (rounding to multiples of 4 can overshoot it)."""
    ch = list(channels)
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


class _Masked:
    """Forward hooks that scale producer outputs by the softmax-expected channel masks."""

    def __init__(self, model: SRModel, space: SearchSpace) -> None:
        self.alpha = [torch.zeros(len(c), requires_grad=True) for c in space.candidates]
        self.ind = []
        for p, cands in zip(model.prunable(), space.candidates):
            w = p.producer.out_channels
            self.ind.append(torch.tensor([[1.0 if ch < c else 0.0 for ch in range(w)] for c in cands]))
        self.cands = [torch.tensor(c, dtype=torch.float32) for c in space.candidates]
        self.handles = [p.producer.register_forward_hook(output_mask_hook(self._mask_fn(i)))
                        for i, p in enumerate(model.prunable())]

    def _mask_fn(self, i: int) -> Any:
        return lambda: torch.softmax(self.alpha[i], 0) @ self.ind[i]

    def expected_widths(self) -> list[torch.Tensor]:
        return [torch.softmax(a, 0) @ c for a, c in zip(self.alpha, self.cands)]

    def probs(self) -> list[list[float]]:
        return [torch.softmax(a.detach(), 0).tolist() for a in self.alpha]

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def search_channels(model: SRModel, data: Sequence[str | Path], work_dir: str | Path,
                    cfg: SearchConfig | None = None, resume: bool = True) -> list[int]:
    """Run (or resume, or reuse) the search; returns the per-layer channel list and writes
    ``work_dir/channels.json``. ``work_dir/last.pt`` is written every ``ckpt_every`` steps."""
    cfg = cfg or SearchConfig()
    work = Path(work_dir)
    result = work / "channels.json"
    if resume and result.is_file():
        log.info("search: reusing %s", result)
        return list(json.loads(result.read_text())["channels"])
    work.mkdir(parents=True, exist_ok=True)
    space = search_space(model, cfg)
    net = copy.deepcopy(model).train()
    for p in net.parameters():
        p.requires_grad_(True)
    masks = _Masked(net, space)
    ds = SRDataset(list(data), net.scale, cfg.patch)
    split_w, split_a = split_images(ds)
    bw = Batches(ds, split_w, cfg.batch, cfg.seed * 2 + 1)
    ba = Batches(ds, split_a, cfg.batch, cfg.seed * 2 + 2)
    opt_w = torch.optim.Adam(net.parameters(), lr=cfg.w_lr)
    opt_a = torch.optim.Adam(masks.alpha, lr=cfg.a_lr)
    loss_fn = DualRegressionLoss(cfg.dual_weight)
    state_path = work / "last.pt"
    step = 0
    if resume and state_path.is_file():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        if st["config"] != to_dict(cfg) or st["arch"] != model.arch():
            raise ConfigError(f"{state_path} was written by a different search config or model; "
                              "use a new work dir or the same settings")
        net.load_state_dict(st["model"])
        with torch.no_grad():
            for a, v in zip(masks.alpha, st["alpha"]):
                a.copy_(v)
        opt_w.load_state_dict(st["opt_w"])
        opt_a.load_state_dict(st["opt_a"])
        bw.set_state(st["gen_w"])
        ba.set_state(st["gen_a"])
        step = int(st["step"])
        log.info("search: resumed from %s at step %d", state_path, step)

    def checkpoint() -> None:
        atomic_torch_save({"step": step, "model": net.state_dict(), "alpha": [a.detach().clone() for a in masks.alpha],
                           "opt_w": opt_w.state_dict(), "opt_a": opt_a.state_dict(), "gen_w": bw.state(),
                           "gen_a": ba.state(), "config": to_dict(cfg), "arch": model.arch()}, state_path)

    stop = {"flag": False}
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
    logf = open(work / "log.jsonl", "a")
    bar = tqdm(total=cfg.steps, initial=step, disable=not cfg.progress, desc="search", unit="step")
    t0 = time.perf_counter()
    try:
        while step < cfg.steps and not stop["flag"]:
            b = bw.next()  # 1) network weights on split A
            lw = loss_fn(net, b["lr"], b["hr"]).total
            opt_w.zero_grad(set_to_none=True)
            opt_a.zero_grad(set_to_none=True)
            lw.backward()
            opt_w.step()
            b = ba.next()  # 2) architecture weights on split B (first-order DARTS)
            terms = loss_fn(net, b["lr"], b["hr"])
            exp_cost = space.cost.cost_t(masks.expected_widths())
            over = torch.relu(exp_cost / space.budget - 1.0)
            la = terms.total + cfg.budget_weight * over
            opt_w.zero_grad(set_to_none=True)
            opt_a.zero_grad(set_to_none=True)
            la.backward()
            opt_a.step()
            step += 1
            bar.update(1)
            logf.write(json.dumps({"step": step, "loss_w": lw.item(), "loss_a": terms.total.item(),
                                   "over_budget": over.item(), "time": time.perf_counter() - t0}) + "\n")
            logf.flush()
            if step % cfg.ckpt_every == 0:
                checkpoint()
    finally:
        bar.close()
        logf.close()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    checkpoint()
    if stop["flag"]:
        from ..errors import EdgeSRError

        raise EdgeSRError(f"search stopped by SIGTERM at step {step}; run again (resume) to continue from {state_path}")
    probs = masks.probs()
    masks.remove()
    chosen = [c[max(range(len(p)), key=p.__getitem__)] for c, p in zip(space.candidates, probs)]
    channels = project(chosen, probs, space)
    cost, full_cost = space.cost.cost(channels), space.cost.cost(widths(model))
    info: dict[str, Any] = {"channels": channels, "argmax": chosen, "candidates": [list(c) for c in space.candidates],
            "probs": probs, "budget_kind": cfg.budget, "ratio": cfg.ratio, "budget": space.budget,
            "cost": cost, "full_cost": full_cost,
            "cost_hw": list(cfg.cost_hw), "steps": step, "config": to_dict(cfg)}
    atomic_write_text(result, json.dumps(info, indent=2))
    log.info("search: channels %s (cost %.1f%% of full, budget %.1f%%)", channels,
             100 * cost / full_cost, 100 * (1 - cfg.ratio))
    return channels
