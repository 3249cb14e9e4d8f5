"""DRC stage 1: channel number search (DARTS-style, minimising the dual regression loss).

Each prunable layer gets architecture weights ``alpha`` over candidate widths (:mod:`.space`);
a channel's mask is the softmax mass of the candidates containing it, applied by a forward
pre-hook on the consumer conv's input (the network is not edited). Network weights and ``alpha``
are updated alternately on two disjoint image splits (first-order DARTS).

``mode="official"`` (``DRN/channel_search``): a candidate of width ``k`` keeps the ``k`` channels
with the largest L1 norm of the consumer's input weights, re-sorted at every forward; ``alpha``
starts at ``1e-3 * randn`` and takes its Adam step (lr 3e-4, weight decay 1e-3, cosine) before the
weight step (Adam 1e-4, cosine, gradients clipped at norm 5). With ``budget="channels"`` the
candidate set is the budget (no cost term, result = argmax); with ``flops`` / ``params`` the
expected cost pays ``budget_weight * (E[cost] / budget - 1)^2`` and the argmax is fitted to within
``budget_tol`` of the budget. ``mode="legacy"`` is what edgesr shipped before: the first ``k``
channels by index, ``alpha`` from 0 with Adam 1e-2, weight step first, a one-sided penalty and a
projection that only shrinks.
"""
from __future__ import annotations

import copy
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm import tqdm

from ..config import to_dict
from ..data import SRDataset, level_targets
from ..errors import ConfigError, Stopped
from ..fileio import atomic_write_text
from ..training.losses import DualRegressionLoss, intermediate_scales
from ..models import atomic_torch_save
from ..models.base import SRModel
from .common import Batches, deploy_form, split_images, widths
from .select import check_choice
from .space import BUDGET_KINDS, SearchSpace, fit_budget, project
from .space import search_space as _space

log = logging.getLogger(__name__)

SEARCH_MODES = ("official", "legacy")
# per mode: alpha lr, alpha weight decay, weight grad clip (0 = off), alpha init std, mask order, schedule
_MODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "official": dict(a_lr=3e-4, a_weight_decay=1e-3, grad_clip=5.0, alpha_init=1e-3, mask_order="l1",
                     schedule="cosine"),
    "legacy": dict(a_lr=1e-2, a_weight_decay=0.0, grad_clip=0.0, alpha_init=0.0, mask_order="index",
                   schedule="constant"),
}


@dataclass(frozen=True)
class SearchConfig:
    ratio: float = 0.3  # fraction of the budget quantity (FLOPs, params, or channels per layer) to remove
    budget: str = "flops"  # flops | params (edgesr extension) | channels (official: the candidate set)
    mode: str = "official"  # official | legacy (see the module docstring)
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
    a_lr: float | None = None  # architecture weights (Adam); None: the mode's (official 3e-4, legacy 1e-2)
    a_weight_decay: float | None = None  # None: official 1e-3, legacy 0
    grad_clip: float | None = None  # max norm of the weight gradients (0 = off); None: official 5, legacy off
    alpha_init: float | None = None  # std of alpha's initial values; None: official 1e-3, legacy 0
    mask_order: str | None = None  # l1 (strongest consumer input weights first) | index; None: by mode
    schedule: str | None = None  # cosine | constant for both optimizers; None: official cosine, legacy constant
    dual_weight: float = 0.1
    budget_weight: float = 1.0
    budget_tol: float = 0.02  # official mode, flops/params: the result ends within this fraction of the budget
    cost_hw: tuple[int, int] = (64, 64)  # input size of the FLOPs cost model (ratios do not depend on it)
    seed: int = 0
    ckpt_every: int = 50
    progress: bool = True

    def __post_init__(self) -> None:
        check_choice(self.mode, SEARCH_MODES, "search mode (--search-mode)")
        check_choice(self.budget, BUDGET_KINDS, "budget (--budget)")
        for k, v in _MODE_DEFAULTS[self.mode].items():
            if getattr(self, k) is None:
                object.__setattr__(self, k, v)
        check_choice(str(self.mask_order), ("l1", "index"), "mask_order")
        check_choice(str(self.schedule), ("cosine", "constant"), "search schedule")
        if not 0.0 < self.ratio < 1.0:
            raise ConfigError(f"ratio must be in (0, 1) (fraction to remove), got {self.ratio}; e.g. --ratio 0.3")
        if not self.ratios or any(not 0.0 < a <= 1.0 for a in self.ratios):
            raise ConfigError(f"candidate ratios must be in (0, 1], got {self.ratios}")
        if self.steps < 1:
            raise ConfigError("search steps must be >= 1")
        if self.multiple < 1:
            raise ConfigError(f"channel multiple must be >= 1, got {self.multiple}; e.g. --multiple 8")


