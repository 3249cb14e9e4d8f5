"""Pieces shared by the DRC stages: the linear cost model, seeded batches, the data-free
selections (L1, random), and materialisation of a channel selection into a physically smaller network.

Why a linear cost model: in every edgesr family an inner channel of a prunable pair costs a
fixed amount (one producer filter + one consumer input slice), so FLOPs/params of any channel
config are ``fixed + sum(per_channel[i] * width[i])``: exact, and cheap enough to evaluate
inside the search loss and the budget projection.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from ..data import SRDataset
from ..errors import ConfigError
from ..models import build_model, count_flops, count_params
from ..models.base import SRModel
from ..models.rep import is_rep, reparameterize

log = logging.getLogger(__name__)

BUDGETS = ("flops", "params")


def round4(x: float, lo: int = 4, multiple: int = 4) -> int:
    """Nearest multiple of ``multiple`` (hardware-friendly: vector widths, TensorRT/INT8 kernels), >= ``lo``."""
    return max(lo, int(multiple * round(x / float(multiple))))


def deploy_form(model: SRModel) -> SRModel:
    """``model`` itself if plain, else its collapsed copy: DRC searches and prunes the deployed network."""
    return reparameterize(model) if is_rep(model) else model


def widths(model: SRModel) -> list[int]:
    """Current inner width of each prunable layer (not the preset's reference width)."""
    return [p.producer.out_channels // p.group for p in model.prunable()]


@dataclass(frozen=True)
class CostModel:
    """``cost(channels) = fixed + sum(per_channel[i] * channels[i])`` for FLOPs or params."""

    kind: str
    fixed: float
    per_channel: tuple[float, ...]
    input_hw: tuple[int, int]

    def cost(self, channels: Sequence[float]) -> float:
        return self.fixed + sum(c * w for c, w in zip(self.per_channel, channels))

    def cost_t(self, channels: Sequence[torch.Tensor]) -> torch.Tensor:
        """Differentiable version (expected widths from the search's softmax)."""
        return self.fixed + sum(c * w for c, w in zip(self.per_channel, channels))  # type: ignore[return-value]


def cost_model(model: SRModel, kind: str = "flops", input_hw: tuple[int, int] = (64, 64)) -> CostModel:
    """Per-channel cost of every prunable layer, measured with hooks on one forward pass."""
    if kind not in BUDGETS:
        raise ConfigError(f"budget must be one of {BUDGETS}, got {kind!r}; use --budget flops or --budget params")
    pr = model.prunable()
    if not pr:
        raise ConfigError(f"{model.name} has no prunable layers; DRC needs a model whose prunable() is non-empty")
    ws = widths(model)
    if kind == "params":
        per = []
        for p in pr:
            prod = p.producer.weight[0].numel() + (1 if p.producer.bias is not None else 0)
            cons = p.consumer.weight[:, 0].numel()
            per.append(float(p.group * prod + cons))
        total = float(count_params(model))
    else:
        out_px: dict[int, int] = {}

        def hook(m: nn.Module, inp: Any, out: torch.Tensor) -> None:
            out_px[id(m)] = out.shape[-1] * out.shape[-2]

        hs = [m.register_forward_hook(hook) for p in pr for m in (p.producer, p.consumer)]
        try:
            total = float(count_flops(model, input_hw))
        finally:
            for h in hs:
                h.remove()
        per = []
        for p in pr:
            kp = p.producer.kernel_size[0] * p.producer.kernel_size[1] * p.producer.in_channels // p.producer.groups
            kc = p.consumer.kernel_size[0] * p.consumer.kernel_size[1] * p.consumer.out_channels
            per.append(float(2 * p.group * kp * out_px[id(p.producer)] + 2 * kc * out_px[id(p.consumer)]))
    fixed = total - sum(c * w for c, w in zip(per, ws))
    return CostModel(kind, fixed, tuple(per), input_hw)


class Batches:
    """Seeded, resumable batches of real crops from a subset of a dataset's images.

    The state is one ``torch.Generator``: checkpoint ``state()`` and a resumed run draws the
    same crops as an uninterrupted one.
    """

    def __init__(self, ds: SRDataset, images: Sequence[int], batch: int, seed: int) -> None:
        if not images:
            raise ConfigError("a data split has no images; pass more training images with --data")
        self.ds, self.images, self.batch = ds, list(images), batch
        self.gen = torch.Generator().manual_seed(seed)

    def next(self) -> dict[str, torch.Tensor]:
        pick = torch.randint(0, len(self.images), (self.batch,), generator=self.gen).tolist()
        seeds = torch.randint(0, 2**31 - 1, (self.batch,), generator=self.gen).tolist()
        items = [self.ds.get(self.images[i], s) for i, s in zip(pick, seeds)]
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}

    def state(self) -> torch.Tensor:
        return self.gen.get_state()

    def set_state(self, st: torch.Tensor) -> None:
        self.gen.set_state(st)


def split_images(ds: SRDataset) -> tuple[list[int], list[int]]:
    """Two disjoint image splits (even / odd images): weights vs architecture, as in DARTS."""
    n = len(ds.lr)
    if n < 2:
        raise ConfigError("DRC search needs at least 2 training images (two data splits); add images to --data")
    return list(range(0, n, 2)), list(range(1, n, 2))


def materialize(model: SRModel, keep: Sequence[Sequence[int]]) -> SRModel:
    """A new, physically smaller model keeping channels ``keep[i]`` of prunable layer ``i``.

    Built by the constructor from a per-layer channel list (no module surgery): producer
    filters ``keep[i]`` and the matching consumer input slices are copied, everything else as is.
    """
    pr = model.prunable()
    if len(keep) != len(pr):
        raise ConfigError(f"keep has {len(keep)} entries but {model.name} has {len(pr)} prunable layers")
    names = {id(m): n for n, m in model.named_modules()}
    rows: dict[str, torch.Tensor] = {}  # state key -> indices along dim 0
    cols: dict[str, torch.Tensor] = {}  # along dim 1
    for p, k in zip(pr, keep):
        idx = torch.as_tensor(sorted(int(i) for i in k), dtype=torch.long)
        width = p.producer.out_channels // p.group
        if len(idx) == 0 or len(set(idx.tolist())) != len(idx) or idx.max() >= width:
            raise ConfigError(f"{p.name}: invalid channel selection {idx.tolist()[:8]}...; need 1..{width} "
                              "distinct indices")
        pn, cn = names[id(p.producer)], names[id(p.consumer)]
        prod_idx = (idx[:, None] * p.group + torch.arange(p.group)).flatten()  # a group feeds one channel
        rows[f"{pn}.weight"] = prod_idx
        if p.producer.bias is not None:
            rows[f"{pn}.bias"] = prod_idx
        cols[f"{cn}.weight"] = idx
    arch = model.arch()
    cfg = dict(arch["config"])
    cfg.update(model.channel_config([len(k) for k in keep]))
    new = build_model(arch["family"], cfg, name=arch["name"])
    sd = {}
    for key, v in model.state_dict().items():
        if key in rows:
            v = v.index_select(0, rows[key])
        if key in cols:
            v = v.index_select(1, cols[key])
        sd[key] = v.clone()
    new.load_state_dict(sd)
    new.meta = dict(getattr(model, "meta", {}) or {})  # type: ignore[assignment]
    return new


def l1_keep(model: SRModel, channels: Sequence[int]) -> list[list[int]]:
    """Baseline selection (Li et al. 2017): the producer filters with the largest L1 norm."""
    out = []
    for p, n in zip(model.prunable(), channels):
        norms = p.producer.weight.detach().abs().flatten(1).sum(1).view(-1, p.group).sum(1)
        out.append(sorted(torch.topk(norms, int(n)).indices.tolist()))
    return out


def random_keep(model: SRModel, channels: Sequence[int], seed: int = 0) -> list[list[int]]:
    """Control: a uniformly random channel subset of the same size."""
    g = torch.Generator().manual_seed(seed)
    return [sorted(torch.randperm(p.producer.out_channels // p.group, generator=g)[: int(n)].tolist())
            for p, n in zip(model.prunable(), channels)]
