"""DRC stage 2: dual-regression channel pruning (DCP-style greedy selection).

Layer by layer, starting from no channel, add the input channel of the consumer conv whose
weight gradient has the largest Frobenius norm under
``feat_weight * MSE(consumer output, unpruned) + primal L1 + lambda * dual L1``, then
re-optimise the kept consumer weights on that loss, until the searched width is reached.
The gradient is taken as if every channel were present (``conv2d_weight`` on the unmasked
input), which is what makes a not-yet-selected channel's gradient informative.
Masks are forward pre-hooks on the consumers; the result is materialised by the constructor.
"""
from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_weight
from torch import nn
from tqdm import tqdm

from ..config import to_dict
from ..data import SRDataset
from ..errors import ConfigError
from ..losses import DualRegressionLoss
from ..models import atomic_torch_save, save_model
from ..models.base import SRModel
from .common import Batches, materialize, widths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneConfig:
    dual_weight: float = 0.1  # lambda (0: DRC without the dual term)
    feat_weight: float = 1.0  # weight of the feature reconstruction MSE
    batches: int = 2  # fixed batches used for every gradient / re-optimisation step
    batch: int = 8
    patch: int = 24
    reopt_steps: int = 2  # Adam steps on the kept consumer weights after each added channel
    reopt_lr: float = 1e-3
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batches < 1 or self.batch < 1 or self.reopt_steps < 0:
            raise ConfigError("prune batches and batch must be >= 1 and reopt_steps >= 0")


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


def _features(model: SRModel, batches: list[dict[str, torch.Tensor]]) -> list[list[torch.Tensor]]:
    """Consumer outputs of the unpruned model, per batch and prunable layer (the MSE targets)."""
    feats: list[list[torch.Tensor]] = []
    cur: list[torch.Tensor] = []
    hs = [p.consumer.register_forward_hook(lambda m, i, o: cur.append(o.detach())) for p in model.prunable()]
    try:
        with torch.no_grad():
            for b in batches:
                cur = []
                model(b["lr"])
                feats.append(cur)
    finally:
        for h in hs:
            h.remove()
    return feats


def select_channels(model: SRModel, channels: Sequence[int], data: Sequence[str | Path], work_dir: str | Path,
                    cfg: PruneConfig | None = None, resume: bool = True) -> tuple[SRModel, list[list[int]]]:
    """Greedy dual-regression channel selection; returns (network with re-optimised weights,
    kept channel indices per layer). ``work_dir/last.pt`` is written after every layer."""
    cfg = cfg or PruneConfig()
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    ws = widths(model)
    if len(channels) != len(ws) or any(not 1 <= c <= w for c, w in zip(channels, ws)):
        raise ConfigError(f"channel config {list(channels)} does not fit {model.name} (widths {ws}); "
                          "re-run the search stage for this model")
    ref = copy.deepcopy(model).eval()
    net = copy.deepcopy(model).train()
    ds = SRDataset(list(data), net.scale, cfg.patch)
    src = Batches(ds, list(range(len(ds.lr))), cfg.batch, cfg.seed + 7)
    batches = [src.next() for _ in range(cfg.batches)]
    targets = _features(ref, batches)
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
        log.info("prune: resumed after layer %d/%d", len(keep), len(pr))
    for h, k in zip(hooks, keep):
        h.mask = torch.zeros_like(h.mask)
        h.mask[k] = 1.0
    loss_fn = DualRegressionLoss(cfg.dual_weight)
    for p in net.parameters():
        p.requires_grad_(False)
    bar = tqdm(total=sum(channels), initial=sum(len(k) for k in keep), disable=not cfg.progress, desc="prune",
               unit="ch")
    try:
        for li in range(len(keep), len(pr)):
            hk, conv = hooks[li], pr[li].consumer
            params = [conv.weight] + ([conv.bias] if conv.bias is not None else [])
            for q in params:
                q.requires_grad_(True)
            opt = torch.optim.Adam(params, lr=cfg.reopt_lr)
            sel: list[int] = []
            hk.mask = torch.zeros(conv.in_channels)

            def loss_on(bi: int) -> torch.Tensor:
                b = batches[bi]
                t = loss_fn(net, b["lr"], b["hr"])
                assert hk.y is not None
                return t.total + cfg.feat_weight * F.mse_loss(hk.y, targets[bi][li])

            while len(sel) < channels[li]:
                hk.record = True
                score = torch.zeros(conv.in_channels)
                for bi in range(len(batches)):
                    loss = loss_on(bi)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    assert hk.x is not None and hk.y is not None and hk.y.grad is not None
                    g = conv2d_weight(hk.x, conv.weight.shape, hk.y.grad, conv.stride, conv.padding,
                                      conv.dilation, conv.groups)
                    score += g.pow(2).sum(dim=(0, 2, 3))
                hk.record = False
                hk.x = hk.y = None
                score[sel] = -1.0
                c = int(torch.argmax(score))
                sel.append(c)
                hk.mask[c] = 1.0
                for s in range(cfg.reopt_steps):  # re-optimise the kept weights on the same loss
                    hk.record = True
                    loss = loss_on(s % len(batches))
                    hk.record = False
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                hk.x = hk.y = None
                bar.update(1)
            for q in params:
                q.requires_grad_(False)
            keep.append(sorted(sel))
            atomic_torch_save({"model": net.state_dict(), "keep": keep, "channels": list(channels),
                               "config": to_dict(cfg), "arch": model.arch()}, state_path)
            log.info("prune: %s keeps %d/%d channels", pr[li].name, len(sel), conv.in_channels)
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
    net, keep = select_channels(model, channels, data, work, cfg, resume)
    small = materialize(net, keep)
    (work / "keep.json").write_text(json.dumps({"channels": [len(k) for k in keep], "keep": keep}))
    save_model(small, out, meta={"drc_stage": "prune", "channels": [len(k) for k in keep]})
    return out
