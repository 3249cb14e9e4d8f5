"""DRC stage 2: dual-regression channel pruning (DCP-style greedy selection).

Layer by layer, starting from no channel, add the consumer input channel the selection rule
(:mod:`edgesr.compression.select`) ranks first under the pruning loss
``feat_weight * MSE(consumer output, unpruned) + primal L1 + lambda * dual L1``, then refit the
kept consumer weights on that loss, until the searched width is reached. Gradients are taken as
if every channel were present (``conv2d_weight`` on the unmasked input), which is what makes a
not-yet-selected channel's gradient informative. ``l1`` / ``random`` select without data.

Official defaults (``DRN/channel_pruning/channel_selection.py``): fresh random crops for every
scoring and refit batch, the gradient accumulated over the scoring pass and scored by
``sum_o ||G[o, c]||``, refit with SGD-Nesterov, and the MSE weighted as in the official [0, 255]
network. ``PruneConfig.legacy()`` is the behaviour edgesr shipped before (2 fixed batches, Adam).
Masks are forward pre-hooks on the consumers; the result is materialised by the constructor.
"""
from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..config import to_dict
from ..data import SRDataset, level_targets
from ..errors import ConfigError, DataError
from ..training.losses import DualRegressionLoss, intermediate_scales
from ..models import atomic_torch_save, save_model
from ..models.base import SRModel
from .common import Batches, deploy_form, materialize, widths
from .select import GRAD_NORMS, GREEDY, RULES, LeastSquaresStats, check_choice, grad_scores, static_keep, weight_grad

log = logging.getLogger(__name__)

