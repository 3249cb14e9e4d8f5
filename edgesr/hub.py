"""Bundled pretrained models: shipped inside the package (``edgesr/weights``), no download.

Names are ``edge_{kind}_x{scale}[_{variant}]`` with kind ``nano`` (real-time: x2 360p->720p at 25+ fps
on 2 CPU cores), ``tiny`` (the default) or ``base`` (the quality class, meant for GPUs and Jetson),
and variant ``real`` for models trained on camera/codec degradations (``edgesr.data.degrade``, preset
"real": for camera and compressed-video input); each has a ``.pt`` checkpoint (arch + weights) and an
``.onnx`` export beside it. ``docs/models.md`` is the model card.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .errors import ConfigError, ModelFormatError

WEIGHTS = Path(__file__).resolve().parent / "weights"
DEFAULT_SCALE = 2
DEFAULT_KIND = "tiny"
_NAME = re.compile(r"^edge_(?P<kind>[a-z]+)_x(?P<scale>\d+)(?:_(?P<variant>[a-z]+))?$")


def bundled_models() -> list[str]:
    """Names of the bundled models present in this installation."""
    return sorted({p.stem for p in WEIGHTS.glob("edge_*_x*.pt")} | {p.stem for p in WEIGHTS.glob("edge_*_x*.onnx")})


def bundled_model(scale: int = DEFAULT_SCALE, kind: str = DEFAULT_KIND, format: str = "onnx",
                  variant: str | None = None) -> Path:
    """Path of a bundled model file (``format``: ``onnx`` or ``pt``; ``variant``: e.g. ``"real"``)."""
    if format not in ("onnx", "pt"):
        raise ConfigError(f"bundled model format must be 'onnx' or 'pt', got {format!r}")
    name = f"edge_{kind}_x{scale}" + (f"_{variant}" if variant else "")
    path = WEIGHTS / f"{name}.{format}"
    if not path.is_file():
        have = ", ".join(bundled_models()) or "none"
        raise ModelFormatError(f"no bundled model {name}.{format} in this installation (bundled: {have}); "
                               "pass a model file, or pick a bundled scale/kind")
    return path


def parse_bundled_name(name: str) -> tuple[str, int, str | None]:
    """``"edge_tiny_x2_real"`` -> ``("tiny", 2, "real")``; a one-line error for anything else."""
    m = _NAME.match(name)
    if not m:
        raise ConfigError(f"{name!r}: bundled names look like edge_KIND_xSCALE or edge_KIND_xSCALE_real "
                          "(e.g. edge_nano_x2); see `edgesr models`")
    return m["kind"], int(m["scale"]), m["variant"]


def bundled_model_by_name(name: str, format: str = "onnx") -> Path:
    """Path of a bundled model given its name, e.g. ``"edge_nano_x2"`` (what ``Upscaler(name)`` takes)."""
    kind, scale, variant = parse_bundled_name(name)
    return bundled_model(scale=scale, kind=kind, format=format, variant=variant)


def is_bundled_name(spec: object) -> bool:
    """A string that names a bundled model rather than a file (no suffix, no folder, not on disk)."""
    return (isinstance(spec, str) and spec.startswith("edge_") and "." not in spec and "/" not in spec
            and not Path(spec).exists())


def model_file(spec: str | os.PathLike[str], format: str = "pt") -> Path:
    """What a command's MODEL argument names: a bundled name (``edge_tiny_x2``) -> its ``format`` file, anything
    else -> that path (checked by whoever loads it). Every command that takes a model goes through here."""
    if is_bundled_name(spec):
        return bundled_model_by_name(str(spec), format=format)
    return Path(spec)


def model_card() -> dict[str, object]:
    """Metrics of the bundled models (``weights/card.json``, written by the training recipe)."""
    p = WEIGHTS / "card.json"
    return json.loads(p.read_text()) if p.is_file() else {}