def search_space(model: SRModel, cfg: SearchConfig) -> SearchSpace:
    """Candidate widths per layer and the budget of ``cfg`` (see :func:`edgesr.compression.space.search_space`)."""
    return _space(model, cfg.ratio, cfg.budget, cfg.ratios, cfg.multiple, cfg.redistribute, cfg.cost_hw)


class _Masked:
    """Forward pre-hooks scaling each consumer's input channels by the softmax-expected masks."""

    def __init__(self, model: SRModel, space: SearchSpace, cfg: SearchConfig) -> None:
        g = torch.Generator().manual_seed(cfg.seed)
        self.alpha = [(float(cfg.alpha_init or 0.0) * torch.randn(len(c), generator=g)).requires_grad_(True)
                      for c in space.candidates]
        self.consumers = [p.consumer for p in model.prunable()]
        self.by_l1 = cfg.mask_order == "l1"
        # ind[i][k, j] = 1 if candidate k keeps the channel of rank j (rank = index, or L1 order)
        self.ind = [torch.tensor([[1.0 if j < c else 0.0 for j in range(w)] for c in cands])
                    for w, cands in zip(widths(model), space.candidates)]
        self.cands = [torch.tensor(c, dtype=torch.float32) for c in space.candidates]
        self.handles = [conv.register_forward_pre_hook(self._hook(i)) for i, conv in enumerate(self.consumers)]

    def mask(self, i: int) -> torch.Tensor:
        by_rank = torch.softmax(self.alpha[i], 0) @ self.ind[i]
        if not self.by_l1:
            return by_rank
        with torch.no_grad():  # official: sort by the L1 norm of the consumer's input weights, every forward
            strength = self.consumers[i].weight.detach().abs().sum(dim=(0, 2, 3))
            rank = torch.argsort(torch.argsort(strength, descending=True, stable=True), stable=True)
        return by_rank[rank]

    def _hook(self, i: int) -> Any:
        def pre(m: torch.nn.Module, inp: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            return (inp[0] * self.mask(i).view(1, -1, 1, 1),)

        return pre

    def expected_widths(self) -> list[torch.Tensor]:
        return [torch.softmax(a, 0) @ c for a, c in zip(self.alpha, self.cands)]

    def probs(self) -> list[list[float]]:
        return [torch.softmax(a.detach(), 0).tolist() for a in self.alpha]

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _penalty(cfg: SearchConfig, exp_cost: torch.Tensor, space: SearchSpace) -> torch.Tensor:
    if space.budget is None:  # official channels budget: the candidate set is the budget
        return exp_cost.new_zeros(())
    rel = exp_cost / space.budget - 1.0
    return cfg.budget_weight * (rel.pow(2) if cfg.mode == "official" else torch.relu(rel))


def _sched(opt: torch.optim.Optimizer, cfg: SearchConfig) -> torch.optim.lr_scheduler.LRScheduler:
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps, eta_min=1e-7)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


