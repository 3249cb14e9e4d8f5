"""Warm start: begin training from another checkpoint's tensors (``TrainConfig.init`` / ``--init``)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ConfigError
from ..models import load_model
from ..models.base import SRModel


def warm_start(model: SRModel, path: str | Path, new_scale: float = 1e-2) -> int:
    """Start from another checkpoint: copy same-named tensors, widening where the target is larger.

    Same shape: copied (e.g. the x2 body into x4). Same scale and every dimension at least as
    large (tiny -> base): the source fills the leading slice and the rest keeps its random init
    scaled by ``new_scale``; residual blocks the source lacks get their second conv scaled the
    same way, so they start as near-identities. The widened model then computes almost the same
    function as the source (a Net2Net-style start), and fine-tuning only has to add to it, which
    is what makes a 300K-parameter model trainable from a 16K one in CPU hours. Tensors whose
    shape means something else at another scale (the tail before the pixel shuffle) are skipped.
    Returns how many source tensors were used.
    """
    src_model = load_model(path)
    src = src_model.state_dict()
    same_scale = src_model.scale == model.scale
    dst = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for k, d in dst.items():
        v = src.get(k)
        if v is not None and v.shape == d.shape:
            out[k] = v
        elif (v is not None and same_scale and v.dim() == d.dim() and v.dim() > 0
              and all(a <= b for a, b in zip(v.shape, d.shape))):
            w = d.clone() * new_scale
            w[tuple(slice(0, n) for n in v.shape)] = v
            out[k] = w
        elif v is None and same_scale and _is_new_block_output(k):
            out[k] = d.clone() * new_scale
    if not any(k in src for k in out):
        raise ConfigError(f"--init {path}: no tensor matches this architecture; use a checkpoint of the same family")
    model.load_state_dict(out, strict=False)
    return sum(1 for k in out if k in src)


def _is_new_block_output(key: str) -> bool:
    # the last conv of a residual block: zero-ish makes the block an identity at the start
    return key.startswith("blocks.") and ".conv2." in key


__all__ = ["warm_start"]
