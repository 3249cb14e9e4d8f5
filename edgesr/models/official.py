"""Import checkpoints of the official DRN / DRC code (guoyongcs/DRC, folder ``DRN/``).

``convert_official`` turns an official primal state dict (``model/drn.py`` ``DRN``, e.g.
``DRNS4x.pt``, or the DRC-pruned ``SDRN``) and optionally its dual models (``*_dual_model.pt``:
a list of ``DownBlock`` state dicts) into an edgesr ``DRN`` with the same outputs:

* keys are renamed (``down.p.dual_module.0.0`` -> ``down.p.0``, CA ``conv_du`` -> ``body``, the
  upsampler's nested ``Sequential`` flattened), duals move into ``model.dual``;
* the official network works in [0, 255], edgesr in [0, 1]: every conv and MeanShift bias is
  divided by 255 (their outputs are in the 255 range; convs without bias need nothing, ReLU and
  LeakyReLU are scale-equivariant) and each channel-attention squeeze conv's weight is multiplied
  by 255, so the attention gates see the same values. The stored MeanShift values are kept;
* n_feats, n_blocks, scale, reduction, dual width and every pruned width are read from the
  tensor shapes; ``channels`` (a DRC search file) and ``scale`` are only checked against them.

Files are read with ``torch.load(weights_only=True)``: converting never executes code.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from ..errors import ConfigError, ModelFormatError
from .drn import DRN, VARIANTS, DRNConfig, full_widths, read_search_file, split_official

log = logging.getLogger(__name__)

RANGE = 255.0  # official rgb_range
_REQUIRED = ("head.weight", "down.0.dual_module.0.0.weight", "up_blocks.0.0.body.0.weight", "tail.0.weight")
_EXPECTED = ("expected an official DRN state dict (guoyongcs/DRC DRN/model/drn.py or sdrn.py, as saved in "
             "DRNS4x.pt) with keys like " + ", ".join(_REQUIRED))
_DUAL_KEYS = ("dual_module.0.0.weight", "dual_module.1.weight")

StateDict = Mapping[str, torch.Tensor]


def convert_official(primal: str | os.PathLike[str] | StateDict,
                     dual: str | os.PathLike[str] | Sequence[StateDict] | None = None,
                     channels: str | os.PathLike[str] | Sequence[int] | None = None,
                     scale: int | None = None) -> DRN:
    """An edgesr ``DRN`` equal to the official model (outputs divided by 255); see the module doc."""
    sd = _primal_state(primal)
    duals = _dual_states(dual) if dual is not None else None
    cfg = infer_config(sd, duals)
    if scale is not None and scale != cfg.scale:
        raise ConfigError(f"scale {scale} was given but the checkpoint is a x{cfg.scale} DRN "
                          f"({cfg.scale.bit_length() - 1} down blocks); omit --scale or pass {cfg.scale}")
    model = DRN(cfg, name=_name(cfg))
    if channels is not None:
        _check_channels(model, channels)
    state = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("dual.")}  # fresh duals if none
    state.update(convert_primal(sd, cfg))
    for i, d in enumerate(duals or []):
        state.update({f"dual.{i}.{k}": v for k, v in convert_dual(d).items()})
    _load(model, state)
    model.meta = {"converted_from": "official DRN (guoyongcs/DRC)", "official_dual": duals is not None,  # type: ignore[assignment]
                  "pruned": _pruned(cfg)}
    log.info("converted an official x%d DRN (n_feats %d, n_blocks %d%s%s)", cfg.scale, cfg.n_feats, cfg.n_blocks,
             ", pruned" if _pruned(cfg) else "", ", with duals" if duals is not None else ", duals initialised fresh")
    return model


def _load_file(path: str | os.PathLike[str], what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise ModelFormatError(f"{what} not found: {p}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # pickled code, truncated zip, not a torch file
        from . import unreadable_reason

        why = "it holds pickled Python objects, refused for safety" if "GLOBAL" in str(e) else unreadable_reason(p)
        raise ModelFormatError(f"{p} is not a readable {what} ({why}); "
                               "pass the .pt the official code saved (a plain state dict)") from None


def _primal_state(primal: str | os.PathLike[str] | StateDict) -> dict[str, torch.Tensor]:
    where = ""
    if isinstance(primal, (str, os.PathLike)):
        where = f"{primal}: "
        primal = _load_file(primal, "official DRN checkpoint")
    if isinstance(primal, Mapping) and primal.get("format") == "edgesr.checkpoint":
        raise ModelFormatError(f"{where}this is already an edgesr checkpoint; load it with edgesr.load_model")
    if not isinstance(primal, Mapping) or not all(isinstance(v, torch.Tensor) for v in primal.values()):
        raise ModelFormatError(f"{where}{_EXPECTED}; got {_describe(primal)}")
    sd = {re.sub(r"^module\.", "", str(k)): v.float() for k, v in primal.items()}  # DataParallel prefix
    missing = [k for k in _REQUIRED if k not in sd]
    if missing:
        raise ModelFormatError(f"{where}{_EXPECTED}; got {_describe(sd)} (no {missing[0]})")
    return sd


def _dual_states(dual: str | os.PathLike[str] | Sequence[StateDict]) -> list[dict[str, torch.Tensor]]:
    where = ""
    obj: Any = dual
    if isinstance(dual, (str, os.PathLike)):
        where = f"{dual}: "
        obj = _load_file(dual, "official dual model file")
    ok = isinstance(obj, (list, tuple)) and len(obj) > 0 and all(
        isinstance(d, Mapping) and all(k in d for k in _DUAL_KEYS) for d in obj)
    if not ok:
        raise ModelFormatError(f"{where}expected the official dual models (a list of DownBlock state dicts with keys "
                               f"{', '.join(_DUAL_KEYS)}, as saved in dual_model_best.pt); got {_describe(obj)}")
    return [{k: v.float() for k, v in d.items()} for d in obj]


def _describe(obj: Any) -> str:
    if isinstance(obj, Mapping):
        keys = list(obj)[:4]
        return f"a dict with {len(obj)} keys ({', '.join(map(str, keys))}{', ...' if len(obj) > 4 else ''})"
    if isinstance(obj, (list, tuple)):
        return f"a {type(obj).__name__} of {len(obj)} items"
    return type(obj).__name__


def infer_config(sd: StateDict, duals: Sequence[StateDict] | None = None) -> DRNConfig:
    """The ``DRNConfig`` (widths, pruned or not) that the official state dict's shapes describe."""
    nf, n_colors = (int(v) for v in sd["head.weight"].shape[:2])
    phase = _count(sd, r"down\.(\d+)\.dual_module\.0\.0\.weight$")
    nb = _count(sd, r"up_blocks\.0\.(\d+)\.body\.0\.weight$")
    need = [f"down.{p}.dual_module.0.0.weight" for p in range(phase)] + \
           [f"up_blocks.{i}.{nb}.0.weight" for i in range(phase)] + [f"tail.{phase}.weight"]
    if any(k not in sd for k in need):
        raise ModelFormatError(f"{_EXPECTED}; got {_describe(sd)} (no {next(k for k in need if k not in sd)})")
    if duals is not None and len(duals) != phase:
        raise ModelFormatError(f"the primal is a x{2 ** phase} DRN with {phase} dual levels but {len(duals)} dual "
                               "models were given; pass the dual file saved with this primal")
    down = tuple(int(sd[f"down.{p}.dual_module.0.0.weight"].shape[0]) for p in range(phase))
    mids = tuple(int(sd[f"up_blocks.{i}.{j}.body.0.weight"].shape[0]) for i in range(phase) for j in range(nb))
    ups = tuple(int(sd[f"up_blocks.{i}.{nb}.0.weight"].shape[0]) // 4 for i in range(phase))
    r0, c0 = (int(v) for v in sd["up_blocks.0.0.body.3.conv_du.0.weight"].shape[:2])
    reduction = 16 if max(1, c0 // 16) == r0 else c0 // r0  # official RCABs: channel // 16
    dual_feats = int(duals[0]["dual_module.0.0.weight"].shape[0]) if duals else nf
    scale = 2**phase
    variant = next((v for v, t in VARIANTS.items() if t.get(scale) == (nf, nb)), "s")
    cfg = DRNConfig(scale=scale, variant=variant, n_feats=nf, n_blocks=nb, reduction=reduction,
                    dual_feats=None if dual_feats == nf else dual_feats, n_colors=n_colors)
    fd, fr, fu = full_widths(cfg)
    return replace(cfg, down_channels=None if down == fd else down, channels=None if mids == fr else mids,
                   up_channels=None if ups == fu else ups)


def _count(sd: StateDict, pattern: str) -> int:
    return len({int(m.group(1)) for k in sd if (m := re.match(pattern, k))})


def _name(cfg: DRNConfig) -> str:
    t = VARIANTS[cfg.variant].get(cfg.scale)
    return f"drn_{cfg.variant}" if t == (cfg.n_feats, cfg.n_blocks) else "drn"


def _pruned(cfg: DRNConfig) -> bool:
    return any(c is not None for c in (cfg.channels, cfg.down_channels, cfg.up_channels))


def convert_primal(sd: StateDict, cfg: DRNConfig) -> dict[str, torch.Tensor]:
    """Official primal keys and [0, 255] values -> edgesr ``DRN`` keys and [0, 1] values."""
    nb = int(cfg.n_blocks or 0)
    out = {}
    for key, v in sd.items():
        k = re.sub(r"^down\.(\d+)\.dual_module\.0\.0\.", r"down.\1.0.", key)
        k = re.sub(r"^down\.(\d+)\.dual_module\.1\.", r"down.\1.2.", k)
        k = re.sub(r"^(up_blocks\.\d+\.\d+\.body\.3)\.conv_du\.", r"\1.body.", k)
        k = re.sub(rf"^up_blocks\.(\d+)\.{nb}\.0\.", rf"up_blocks.\1.{nb}.", k)  # upsampler conv
        k = re.sub(rf"^up_blocks\.(\d+)\.{nb + 1}\.", rf"up_blocks.\1.{nb + 2}.", k)  # its 1x1 conv
        out[k] = _rescale(k, v.clone())
    return out


def _rescale(key: str, v: torch.Tensor) -> torch.Tensor:
    ca = re.search(r"\.body\.3\.body\.(\d)\.", key)  # channel attention convs: their outputs are gates
    if ca is not None:
        return v * RANGE if ca.group(1) == "0" and key.endswith(".weight") else v
    return v / RANGE if key.endswith(".bias") else v


def convert_dual(sd: StateDict) -> dict[str, torch.Tensor]:
    """Official ``DownBlock(opt, 2)`` -> edgesr ``DualBlock(2)`` (no biases: no range change)."""
    if set(sd) != set(_DUAL_KEYS):
        raise ModelFormatError(f"unexpected dual model keys {sorted(sd)}; expected {', '.join(_DUAL_KEYS)} "
                               "(an official DownBlock for one x2 level)")
    return {"body.0.weight": sd["dual_module.0.0.weight"].clone(), "body.2.weight": sd["dual_module.1.weight"].clone()}


def _check_channels(model: DRN, channels: str | os.PathLike[str] | Sequence[int]) -> None:
    ch = read_search_file(channels) if isinstance(channels, (str, os.PathLike)) else [int(c) for c in channels]
    split_official(ch, model.phase, int(model.config.n_blocks or 0))  # length check with its message
    for p, want in zip(model.prunable(), ch):
        got = p.producer.out_channels // p.group
        if got != want:
            raise ModelFormatError(f"channel file says {want} channels for {p.name} but the checkpoint has {got}; "
                                   "pass the search file the checkpoint was pruned with (or none: shapes suffice)")


def _load(model: DRN, state: dict[str, torch.Tensor]) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelFormatError(f"{_EXPECTED}; the tensors do not fit the DRN their shapes describe "
                               f"({str(e).splitlines()[0][:200]} ...)") from None