class _Search:
    """The search state: network, masks, optimizers, schedulers and batch generators."""

    def __init__(self, model: SRModel, data: Sequence[str | Path], cfg: SearchConfig) -> None:
        self.cfg, self.model = cfg, model
        self.space = search_space(model, cfg)
        self.net = copy.deepcopy(model).train()
        for p in self.net.parameters():
            p.requires_grad_(True)
        self.masks = _Masked(self.net, self.space, cfg)
        ds = SRDataset(list(data), self.net.scale, cfg.patch, levels=intermediate_scales(self.net))
        split_w, split_a = split_images(ds)
        self.bw = Batches(ds, split_w, cfg.batch, cfg.seed * 2 + 1)
        self.ba = Batches(ds, split_a, cfg.batch, cfg.seed * 2 + 2)
        self.opt_w = torch.optim.Adam(self.net.parameters(), lr=cfg.w_lr)
        self.opt_a = torch.optim.Adam(self.masks.alpha, lr=float(cfg.a_lr or 0.0),
                                      weight_decay=float(cfg.a_weight_decay or 0.0))
        self.sched_w, self.sched_a = _sched(self.opt_w, cfg), _sched(self.opt_a, cfg)
        self.loss_fn = DualRegressionLoss(cfg.dual_weight)
        self.full_cost = self.space.cost.cost(widths(model))
        self.step = 0

    def state(self) -> dict[str, Any]:
        return {"step": self.step, "model": self.net.state_dict(),
                "alpha": [a.detach().clone() for a in self.masks.alpha], "opt_w": self.opt_w.state_dict(),
                "opt_a": self.opt_a.state_dict(), "sched_w": self.sched_w.state_dict(),
                "sched_a": self.sched_a.state_dict(), "gen_w": self.bw.state(), "gen_a": self.ba.state(),
                "config": to_dict(self.cfg), "arch": self.model.arch()}

    def load(self, st: dict[str, Any]) -> None:
        self.net.load_state_dict(st["model"])
        with torch.no_grad():
            for a, v in zip(self.masks.alpha, st["alpha"]):
                a.copy_(v)
        for obj, key in ((self.opt_w, "opt_w"), (self.opt_a, "opt_a"), (self.sched_w, "sched_w"),
                         (self.sched_a, "sched_a")):
            obj.load_state_dict(st[key])
        self.bw.set_state(st["gen_w"])
        self.ba.set_state(st["gen_a"])
        self.step = int(st["step"])

    def _weight_step(self) -> float:
        b = self.bw.next()  # network weights on split A
        loss = self.loss_fn(self.net, b["lr"], b["hr"], level_targets(b)).total
        self.opt_w.zero_grad(set_to_none=True)
        self.opt_a.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), float(self.cfg.grad_clip))
        self.opt_w.step()
        return float(loss.item())

    def _alpha_step(self) -> tuple[float, float, float]:
        b = self.ba.next()  # architecture weights on split B (first-order DARTS)
        terms = self.loss_fn(self.net, b["lr"], b["hr"], level_targets(b))
        exp_cost = self.space.cost.cost_t(self.masks.expected_widths())
        pen = _penalty(self.cfg, exp_cost, self.space)
        self.opt_w.zero_grad(set_to_none=True)
        self.opt_a.zero_grad(set_to_none=True)
        (terms.total + pen).backward()
        self.opt_a.step()
        return float(terms.total.item()), float(exp_cost.item()), float(pen.item())

    def one_step(self) -> dict[str, Any]:
        if self.cfg.mode == "official":  # alpha first, then the weights (official Search.train)
            la, exp_cost, pen = self._alpha_step()
            lw = self._weight_step()
        else:
            lw = self._weight_step()
            la, exp_cost, pen = self._alpha_step()
        self.sched_w.step()
        self.sched_a.step()
        self.step += 1
        budget = self.space.budget
        return {"step": self.step, "loss_w": lw, "loss_a": la, "penalty": pen, "exp_cost": exp_cost,
                "exp_cost_frac": exp_cost / self.full_cost,
                "exp_cost_vs_budget": exp_cost / budget if budget else None}

    def result(self) -> tuple[list[int], dict[str, Any]]:
        probs = self.masks.probs()
        sp, cfg = self.space, self.cfg
        chosen = [c[max(range(len(p)), key=p.__getitem__)] for c, p in zip(sp.candidates, probs)]
        if cfg.mode == "official":
            channels = fit_budget(chosen, probs, sp, cfg.budget_tol)
        else:
            channels = project(chosen, probs, sp)
        cost = sp.cost.cost(channels)
        info: dict[str, Any] = {
            "channels": channels, "argmax": chosen, "candidates": [list(c) for c in sp.candidates],
            "probs": probs, "budget_kind": cfg.budget, "ratio": cfg.ratio, "budget": sp.budget, "cost": cost,
            "full_cost": self.full_cost, "cost_vs_budget": cost / sp.budget if sp.budget else None,
            "cost_hw": list(cfg.cost_hw), "steps": self.step, "config": to_dict(cfg)}
        return channels, info


