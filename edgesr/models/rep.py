"""Re-parameterizable 3x3 convs: train as several linear branches, deploy as one 3x3 conv.

Each block is a sum of *linear* branches, so ``fuse()`` folds it exactly (up to float rounding)
into one kernel and bias, and ``collapse()`` returns that ``nn.Conv2d(cin, cout, 3, padding=1)``.
:func:`reparameterize` swaps every block of a model for its collapsed conv, so the deployed
graph (ONNX, TensorRT, INT8, DRC) is the plain network: same ops, same FLOPs, same speed.

Border semantics: the deployed conv zero-pads its input. A 1x1 (or identity) branch equals a
3x3 kernel with only its centre set on any input, border included. A 1x1 -> 3x3 sequence does
not: at the border the 3x3 sees the padded 1x1 output, which for a zero input is the 1x1 bias.
So (as in ECBSR) the 1x1 output is padded with its bias, not with zeros, before a valid 3x3.

In ``eval()`` mode a block runs its fused conv (as ECBSR does), so evaluation and an
``nn.Module`` handed to the Upscaler see the deployed numbers at the deployed cost.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import logging
from typing import Callable, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

log = logging.getLogger(__name__)

M = TypeVar("M", bound=nn.Module)

# Fixed 3x3 edge filters of ECBSR (applied depthwise, each scaled per channel).
SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))
SOBEL_Y = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))
LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


class RepConv(nn.Module):
    """Base class: a 3x3, stride-1, zero-padded conv trained as branches. Subclasses implement
    ``branches`` (the training-time forward) and ``fuse`` (kernel (cout, cin, 3, 3), bias (cout,))."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = cin, cout

    def branches(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fuse(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.branches(x)
        k, b = self.fuse()
        return F.conv2d(x, k, b, padding=1)

    @torch.no_grad()
    def collapse(self) -> nn.Conv2d:
        """The equivalent plain ``nn.Conv2d`` (same device and dtype as this block)."""
        k, b = self.fuse()
        conv = nn.Conv2d(self.in_channels, self.out_channels, 3, padding=1, device=k.device, dtype=k.dtype)
        conv.weight.copy_(k)
        assert conv.bias is not None
        conv.bias.copy_(b)
        return conv


def identity_kernel(c: int, like: torch.Tensor) -> torch.Tensor:
    """(c, c, 3, 3) kernel of the identity map (a 1 at the centre of each diagonal entry)."""
    return F.pad(torch.eye(c, device=like.device, dtype=like.dtype)[:, :, None, None], (1, 1, 1, 1))


def _pad_with(y: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Pad (N, C, H, W) by one pixel on each side with the per-channel ``value`` (C,)."""
    return F.pad(y, (1, 1, 1, 1)) + F.pad(torch.zeros_like(y), (1, 1, 1, 1), value=1.0) * value.view(1, -1, 1, 1)


class SeqConv(nn.Module):
    """1x1 conv (bias ``b0``) then a 3x3 conv, the 1x1 output padded with ``b0`` (exactly foldable).

    ``mask`` None: a full learnable 3x3 conv ``mid -> cout``. Else ``mask`` is a fixed 3x3 filter
    applied depthwise (``mid == cout``) with a learnable per-channel scale and bias (ECBSR).
    """

    def __init__(self, cin: int, cout: int, mid: int, mask: tuple[tuple[float, ...], ...] | None = None) -> None:
        super().__init__()
        c0 = nn.Conv2d(cin, mid if mask is None else cout, 1)
        assert c0.bias is not None
        self.k0, self.b0 = c0.weight, c0.bias
        self.mask: torch.Tensor | None
        if mask is None:
            c1 = nn.Conv2d(mid, cout, 3)
            assert c1.bias is not None
            self.k1, self.b1 = c1.weight, c1.bias
            self.register_buffer("mask", None, persistent=False)
        else:  # ECBSR's init: scale and bias ~ N(0, 1e-3)
            self.scale = nn.Parameter(torch.randn(cout, 1, 1, 1) * 1e-3)
            self.bias = nn.Parameter(torch.randn(cout) * 1e-3)
            self.register_buffer("mask", torch.tensor(mask).expand(cout, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _pad_with(F.conv2d(x, self.k0, self.b0), self.b0)
        if self.mask is None:
            return F.conv2d(y, self.k1, self.b1)
        return F.conv2d(y, self.scale * self.mask, self.bias, groups=self.mask.shape[0])

    def fuse(self) -> tuple[torch.Tensor, torch.Tensor]:
        w0, b0 = self.k0[:, :, 0, 0], self.b0
        if self.mask is None:  # K = k1 . k0 (over mid), B = b1 + sum_hw(k1) . b0
            return torch.einsum("omhw,mi->oihw", self.k1, w0), self.b1 + torch.einsum("omhw,m->o", self.k1, b0)
        d = self.scale * self.mask  # depthwise: K[o] = d[o] * k0[o], B = bias + sum_hw(d) * b0
        return d * w0[:, :, None, None], self.bias + d.sum(dim=(1, 2, 3)) * b0


class ECB(RepConv):
    """Edge-oriented Convolution Block (ECBSR, Zhang et al. 2021), linear, no activation:
    3x3 + (1x1 -> 3x3, ``expand * cout`` wide) + (1x1 -> scaled Sobel-x / Sobel-y / Laplacian)
    [+ identity if ``identity`` and cin == cout]."""

    def __init__(self, cin: int, cout: int, expand: int = 2, identity: bool = False) -> None:
        super().__init__(cin, cout)
        self.conv3x3 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv1x1_3x3 = SeqConv(cin, cout, max(1, int(expand * cout)))
        self.conv1x1_sbx = SeqConv(cin, cout, cout, SOBEL_X)
        self.conv1x1_sby = SeqConv(cin, cout, cout, SOBEL_Y)
        self.conv1x1_lpl = SeqConv(cin, cout, cout, LAPLACIAN)
        self.identity = identity and cin == cout

    def _seqs(self) -> tuple[SeqConv, ...]:
        return (self.conv1x1_3x3, self.conv1x1_sbx, self.conv1x1_sby, self.conv1x1_lpl)

    def branches(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3x3(x)
        for s in self._seqs():
            y = y + s(x)
        return y + x if self.identity else y

    def fuse(self) -> tuple[torch.Tensor, torch.Tensor]:
        k, b = self.conv3x3.weight, self.conv3x3.bias
        assert b is not None
        for s in self._seqs():
            ks, bs = s.fuse()
            k, b = k + ks, b + bs
        return (k + identity_kernel(self.out_channels, k) if self.identity else k), b


class RepVGGBlock(RepConv):
    """RepVGG (Ding et al. 2021) without BN (BN hurts SR): 3x3 + 1x1 [+ identity if cin == cout]."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout)
        self.conv3x3 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv1x1 = nn.Conv2d(cin, cout, 1, bias=False)  # one bias suffices: they add up
        self.identity = cin == cout

    def branches(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3x3(x) + self.conv1x1(x)
        return y + x if self.identity else y

    def fuse(self) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.conv3x3.weight + F.pad(self.conv1x1.weight, (1, 1, 1, 1))
        if self.identity:
            k = k + identity_kernel(self.out_channels, k)
        b = self.conv3x3.bias
        assert b is not None
        return k, b


class SESRBlock(RepConv):
    """SESR collapsible linear block (Bhardwaj et al. 2022): 3x3 ``cin -> expand * cout``, 1x1
    back to ``cout`` [+ identity if cin == cout]. No border issue: the 1x1 comes after the 3x3."""

    def __init__(self, cin: int, cout: int, expand: int = 2) -> None:
        super().__init__(cin, cout)
        self.expand = nn.Conv2d(cin, max(1, int(expand * cout)), 3, padding=1)
        self.project = nn.Conv2d(self.expand.out_channels, cout, 1)
        self.identity = cin == cout

    def branches(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.expand(x))
        return y + x if self.identity else y

    def fuse(self) -> tuple[torch.Tensor, torch.Tensor]:
        w1, b1, b3 = self.project.weight[:, :, 0, 0], self.project.bias, self.expand.bias
        assert b1 is not None and b3 is not None
        k = torch.einsum("om,mihw->oihw", w1, self.expand.weight)  # K = W1 . W3, B = W1 . b3 + b1
        if self.identity:
            k = k + identity_kernel(self.out_channels, k)
        return k, w1 @ b3 + b1


# kind -> factory(cin, cout, expand); "none" is the plain conv (what every kind collapses to).
REP_KINDS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "none": lambda cin, cout, expand: nn.Conv2d(cin, cout, 3, padding=1),
    "ecb": lambda cin, cout, expand: ECB(cin, cout, expand),
    "repvgg": lambda cin, cout, expand: RepVGGBlock(cin, cout),
    "sesr": lambda cin, cout, expand: SESRBlock(cin, cout, expand),
}


def check_rep(kind: str, expand: int, what: str = "model") -> None:
    if kind not in REP_KINDS:
        close = difflib.get_close_matches(kind, list(REP_KINDS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{what}: unknown rep {kind!r}{hint} (use one of {', '.join(REP_KINDS)})")
    if int(expand) < 1:
        raise ConfigError(f"{what}: rep_expand must be >= 1, got {expand}")


def rep_conv3x3(kind: str, cin: int, cout: int, expand: int = 2) -> nn.Module:
    """A 3x3 conv (``kind="none"``) or a re-parameterizable block that collapses into one."""
    check_rep(kind, expand)
    return REP_KINDS[kind](cin, cout, expand)


def is_rep(model: nn.Module) -> bool:
    """True if ``model`` holds any re-parameterizable block."""
    return any(isinstance(m, RepConv) for m in model.modules())


def reparameterize(model: M, inplace: bool = False) -> M:
    """``model`` with every :class:`RepConv` replaced by its collapsed ``nn.Conv2d``.

    A copy unless ``inplace``. A dataclass ``model.config`` with a ``rep`` field gets ``rep="none"``,
    so ``arch()`` / ``save_model`` describe the plain network the weights now fit.
    """
    out = model if inplace else copy.deepcopy(model)
    n = _swap(out)
    cfg = getattr(out, "config", None)
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type) and hasattr(cfg, "rep"):
        out.config = dataclasses.replace(cfg, rep="none")  # type: ignore[assignment]
    if n:
        log.debug("reparameterized %d blocks of %s", n, getattr(out, "name", type(out).__name__))
    return out


def _swap(module: nn.Module) -> int:
    n = 0
    for name, child in module.named_children():
        if isinstance(child, RepConv):
            conv = child.collapse()
            conv.train(child.training)
            setattr(module, name, conv)
            n += 1
        else:
            n += _swap(child)
    return n


__all__ = ["RepConv", "SeqConv", "ECB", "RepVGGBlock", "SESRBlock", "REP_KINDS", "check_rep", "rep_conv3x3",
           "is_rep", "reparameterize", "identity_kernel"]
