"""PyTorch -> ONNX for the primal network, with the metadata runtimes need.

Exporter choice: torch 2.13's default (dynamo) exporter needs onnxscript and writes weights to a
separate ``.onnx.data`` file; the TorchScript exporter (``dynamo=False``) produces one
self-contained file with PixelShuffle as DepthToSpace and bicubic as Resize(cubic), so we use it.
"""
from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch

from edgesr.errors import ModelFormatError
from edgesr.models.base import SRModel

log = logging.getLogger(__name__)

# metadata_props written into every exported model (strings): runtimes need nothing else.
META_KEYS = ("edgesr.scale", "edgesr.model", "edgesr.layout", "edgesr.color", "edgesr.range", "edgesr.precision",
             "edgesr.version", "edgesr.arch")
INPUT_NAME, OUTPUT_NAME = "input", "output"


class _Primal(torch.nn.Module):
    """Wraps an SRModel so export traces ``forward`` only (never the dual networks)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def export_onnx(model: SRModel | str | os.PathLike[str], path: str | os.PathLike[str], *, opset: int = 17,
                dynamic: bool = True, shape: tuple[int, int, int, int] | None = None,
                extra_meta: Mapping[str, Any] | None = None) -> Path:
    """Export the primal network to one self-contained ONNX file (written atomically).

    ``dynamic``: batch, height and width are symbolic; ``shape`` (N, C, H, W) fixes them instead.
    """
    import json

    import onnx

    from edgesr import __version__
    from edgesr.models import load_model

    if not isinstance(model, torch.nn.Module):
        model = load_model(model)
    path = Path(path)
    model = model.eval().float().cpu()
    n, c, h, w = shape or (1, 3, 64, 64)
    dummy = torch.rand(n, c, h, w)
    axes = None if shape is not None or not dynamic else {INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
                                                          OUTPUT_NAME: {0: "batch", 2: "out_height", 3: "out_width"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".onnx")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Primal(model), (dummy,), tmp, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False)
        proto = onnx.load(tmp)
        meta = {
            "edgesr.scale": str(model.scale), "edgesr.model": getattr(model, "name", type(model).__name__),
            "edgesr.layout": "NCHW", "edgesr.color": "RGB", "edgesr.range": "0-1", "edgesr.precision": "fp32",
            "edgesr.version": __version__,
        }
        if hasattr(model, "arch"):
            meta["edgesr.arch"] = json.dumps(model.arch())
        meta.update({k: str(v) for k, v in (extra_meta or {}).items()})
        set_metadata(proto, meta)
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("exported %s (opset %d, %s)", path, opset, "dynamic H/W" if axes else f"shape {n}x{c}x{h}x{w}")
    return path


def set_metadata(proto: Any, meta: Mapping[str, str]) -> None:
    """Replace/insert ``metadata_props`` entries in an ``onnx.ModelProto``."""
    keep = [p for p in proto.metadata_props if p.key not in meta]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, str(v)


def read_metadata(path_or_proto: Any) -> dict[str, str]:
    """``metadata_props`` of an ONNX file as a dict (no ONNX Runtime needed)."""
    import onnx

    if isinstance(path_or_proto, (str, os.PathLike)):
        try:
            proto = onnx.load(str(path_or_proto), load_external_data=False)
        except Exception as e:
            raise ModelFormatError(f"{path_or_proto} is not a readable ONNX file ({type(e).__name__}); re-export it "
                                   "with 'edgesr export onnx'") from None
    else:
        proto = path_or_proto
    return {p.key: p.value for p in proto.metadata_props}