OFFICIAL_HR_PATCH = 192  # official DRC pruning crops (x4: LR 48)
RGB_RANGE = 255.0  # the official network's pixel range
Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class PruneConfig:
    select: str = "drc_omp"  # selection rule: drc_omp | drc | drc_centered | l1 | random (the study: docs/compression.md)
    dual_weight: float = 0.1  # lambda (0: DRC without the dual term)
    # weight of the feature MSE. 255: the official balance. The official network works in [0, 255], where
    # MSE(feature) is 255^2 and the L1 terms 255x their [0, 1] values, i.e. the MSE weighs 255x more (legacy: 1)
    feat_weight: float = RGB_RANGE
    batches: int = 4  # scoring batches per greedy step (official: one pass over the training set)
    reopt_steps: int = 4  # refit steps (one batch each) after each added channel (official: one more pass)
    fresh: bool = True  # fresh random crops for every scoring / refit batch (False: `batches` fixed ones, legacy)
    batch: int = 16
    patch: int | None = None  # LR patch; None = the official HR patch 192 // scale
    # refit optimizer. sgd: Nesterov, a new optimizer for each added channel (official); adam: one per layer (legacy)
    reopt_optim: str = "sgd"
    # 255 x the official 5e-5: the same SGD update in [0, 1] units (the gradient is 1/255 of the official one
    # for homogeneous layers); the bias is 255x larger in [0, 255], so its official step is 5e-5 / 255 here
    reopt_lr: float = 5e-5 * RGB_RANGE
    reopt_bias_lr: float = 5e-5 / RGB_RANGE
    momentum: float = 0.9
    grad_norm: str = "l21"  # l21: sum_o ||G[o, c]|| of the accumulated gradient (official); fro2: legacy
    omp_ridge: float = 1e-4  # drc_omp: ridge relative to the mean Gram diagonal
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        check_choice(self.select, RULES, "prune selection rule (--select)")
        check_choice(self.reopt_optim, ("sgd", "adam"), "reopt_optim")
        check_choice(self.grad_norm, GRAD_NORMS, "grad_norm")
        if self.batches < 1 or self.batch < 1 or self.reopt_steps < 0:
            raise ConfigError("prune batches and batch must be >= 1 and reopt_steps >= 0")
        if self.feat_weight < 0 or (self.select == "drc_omp" and self.feat_weight <= 0):
            raise ConfigError("feat_weight must be >= 0, and > 0 for drc_omp (its least squares need the MSE term)")

    @classmethod
    def legacy(cls, **overrides: Any) -> PruneConfig:
        """The settings edgesr shipped before the official defaults (item 1-2 of the DRC issue)."""
        base: dict[str, Any] = dict(select="drc", feat_weight=1.0, batches=2, reopt_steps=2, fresh=False, batch=8,
                                    patch=24, reopt_optim="adam", reopt_lr=1e-3, reopt_bias_lr=1e-3, grad_norm="fro2")
        return cls(**{**base, **overrides})

    def lr_patch(self, scale: int) -> int:
        return self.patch if self.patch is not None else max(1, OFFICIAL_HR_PATCH // scale)


def prune_objective(regression: torch.Tensor, y: torch.Tensor, y_ref: torch.Tensor, feat_weight: float) -> torch.Tensor:
    """The pruning loss: ``feat_weight * MSE(y, y_ref) + regression`` (primal + lambda * dual L1)."""
    return regression + feat_weight * F.mse_loss(y, y_ref)


class _ConsumerMask:
    """Pre-hook masking a consumer's input channels; keeps the unmasked input and the output."""

    def __init__(self, conv: nn.Conv2d) -> None:
        self.conv = conv
        self.mask = torch.ones(conv.in_channels)
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        self.record = False
        self.h1 = conv.register_forward_pre_hook(self._pre)
        self.h2 = conv.register_forward_hook(self._post)

    def _pre(self, m: nn.Module, inp: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x = inp[0]
        if self.record:
            self.x = x.detach()
        return (x * self.mask.view(1, -1, 1, 1),)

    def _post(self, m: nn.Module, inp: Any, out: torch.Tensor) -> None:
        if self.record:
            out.retain_grad()
            self.y = out

    def remove(self) -> None:
        self.h1.remove()
        self.h2.remove()


def _features(model: SRModel, batch: Batch) -> list[torch.Tensor]:
    """Consumer outputs of the unpruned model for one batch, per prunable layer (the MSE targets)."""
    cur: list[torch.Tensor] = []
    hs = [p.consumer.register_forward_hook(lambda m, i, o: cur.append(o.detach())) for p in model.prunable()]
    try:
        with torch.no_grad():
            model(batch["lr"])
    finally:
        for h in hs:
            h.remove()
    return cur


class _Data:
    """Batches with their unpruned-model targets: fresh crops per call, or ``cfg.batches`` fixed ones."""

    def __init__(self, ds: SRDataset, ref: SRModel, cfg: PruneConfig) -> None:
        self.src = Batches(ds, list(range(ds.n_images)), cfg.batch, cfg.seed + 7)
        self.ref, self.cfg = ref, cfg
        self.fixed = None if cfg.fresh else [self._make() for _ in range(cfg.batches)]

    def _make(self) -> tuple[Batch, list[torch.Tensor]]:
        b = self.src.next()
        return b, _features(self.ref, b)

    def scoring(self) -> list[tuple[Batch, list[torch.Tensor]]]:
        return self.fixed if self.fixed is not None else [self._make() for _ in range(self.cfg.batches)]

    def refit(self, s: int) -> tuple[Batch, list[torch.Tensor]]:
        return self.fixed[s % len(self.fixed)] if self.fixed is not None else self._make()


def _optimizer(conv: nn.Conv2d, cfg: PruneConfig, scale: float = 1.0) -> torch.optim.Optimizer:
    groups: list[dict[str, Any]] = [{"params": [conv.weight], "lr": cfg.reopt_lr * scale}]
    if conv.bias is not None:
        groups.append({"params": [conv.bias], "lr": cfg.reopt_bias_lr * scale})
    if cfg.reopt_optim == "sgd":
        return torch.optim.SGD(groups, lr=cfg.reopt_lr * scale, momentum=cfg.momentum, nesterov=True)
    return torch.optim.Adam(groups, lr=cfg.reopt_lr * scale)


DIVERGED = 4.0  # a refit loss above this multiple of the layer's first (no channel kept) loss has diverged


class _Layer:
    """Greedy selection for one prunable layer ``li`` of ``net``.

    Divergence guard (not in the official code): the official SGD step can diverge on networks with
    large activations; a refit whose loss turns non-finite or exceeds ``DIVERGED`` x its starting
    loss (or the layer's first loss, if larger) is undone and retried at half the learning rate
    (logged; the reduced rate is kept for the rest of the layer)."""

    def __init__(self, net: SRModel, li: int, hook: _ConsumerMask, data: _Data, cfg: PruneConfig) -> None:
        self.net, self.li, self.hk, self.data, self.cfg = net, li, hook, data, cfg
        self.conv = hook.conv
        self.params = [self.conv.weight] + ([self.conv.bias] if self.conv.bias is not None else [])
        self.loss_fn = DualRegressionLoss(cfg.dual_weight)
        self.lr_scale = 1.0
        self.l0: float | None = None
        self.opt = _optimizer(self.conv, cfg)

    def loss(self, b: Batch, targets: list[torch.Tensor]) -> torch.Tensor:
        self.hk.record = True
        try:
            t = self.loss_fn(self.net, b["lr"], b["hr"], level_targets(b))
        finally:
            self.hk.record = False
        assert self.hk.y is not None
        return prune_objective(t.total, self.hk.y, targets[self.li], self.cfg.feat_weight)

    def scores(self, sel: list[int]) -> tuple[torch.Tensor, LeastSquaresStats | None]:
        cfg, hk, conv = self.cfg, self.hk, self.conv
        omp = LeastSquaresStats(conv, cfg.omp_ridge) if cfg.select == "drc_omp" else None
        acc: torch.Tensor | None = None
        fro2 = torch.zeros(conv.in_channels)
        losses = []
        for b, tg in self.data.scoring():
            loss = self.loss(b, tg)
            loss.backward()
            losses.append(float(loss.detach()))
            assert hk.x is not None and hk.y is not None and hk.y.grad is not None
            if omp is not None:
                omp.add(hk.x, hk.y.grad, 2.0 * cfg.feat_weight / hk.y.numel())
            else:
                g = weight_grad(hk.x, hk.y.grad, conv, centered=cfg.select == "drc_centered")
                if cfg.grad_norm == "fro2":
                    fro2 += grad_scores(g, "fro2")
                else:
                    acc = g if acc is None else acc + g
            hk.x = hk.y = None
        if self.l0 is None:
            self.l0 = sum(losses) / len(losses)
        if omp is not None:
            return omp.scores(sel).float(), omp
        score = fro2 if cfg.grad_norm == "fro2" else grad_scores(acc, "l21")  # type: ignore[arg-type]
        return score, None

    def _refit_once(self, steps: int) -> bool:
        if self.cfg.reopt_optim == "sgd":
            self.opt = _optimizer(self.conv, self.cfg, self.lr_scale)  # official: a new optimizer per channel
        ref = float(self.l0 or 0.0)
        for s in range(steps + 1):  # the last pass only checks the result of the last step
            b, tg = self.data.refit(s)
            loss = self.loss(b, tg)
            self.hk.x = self.hk.y = None
            value = float(loss.detach())
            ref = max(ref, value) if s == 0 else ref  # the layer's first loss, or this refit's starting loss
            if not torch.isfinite(loss) or value > DIVERGED * ref:
                return False
            if s == steps:
                break
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        return True

    def refit(self, steps: int) -> None:
        if steps == 0:
            return
        snap = [q.detach().clone() for q in self.params]
        for _ in range(8):
            if self._refit_once(steps):
                return
            with torch.no_grad():
                for q, v in zip(self.params, snap):
                    q.copy_(v)
            self.lr_scale *= 0.5
            for g in self.opt.param_groups:
                g["lr"] *= 0.5
            log.warning("prune: %s refit diverged; undone, retrying at %.3g x reopt_lr", self.conv, self.lr_scale)
        log.warning("prune: refit kept diverging; this channel keeps its weights without a refit")

    def run(self, n: int, tick: Callable[[], None]) -> list[int]:
        conv = self.conv
        for q in self.params:
            q.requires_grad_(True)
        self.hk.mask = torch.zeros(conv.in_channels)
        sel: list[int] = []
        try:
            while len(sel) < n:
                score, omp = self.scores(sel)
                score[sel] = -torch.inf
                c = int(torch.argmax(torch.nan_to_num(score, nan=-torch.inf)))
                sel.append(c)
                self.hk.mask[c] = 1.0
                if omp is not None:  # exact least-squares refit on the kept set (from w_c = 0, as scored)
                    with torch.no_grad():
                        conv.weight[:, c] = 0.0
                        dw, db = omp.step(sel)
                        conv.weight += dw
                        if db is not None and conv.bias is not None:
                            conv.bias += db
                self.refit(self.cfg.reopt_steps)
                tick()
        finally:
            for q in self.params:
                q.requires_grad_(False)
                q.grad = None
        return sorted(sel)


def _check_channels(model: SRModel, channels: Sequence[int]) -> None:
    ws = widths(model)
    if len(channels) != len(ws) or any(not 1 <= c <= w for c, w in zip(channels, ws)):
        raise ConfigError(f"channel config {list(channels)} does not fit {model.name} (widths {ws}); "
                          "re-run the search stage for this model")


def select_channels(model: SRModel, channels: Sequence[int], data: Sequence[str | Path], work_dir: str | Path,
                    cfg: PruneConfig | None = None, resume: bool = True) -> tuple[SRModel, list[list[int]]]:
    """Channel selection by ``cfg.select``; returns (network with refitted weights, kept channel indices
    per layer). Greedy rules write ``work_dir/last.pt`` after every layer (resumable)."""
    cfg = cfg or PruneConfig()
    model = deploy_form(model)
    _check_channels(model, channels)
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    if cfg.select not in GREEDY:
        return copy.deepcopy(model), static_keep(model, list(channels), cfg.select, cfg.seed)
    ref = copy.deepcopy(model).eval()
    net = copy.deepcopy(model).train()
    try:
        ds = SRDataset(list(data), net.scale, cfg.lr_patch(net.scale), levels=intermediate_scales(net),
                       patch_option="--prune-patch")
    except DataError as e:  # the official HR patch 192 drops small images: name the pruning option
        raise DataError(f"{e} (pruning crops: LR patch {cfg.lr_patch(net.scale)}; lower it with --prune-patch / "
                        "PruneConfig.patch)") from None
    feed = _Data(ds, ref, cfg)
    pr = net.prunable()
    hooks = [_ConsumerMask(p.consumer) for p in pr]
    keep: list[list[int]] = []
    state_path = work / "last.pt"
    if resume and state_path.is_file():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        if st["channels"] != list(channels) or st["config"] != to_dict(cfg) or st["arch"] != model.arch():
            raise ConfigError(f"{state_path} was written for another channel config or model; use a new work dir")
        net.load_state_dict(st["model"])
        keep = [list(k) for k in st["keep"]]
        feed.src.set_state(st["gen"])
        log.info("prune: resumed after layer %d/%d", len(keep), len(pr))
    for h, k in zip(hooks, keep):
        h.mask = torch.zeros_like(h.mask)
        h.mask[k] = 1.0
    for p in net.parameters():
        p.requires_grad_(False)
    bar = tqdm(total=sum(channels), initial=sum(len(k) for k in keep), disable=not cfg.progress, desc="prune",
               unit="ch")
    try:
        for li in range(len(keep), len(pr)):
            keep.append(_Layer(net, li, hooks[li], feed, cfg).run(channels[li], lambda: bar.update(1)))
            atomic_torch_save({"model": net.state_dict(), "keep": keep, "channels": list(channels),
                               "config": to_dict(cfg), "arch": model.arch(), "gen": feed.src.state()}, state_path)
            log.info("prune: %s keeps %d/%d channels (%s)", pr[li].name, len(keep[-1]), pr[li].consumer.in_channels,
                     cfg.select)
    finally:
        bar.close()
        for h in hooks:
            h.remove()
    for p in net.parameters():
        p.requires_grad_(True)
    return net, keep


def prune(model: SRModel, channels: Sequence[int], data: Sequence[str | Path], work_dir: str | Path,
          cfg: PruneConfig | None = None, resume: bool = True) -> Path:
    """Select channels and write the physically smaller network to ``work_dir/pruned.pt``."""
    work = Path(work_dir)
    out = work / "pruned.pt"
    if resume and out.is_file():
        log.info("prune: reusing %s", out)
        return out
    cfg = cfg or PruneConfig()
    net, keep = select_channels(model, channels, data, work, cfg, resume)
    small = materialize(net, keep)
    (work / "keep.json").write_text(json.dumps({"channels": [len(k) for k in keep], "keep": keep,
                                                "select": cfg.select}))
    save_model(small, out, meta={"drc_stage": "prune", "channels": [len(k) for k in keep], "select": cfg.select})
    return out
