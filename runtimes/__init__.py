"""Runtimes: one backend module each, chosen from the model file's suffix.

``open_backend("model.onnx")`` -> ONNX Runtime, ``.engine``/``.plan`` -> TensorRT, ``.pt``/``.pth``
or an ``nn.Module`` -> PyTorch; ``backend=`` overrides the table. Backend modules are imported
only when chosen, so importing this package never imports ONNX Runtime or TensorRT.
"""
from __future__ import annotations

import difflib
import importlib
import os
from pathlib import Path
from typing import Any

from edgesr.errors import ConfigError, ModelFormatError

from .base import Backend

__all__ = ["Backend", "SUFFIXES", "BACKENDS", "open_backend", "backend_for"]

#: file suffix -> backend name
SUFFIXES: dict[str, str] = {".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt",
                            ".trt": "tensorrt", ".pt": "pytorch", ".pth": "pytorch"}
#: backend name -> (module, class)
BACKENDS: dict[str, tuple[str, str]] = {
    "onnxruntime": (".ort", "OrtBackend"),
    "tensorrt": (".trt", "TrtBackend"),
    "pytorch": (".pytorch", "TorchBackend"),
}
_ALIASES = {"ort": "onnxruntime", "onnx": "onnxruntime", "trt": "tensorrt", "torch": "pytorch"}


def backend_for(model: Any, backend: str | None = None) -> str:
    """Backend name for a model (path or nn.Module), ``backend`` overriding the suffix table."""
    if backend is not None:
        name = _ALIASES.get(backend.lower(), backend.lower())
        if name not in BACKENDS:
            close = difflib.get_close_matches(name, list(BACKENDS) + list(_ALIASES), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown backend {backend!r}{hint} (available: {', '.join(BACKENDS)})")
        return name
    if not isinstance(model, (str, os.PathLike)):
        return "pytorch"
    suffix = Path(model).suffix.lower()
    if suffix not in SUFFIXES:
        raise ModelFormatError(f"cannot tell the runtime for {model!r} from its suffix {suffix!r}; use a file ending in "
                               f"{', '.join(SUFFIXES)} or pass backend= ({', '.join(BACKENDS)})")
    return SUFFIXES[suffix]


def open_backend(model: Any, backend: str | None = None, **options: Any) -> Backend:
    """Create and open the backend for ``model``; ``options`` go to the backend's constructor."""
    name = backend_for(model, backend)
    mod, cls = BACKENDS[name]
    klass = getattr(importlib.import_module(mod, __name__), cls)
    return klass(model, **{k: v for k, v in options.items() if v is not None}).open()
