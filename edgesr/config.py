"""Frozen dataclass configs built from plain dicts, rejecting unknown keys with a suggestion."""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Mapping, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def from_dict(cls: type[T], data: Mapping[str, Any], *, what: str | None = None) -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys raise with a "did you mean"."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, list(fields), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(sorted(fields))}"
        raise ConfigError(f"unknown {what or cls.__name__} key {k!r}{hint}")
    kwargs = {}
    for k, v in data.items():
        if isinstance(v, list):  # JSON round trip turns tuples into lists
            v = tuple(v)
        kwargs[k] = v
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict form (JSON- and ``torch.load(weights_only=True)``-safe)."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out
