"""PyTorch -> ONNX for the primal network, with the metadata runtimes need.

Exporter choice: torch 2.13's default (dynamo) exporter needs onnxscript and writes weights to a
separate ``.onnx.data`` file; the TorchScript exporter (``dynamo=False``) produces one
self-contained file with PixelShuffle as DepthToSpace and bicubic as Resize(cubic), so we use it.
The traced module is ``model.export_form()``: for EdgeSR the pixel shuffle becomes a one-hot
ConvTranspose (same numbers, 2.5x faster than ORT's CPU DepthToSpace; ``OneHotPixelShuffle``).
A model trained with re-parameterizable blocks (``rep``) is collapsed first (``reparameterize``):
the file holds one 3x3 conv per layer, and its ``edgesr.arch`` says ``rep="none"``.

Pipeline (``export_onnx``): trace -> metadata -> simplify (onnxsim, else onnxslim, else none with a
warning) -> ONNX checker -> parity against PyTorch on a real image (``check_parity``), atomically.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from edgesr.fileio import atomic_path
from edgesr.errors import ConfigError, ModelFormatError
from edgesr.models.base import SRModel
from edgesr.models.rep import is_rep, reparameterize
from edgesr.precision import Precision

log = logging.getLogger(__name__)

# metadata_props written into every exported model (strings): runtimes need nothing else.
META_KEYS = ("edgesr.scale", "edgesr.model", "edgesr.layout", "edgesr.color", "edgesr.range", "edgesr.precision",
             "edgesr.version", "edgesr.arch")
INPUT_NAME, OUTPUT_NAME = "input", "output"

# Ops every TensorRT ONNX parser from 8.5 on imports (onnx-tensorrt docs/operators.md). Resize is
# listed but its cubic mode needs a parser that supports it: see docs/export.md.
TRT_SAFE_OPS = frozenset({
    "Add", "Sub", "Mul", "Div", "Conv", "ConvTranspose", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Clip",
    "Concat", "Slice", "Split", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Constant", "Shape",
    "Gather", "Cast", "Resize", "DepthToSpace", "SpaceToDepth", "GlobalAveragePool", "AveragePool", "MaxPool",
    "ReduceMean", "Pad", "Pow", "Sqrt", "Max", "Min", "Expand", "Tile", "Flatten", "MatMul", "Gemm",
    "BatchNormalization", "InstanceNormalization", "QuantizeLinear", "DequantizeLinear",
})


class _Primal(torch.nn.Module):
    """Wraps an SRModel so export traces ``forward`` only (never the dual networks)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def export_onnx(model: SRModel | str | os.PathLike[str], path: str | os.PathLike[str], *, opset: int = 17,
                dynamic: bool = True, shape: Sequence[int] | None = None,
                extra_meta: Mapping[str, Any] | None = None, simplify: bool = True, verify: bool = True,
                image: Any = None, atol: float = 1e-3, on_report: Callable[[Any], None] | None = None,
                overwrite: bool = False) -> Path:
    """Export the primal network to one self-contained ONNX file (written atomically).

    ``path`` (a ``.onnx`` in a writable folder) is checked first; an existing file is refused unless
    ``overwrite``. ``model``: an SRModel, a ``.pt`` or a bundled name (``"edge_tiny_x2"``).

    ``dynamic``: batch, height and width are symbolic; ``shape`` (N, C, H, W) fixes them instead.
    ``simplify`` runs onnxsim (falling back to onnxslim). ``verify`` compares ONNX Runtime with
    PyTorch on ``image`` (a real photo; see ``check_parity``) and raises ``ParityError`` above ``atol``,
    in which case no file is written; ``on_report`` receives the ``ParityReport`` (the CLI prints it).
    """
    import json

    import onnx

    from edgesr import __version__
    from edgesr.models import load_model

    from edgesr.hub import model_file
    from edgesr.overwrite import check_output

    check_output(path, "onnx", overwrite=overwrite, flag="path", how="overwrite=True")
    if not isinstance(model, torch.nn.Module):
        model = load_model(model_file(model, "pt"))
    if shape is not None and len(shape) != 4:
        raise ConfigError(f"shape must be N,C,H,W (4 numbers), got {shape}; e.g. --shape 1x3x360x640")
    path = Path(path)
    model = model.eval().float().cpu()
    if is_rep(model):  # train-time branches -> one 3x3 conv each; the stored arch then says rep="none"
        model = reparameterize(model)
    n, c, h, w = tuple(shape) if shape is not None else (1, 3, 64, 64)
    dummy = torch.rand(n, c, h, w)
    axes = None if shape is not None or not dynamic else {INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
                                                          OUTPUT_NAME: {0: "batch", 2: "out_height", 3: "out_width"}}
    with atomic_path(path, suffix=".onnx") as tmp_path:
        tmp = str(tmp_path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = model.export_form() if isinstance(model, SRModel) else model
            torch.onnx.export(_Primal(traced), (dummy,), tmp, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
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
        if simplify:
            proto, how = simplify_onnx(proto)
            meta["edgesr.simplifier"] = how
        set_metadata(proto, meta)
        onnx.checker.check_model(proto)
        odd = unsupported_trt_ops(proto)
        if odd:
            log.warning("ops %s may not import into TensorRT 8.5; the ONNX still runs on ONNX Runtime", odd)
        onnx.save(proto, tmp)
        if verify:
            from .parity import check_parity

            report = check_parity(model, tmp, image, atol=atol, size=(h, w) if shape is not None else None,
                                  batch=n)
            log.info("parity %s", report)
            if on_report is not None:
                on_report(report)
            report.raise_if_failed(str(path))
    log.info("exported %s (opset %d, %s)", path, opset, "dynamic H/W" if axes else f"shape {n}x{c}x{h}x{w}")
    return path


def simplify_onnx(proto: Any) -> tuple[Any, str]:
    """Simplify with onnx-simplifier; fall back to onnxslim, then to the unsimplified graph (warned).

    Returns ``(model, "onnxsim" | "onnxslim" | "none")``. The metadata is copied back, since neither
    tool promises to keep ``metadata_props``.
    """
    meta = {p.key: p.value for p in proto.metadata_props}
    errors = []
    try:
        import onnxsim

        simplified, ok = onnxsim.simplify(proto)
        if ok:
            set_metadata(simplified, meta)
            return simplified, "onnxsim"
        errors.append("onnxsim: its own check failed")
    except Exception as e:  # ImportError, or onnxsim's C++ side rejecting the graph
        errors.append(f"onnxsim: {type(e).__name__}: {str(e)[:200]}")
    try:
        import onnxslim

        slimmed = onnxslim.slim(proto)
        if slimmed is not None:
            set_metadata(slimmed, meta)
            log.info("onnxsim unavailable (%s); simplified with onnxslim", errors[-1])
            return slimmed, "onnxslim"
        errors.append("onnxslim: returned nothing")
    except Exception as e:
        errors.append(f"onnxslim: {type(e).__name__}: {str(e)[:200]}")
    log.warning("ONNX left unsimplified (%s); fix: pip install onnxsim onnxslim", "; ".join(errors))
    return proto, "none"


def unsupported_trt_ops(path_or_proto: Any) -> list[str]:
    """Op types in the graph outside ``TRT_SAFE_OPS`` (export warns; tests require none)."""
    import onnx

    proto = onnx.load(str(path_or_proto), load_external_data=False) \
        if isinstance(path_or_proto, (str, os.PathLike)) else path_or_proto
    return sorted({n.op_type for n in proto.graph.node} - TRT_SAFE_OPS)


def graph_precision(path_or_proto: Any) -> Precision:
    """What precision an ONNX graph itself carries: INT8 if it has Q/DQ nodes, FP16 if its float
    input or any initializer / Cast target is float16, else FP32. TensorRT >= 11 builds from this."""
    import onnx

    proto = onnx.load(str(path_or_proto), load_external_data=False) \
        if isinstance(path_or_proto, (str, os.PathLike)) else path_or_proto
    g = proto.graph
    ops = {n.op_type for n in g.node}
    if {"QuantizeLinear", "DequantizeLinear"} & ops:
        return Precision.INT8
    f16 = onnx.TensorProto.FLOAT16
    if any(i.type.tensor_type.elem_type == f16 for i in g.input) or any(t.data_type == f16 for t in g.initializer):
        return Precision.FP16
    for n in g.node:
        if n.op_type == "Cast" and any(a.name == "to" and a.i == f16 for a in n.attribute):
            return Precision.FP16
    return Precision.FP32


def set_metadata(proto: Any, meta: Mapping[str, str]) -> None:
    """Replace/insert ``metadata_props`` entries in an ``onnx.ModelProto``."""
    keep = [p for p in proto.metadata_props if p.key not in meta]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, str(v)


def load_fp32_onnx(path: str | os.PathLike[str]) -> tuple[Any, dict[str, str]]:
    """Load the FP32 export that INT8/FP16 conversion starts from: ``(ModelProto, metadata)``."""
    import onnx

    src = Path(path)
    if not src.is_file():
        raise ModelFormatError(f"FP32 ONNX not found: {src}; export it first with 'edgesr export onnx'")
    meta = read_metadata(src)
    if meta.get("edgesr.precision", "fp32") != "fp32":
        raise ModelFormatError(f"{src} is already {meta['edgesr.precision']}; convert the FP32 export instead")
    return onnx.load(str(src)), meta


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
