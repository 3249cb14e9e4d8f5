"""edgesr: super-resolution for the edge (dual regression training, DRC, ONNX/TensorRT runtime)."""
from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import Any

from .errors import EdgeSRError

# Names resolved on first use: `import edgesr` stays cheap and never imports TensorRT or
# ONNX Runtime (tests/test_imports.py proves it).
_LAZY = {
    "create_model": "edgesr.models",
    "list_models": "edgesr.models",
    "save_model": "edgesr.models",
    "load_model": "edgesr.models",
    "count_params": "edgesr.models",
    "count_flops": "edgesr.models",
    "imresize": "edgesr.data.bicubic",
    "evaluate": "edgesr.evaluation",
    "train": "edgesr.training",
    "TrainConfig": "edgesr.training",
    "adapt": "edgesr.adaptation",
    "AdaptConfig": "edgesr.adaptation",
    "DualRegressionLoss": "edgesr.training.losses",
    "Upscaler": "edgesr.upscaler",
    "stream": "edgesr.video",
    "upscale_video": "edgesr.video",
    "compress": "edgesr.compression",
    "convert_official": "edgesr.models.official",
}

__all__ = ["EdgeSRError", "__version__", *_LAZY]


_SUBPACKAGES = ("models", "data", "training", "adaptation", "export", "runtimes", "calibration", "compression", "hub",
                "video", "bench")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:  # `edgesr.export.export_onnx(...)` works after a bare `import edgesr`
        return importlib.import_module(f"edgesr.{name}")
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'edgesr' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
