"""Triton Inference Server model repository from an ONNX file or a TensorRT engine.

Layout written (what ``tritonserver --model-repository=OUT`` loads)::

    OUT/NAME/config.pbtxt
    OUT/NAME/1/model.onnx        (platform onnxruntime_onnx)   or
    OUT/NAME/1/model.plan        (platform tensorrt_plan; the engine's sidecar is kept as NAME/edgesr.engine.json)

Why dims are read from the model instead of assumed: Triton refuses a config that disagrees
with the model (a fixed-batch ONNX cannot take ``max_batch_size > 0``), so every mismatch is
raised here with the fix instead of surfacing as a server start-up error.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Mapping

from edgesr.errors import ConfigError, ModelFormatError

log = logging.getLogger(__name__)

__all__ = ["export_triton", "render_config"]

_ONNX_TYPES = {1: "TYPE_FP32", 10: "TYPE_FP16", 2: "TYPE_UINT8", 3: "TYPE_INT8"}
_ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def _dims(shape: Any) -> list[int]:
    """ONNX tensor shape -> Triton dims: symbolic or unknown dims become -1."""
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in shape.dim]


def _onnx_io(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise ModelFormatError(f"{path} is not a readable ONNX file ({type(e).__name__}); re-export it with "
                               "'edgesr export onnx'") from None
    inits = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(proto.graph.output) != 1:
        raise ModelFormatError(f"{path}: expected one input and one output, got {len(inputs)} and "
                               f"{len(proto.graph.output)}")
    if any(i.data_location == onnx.TensorProto.EXTERNAL for i in proto.graph.initializer):
        raise ModelFormatError(f"{path} keeps its weights in an external .data file; re-export it as one file "
                               "('edgesr export onnx' writes self-contained models)")

    def io(v: Any) -> dict[str, Any]:
        t = v.type.tensor_type
        if t.elem_type not in _ONNX_TYPES:
            raise ModelFormatError(f"{path}: tensor {v.name!r} has ONNX element type {t.elem_type}, which this "
                                   "exporter does not map to a Triton type")
        return {"name": v.name, "data_type": _ONNX_TYPES[t.elem_type], "dims": _dims(t.shape)}

    meta = {p.key: p.value for p in proto.metadata_props}
    return io(inputs[0]), io(proto.graph.output[0]), meta


def _engine_io(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], int | None]:
    """Engine I/O from its sidecar (no TensorRT needed); max batch from the profile when known."""
    from .trt import read_sidecar

    side = read_sidecar(path)
    profiles = side.get("profiles") or []
    max_batch = min((int(p["max"][0]) for p in profiles), default=None) if profiles else None
    fixed = profiles[0] if profiles and profiles[0]["min"] == profiles[0]["max"] else None
    dims = [-1, 3, -1, -1] if fixed is None else list(fixed["min"])
    scale = side.get("scale")
    out_dims = [-1, 3, -1, -1] if fixed is None or not scale else [dims[0], 3, dims[2] * scale, dims[3] * scale]
    inp = {"name": side.get("input", "input"), "data_type": "TYPE_FP32", "dims": dims}
    out = {"name": side.get("output", "output"), "data_type": "TYPE_FP32", "dims": out_dims}
    meta = {"edgesr.scale": str(scale)} if scale else {}
    meta["edgesr.precision"] = str(side.get("precision", ""))
    return inp, out, meta, max_batch


def _name_from(src: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", src.stem)
    return name.strip(".") or "edgesr"


def _fmt_dims(dims: list[int]) -> str:
    return "[ " + ", ".join(str(d) for d in dims) + " ]"


def render_config(name: str, platform: str, inp: Mapping[str, Any], out: Mapping[str, Any], *, max_batch_size: int,
                  instances: int, parameters: Mapping[str, str] | None = None, gpu: bool = False) -> str:
    """config.pbtxt text (protobuf text format of Triton's ModelConfig)."""
    lines = [f'name: "{name}"', f'platform: "{platform}"', f"max_batch_size: {max_batch_size}"]
    for key, t in (("input", inp), ("output", out)):
        lines += [f"{key} [", "  {", f'    name: "{t["name"]}"', f'    data_type: {t["data_type"]}',
                  f'    dims: {_fmt_dims(list(t["dims"]))}', "  }", "]"]
    if max_batch_size > 0:
        lines += ["dynamic_batching {", "  max_queue_delay_microseconds: 2000", "}"]
    lines += ["instance_group [", "  {", f"    count: {instances}"]
    if gpu:
        lines.append("    kind: KIND_GPU")
    lines += ["  }", "]"]
    for k, v in (parameters or {}).items():
        val = json.dumps(str(v))  # a valid protobuf text string literal for our ASCII metadata
        lines += ["parameters {", f'  key: "{k}"', f"  value: {{ string_value: {val} }}", "}"]
    return "\n".join(lines) + "\n"


def export_triton(src: str | os.PathLike[str], out_dir: str | os.PathLike[str], name: str | None = None,
                  max_batch_size: int = 8, instances: int = 1) -> Path:
    """Write a Triton model repository for ``src`` (.onnx or TensorRT engine) under ``out_dir``.

    Returns the model folder ``out_dir/name``. ``max_batch_size > 0`` needs a model whose first
    dim is dynamic (Triton batches on it, with dynamic batching on); ``0`` passes the model's own
    shape through. H and W are written as -1 when the model has them dynamic.
    """
    src = Path(src)
    if not src.is_file():
        raise ModelFormatError(f"{src} not found; pass an .onnx file or a TensorRT engine (.engine/.plan)")
    if max_batch_size < 0 or instances < 1:
        raise ConfigError(f"max_batch_size must be >= 0 and instances >= 1, got {max_batch_size} and {instances}")
    name = name or _name_from(src)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(f"Triton model name {name!r} may hold only letters, digits, '_', '.', '-'")
    suffix = src.suffix.lower()
    if suffix == ".onnx":
        platform, fname, gpu = "onnxruntime_onnx", "model.onnx", False
        inp, out, meta = _onnx_io(src)
        engine_max_batch = None
    elif suffix in _ENGINE_SUFFIXES:
        platform, fname, gpu = "tensorrt_plan", "model.plan", True
        inp, out, meta, engine_max_batch = _engine_io(src)
    else:
        raise ModelFormatError(f"cannot export {src.name} to Triton: use an .onnx file or a TensorRT engine")

    if max_batch_size > 0:
        if inp["dims"][0] != -1:
            raise ConfigError(f"{src.name} has a fixed batch of {inp['dims'][0]}; Triton batching needs a dynamic "
                              "batch dim: re-export with dynamic axes ('edgesr export onnx' does by default), or "
                              "pass max_batch_size=0")
        if engine_max_batch is not None and engine_max_batch < max_batch_size:
            raise ConfigError(f"{src.name}'s optimization profile allows batches up to {engine_max_batch}, below "
                              f"max_batch_size={max_batch_size}: rebuild the engine with a larger --max-shape batch "
                              f"or pass max_batch_size={engine_max_batch}")
        inp = {**inp, "dims": inp["dims"][1:]}  # Triton's dims exclude the batch dim
        out = {**out, "dims": out["dims"][1:]}
    params = {k: v for k, v in meta.items() if k in ("edgesr.scale", "edgesr.model", "edgesr.precision",
                                                    "edgesr.color", "edgesr.range", "edgesr.layout") and v}
    model_dir = Path(out_dir) / name
    version = model_dir / "1"
    version.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, version / fname)
    if platform == "tensorrt_plan":
        from .trt import sidecar_path

        side = sidecar_path(src)
        if side.is_file():
            shutil.copyfile(side, model_dir / "edgesr.engine.json")
    text = render_config(name, platform, inp, out, max_batch_size=max_batch_size, instances=instances,
                         parameters=params, gpu=gpu)
    (model_dir / "config.pbtxt").write_text(text)
    log.info("wrote Triton model %s (%s, max_batch_size %d) in %s", name, platform, max_batch_size, out_dir)
    return model_dir