def search_channels(model: SRModel, data: Sequence[str | Path], work_dir: str | Path,
                    cfg: SearchConfig | None = None, resume: bool = True) -> list[int]:
    """Run (or resume, or reuse) the search; returns the per-layer channel list and writes
    ``work_dir/channels.json``. ``work_dir/last.pt`` is written every ``ckpt_every`` steps and
    ``work_dir/log.jsonl`` gets one record per step (losses, expected cost vs the budget)."""
    cfg = cfg or SearchConfig()
    model = deploy_form(model)
    work = Path(work_dir)
    result = work / "channels.json"
    if resume and result.is_file():
        log.info("search: reusing %s", result)
        return list(json.loads(result.read_text())["channels"])
    work.mkdir(parents=True, exist_ok=True)
    run = _Search(model, data, cfg)
    state_path = work / "last.pt"
    if resume and state_path.is_file():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        if st["config"] != to_dict(cfg) or st["arch"] != model.arch():
            raise ConfigError(f"{state_path} was written by a different search config or model; "
                              "use a new work dir or the same settings")
        run.load(st)
        log.info("search: resumed from %s at step %d", state_path, run.step)
    _loop(run, work, cfg)
    run.masks.remove()
    channels, info = run.result()
    atomic_write_text(result, json.dumps(info, indent=2))
    log.info("search: channels %s (cost %.1f%% of full%s)", channels, 100 * info["cost"] / info["full_cost"],
             f", {100 * info['cost_vs_budget']:.1f}% of the budget" if info["cost_vs_budget"] else "")
    return channels


def _loop(run: _Search, work: Path, cfg: SearchConfig) -> None:
    """Steps until ``cfg.steps`` (checkpointing; SIGTERM checkpoints and raises)."""
    state_path = work / "last.pt"
    stop = {"flag": False}
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
    logf = open(work / "log.jsonl", "a")
    bar = tqdm(total=cfg.steps, initial=run.step, disable=not cfg.progress, desc="search", unit="step")
    t0 = time.perf_counter()
    try:
        while run.step < cfg.steps and not stop["flag"]:
            rec = run.one_step()
            bar.update(1)
            logf.write(json.dumps({**rec, "time": time.perf_counter() - t0}) + "\n")
            logf.flush()
            if run.step % cfg.ckpt_every == 0:
                atomic_torch_save(run.state(), state_path)
                log.info("search step %d: loss %.4f, expected cost %.1f%% of full (%s)", run.step, rec["loss_a"],
                         100 * rec["exp_cost_frac"], f"{100 * rec['exp_cost_vs_budget']:.1f}% of the budget"
                         if rec["exp_cost_vs_budget"] else "channels budget")
    finally:
        bar.close()
        logf.close()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    atomic_torch_save(run.state(), state_path)
    if stop["flag"]:
        raise Stopped(f"search stopped by SIGTERM at step {run.step}; run again (resume) to continue from "
                          f"{state_path}")
