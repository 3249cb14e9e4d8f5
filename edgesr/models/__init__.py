"""Model factory, checkpoints and size accounting.

``create_model("edge_tiny", scale=2)`` builds a model from a named preset; ``save_model`` stores
its architecture next to its weights so ``load_model`` needs nothing else. Checkpoints are read
with ``torch.load(weights_only=True)``: loading a checkpoint never executes code.
"""
from __future__ import annotations

import difflib
import logging
import os
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..config import from_dict
from ..errors import ConfigError, ModelFormatError
from ..fileio import atomic_path
from .base import DualBlock, DualPair, Prunable, SRModel
from .drn import DRN, DRNConfig
from .edge import EdgeSR, EdgeSRConfig

__all__ = [
    "SRModel", "Prunable", "DualPair", "DualBlock", "EdgeSR", "EdgeSRConfig", "DRN", "DRNConfig",
    "create_model", "list_models", "save_model", "load_model", "build_model", "count_params", "count_flops",
]

log = logging.getLogger(__name__)

FAMILIES: dict[str, tuple[type[SRModel], type]] = {"edge": (EdgeSR, EdgeSRConfig), "drn": (DRN, DRNConfig)}

# name -> (family, preset kwargs). Scale comes from the caller.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "edge_nano": ("edge", {"n_feats": 8, "n_blocks": 1}),  # real-time class: x2 360p->720p on 2 CPU cores
    "edge_tiny": ("edge", {"n_feats": 16, "n_blocks": 3}),
    "edge_small": ("edge", {"n_feats": 32, "n_blocks": 4}),
    "edge_base": ("edge", {"n_feats": 48, "n_blocks": 6}),
    # DRN-S / DRN-L: n_feats and n_blocks follow the official preset for the scale (x4: 16/30 and 20/40,
    # x8: 8/30 and 10/36; see edgesr.models.drn.VARIANTS)
    "drn_s": ("drn", {"variant": "s"}),
    "drn_l": ("drn", {"variant": "l"}),
}

FORMAT = "edgesr.checkpoint"
FORMAT_VERSION = 1


def list_models() -> list[str]:
    return sorted(PRESETS)


def create_model(name: str, scale: int = 2, **overrides: Any) -> SRModel:
    """Build a model by preset name; ``overrides`` replace config fields (e.g. ``channels``)."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, list(PRESETS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown model {name!r}{hint} (available: {', '.join(list_models())})")
    family, preset = PRESETS[name]
    return build_model(family, {**preset, "scale": scale, **overrides}, name=name)


def build_model(family: str, config: Mapping[str, Any], name: str | None = None) -> SRModel:
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r} (known: {', '.join(FAMILIES)})")
    cls, cfg_cls = FAMILIES[family]
    cfg: Any = from_dict(cfg_cls, config, what=f"{family} config")
    return cls(cfg, name=name or family)  # type: ignore[call-arg]


def save_model(model: SRModel, path: str | os.PathLike[str], *, meta: Mapping[str, Any] | None = None,
               include_dual: bool = True, collapse: bool = True) -> Path:
    """Write ``{arch, weights, meta}`` atomically (temp file + rename).

    ``collapse``: a model with re-parameterizable blocks (``rep`` != "none") is stored in its
    deployed form, one 3x3 conv per layer (its arch says ``rep="none"``, ``meta["rep"]`` the
    trained kind); ``collapse=False`` keeps the branches (``load_model`` rebuilds the rep model).
    """
    from .rep import is_rep, reparameterize

    path = Path(path)
    if collapse and is_rep(model):
        meta = {"rep": getattr(model.config, "rep", "?"), **(meta or {})}
        model = reparameterize(model)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items() if include_dual or not k.startswith("dual.")}
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "arch": model.arch(),
        "state_dict": state, "meta": dict(meta or {}), "has_dual": include_dual,
    }
    atomic_torch_save(payload, path)
    return path


def atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def safe_torch_load(path: Path, fix: str, what: str = "edgesr checkpoint") -> Any:
    """``torch.load(weights_only=True)``: plain tensors and containers only, never code.

    A file that holds pickled objects (classes, functions) is refused with a message saying so;
    a truncated or foreign file raises ``ModelFormatError`` naming the file and ``fix``.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        if not m:
            raise ModelFormatError(f"{path} is not a readable {what} ({unreadable_reason(path)}); {fix}") from None
        raise ModelFormatError(f"{path} holds code (pickled Python objects: {m.group(1)}) and was refused for "
                               f"safety: edgesr reads only tensors and plain data; {fix}") from None
    except Exception:  # truncated zip, not a torch file at all: the unpickler's own words mean nothing to a user
        raise ModelFormatError(f"{path} is not a readable {what} ({unreadable_reason(path)}); {fix}") from None


def unreadable_reason(path: str | os.PathLike[str]) -> str:
    """Why a file torch cannot load is unreadable, in a user's words (never the unpickler's ``IndexError: pop
    from empty list`` or ``KeyError: 101``): empty, a damaged PyTorch archive, or not a PyTorch file at all."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        return f"cannot be read: {(e.strerror or str(e)).lower()}"
    if not head:
        return "the file is empty"
    if head == b"PK\x03\x04":
        return "a damaged or truncated PyTorch archive"
    return "not a PyTorch file: other or damaged content"


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"model file not found: {path}; pass a path to a .pt saved by edgesr.save_model "
                               "(bundled models: `edgesr models`)")
    ckpt = safe_torch_load(path, "re-save it with edgesr.save_model or re-download it")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ModelFormatError(
            f"{path} is a PyTorch file but not an edgesr checkpoint (no architecture stored); "
            "build the model with edgesr.create_model, load the weights, and save it with edgesr.save_model"
        )
    return ckpt


def load_model(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> SRModel:
    """Rebuild a model from a checkpoint written by :func:`save_model`."""
    ckpt = read_checkpoint(path)
    arch = ckpt["arch"]
    model = build_model(arch["family"], arch["config"], name=arch.get("name"))
    state = ckpt["state_dict"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not (k.startswith("dual.") and not ckpt.get("has_dual", True))]
    if missing or unexpected:
        raise ModelFormatError(f"{path}: weights do not match the stored architecture "
                               f"(missing {missing[:3]}, unexpected {unexpected[:3]}); the file is corrupt")
    model.meta = dict(ckpt.get("meta", {}))  # type: ignore[assignment]
    return model.to(map_location)


def count_params(model: nn.Module, include_dual: bool = False) -> int:
    """Trainable-or-not parameters of the primal network (the deployed part) unless ``include_dual``."""
    return sum(p.numel() for n, p in model.named_parameters() if include_dual or not n.startswith("dual."))


def count_flops(model: nn.Module, input_hw: tuple[int, int] = (360, 640)) -> int:
    """Multiply-accumulates x2 (FLOPs) of one forward pass at ``input_hw`` (convs and linears)."""
    total = 0

    def hook(m: nn.Module, inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            total += 2 * out.numel() * k
        elif isinstance(m, nn.Linear):
            total += 2 * out.numel() * m.in_features

    hooks = [m.register_forward_hook(hook) for n, m in model.named_modules()
             if isinstance(m, (nn.Conv2d, nn.Linear)) and not n.startswith("dual")]
    try:
        p = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_hw, dtype=p.dtype, device=p.device))
    finally:
        for h in hooks:
            h.remove()
    return total


