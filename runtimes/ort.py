"""ONNX Runtime backend (the default, CPU everywhere; CUDA / TensorRT execution providers when present).

:func:`ort_session` is the one place an ``onnxruntime.InferenceSession`` is built (the backend, the
export parity check, the quantization guard, DRC's latency and the benchmarks all use it), so
threads, providers and graph optimization mean the same everywhere.

Why IOBinding: the input and output OrtValues wrap our own numpy buffers, bound once per shape,
so a frame is ``run_with_iobinding`` with no allocation and no output copy.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgesr.errors import ConfigError, MissingDependencyError, ModelFormatError
from edgesr.precision import Precision

from .base import Backend, Shape

log = logging.getLogger(__name__)

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def resolve_providers(providers: str | Sequence[Any] | None, device: str | None, available: Sequence[str]) -> list[Any]:
    """CPU by default; ``device='cuda'`` -> CUDA EP; ``'auto'`` -> TensorRT, CUDA, CPU as available."""
    if providers is None:
        if device is not None and device.startswith("cuda"):
            providers = [CUDA, CPU]
        else:
            return [CPU]
    if isinstance(providers, str):
        if providers == "auto":
            return [p for p in (TRT, CUDA, CPU) if p in available]
        providers = [providers]
    out = list(providers)
    missing = [p if isinstance(p, str) else p[0] for p in out]
    missing = [p for p in missing if p not in available]
    if missing:
        if CUDA in missing or TRT in missing:
            raise MissingDependencyError("onnxruntime-gpu", None,
                                         f"for execution provider(s) {', '.join(missing)} (available here: "
                                         f"{', '.join(available)}); or use providers='auto' / the default CPU")
        raise ConfigError(f"ONNX Runtime execution provider(s) {missing} not available; available: {list(available)}")
    return out


#: ``level=`` names -> ``onnxruntime.GraphOptimizationLevel`` members
LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
          "all": "ORT_ENABLE_ALL"}


def ort_session(model: str | os.PathLike[str] | bytes, *, threads: int | None = None,
                providers: str | Sequence[Any] | None = None, device: str | None = None,
                level: str | Any | None = None, log_severity: int | None = 3,
                options: dict[str, Any] | None = None, why: str = "to run .onnx models") -> Any:
    """An ``onnxruntime.InferenceSession`` of ``model`` (a path or the serialized bytes).

    ``threads``: intra-op threads (and one inter-op thread: sessions run sequentially); default ORT's.
    ``providers`` / ``device``: as :func:`resolve_providers` (CPU by default). ``level``: graph
    optimization, one of :data:`LEVELS` (``"all"`` is ORT's default) or a ``GraphOptimizationLevel``.
    ``log_severity``: ORT's own log level (3: errors only; ``None``: ORT's default). ``options``: further
    ``SessionOptions`` attributes (``enable_profiling``, ``optimized_model_filepath``, ...).
    ONNX Runtime is imported here, never at module import (``import edgesr`` must not load it).
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependencyError("onnxruntime", None, why) from None
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    if log_severity is not None:
        so.log_severity_level = int(log_severity)
    if level is not None:
        if isinstance(level, str):
            if level.lower() not in LEVELS:
                raise ConfigError(f"unknown graph optimization level {level!r}; use one of {', '.join(LEVELS)}")
            level = getattr(ort.GraphOptimizationLevel, LEVELS[level.lower()])
        so.graph_optimization_level = level
    for k, v in (options or {}).items():
        if not hasattr(so, k):
            raise ConfigError(f"onnxruntime.SessionOptions has no option {k!r}; see its documentation")
        setattr(so, k, v)
    chosen = resolve_providers(providers, device, ort.get_available_providers())
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), sess_options=so, providers=chosen)


class OrtBackend(Backend):
    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike[str], *, providers: str | Sequence[Any] | None = None,
                 device: str | None = None, threads: int | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self._providers_req = providers
        self._device_req = device
        self._threads = threads
        self.session: Any = None
        self._bindings: dict[Shape, tuple[Any, Any, Any]] = {}
        self.meta: dict[str, str] = {}
        self.bgr = False
        self.range255 = False

    def _open(self) -> None:
        try:
            import onnxruntime  # noqa: F401  (a missing ORT is a MissingDependencyError, before the file check)
        except ImportError:
            raise MissingDependencyError("onnxruntime", None, "to run .onnx models") from None
        if not self.path.is_file():
            raise ModelFormatError(f"ONNX model not found: {self.path}; pass an existing .onnx file")
        try:
            self.session = ort_session(self.path, threads=self._threads, providers=self._providers_req,
                                       device=self._device_req, log_severity=None)
        except (MissingDependencyError, ConfigError):
            raise
        except Exception as e:
            first = str(e).splitlines()[0][:200] if str(e) else ""
            raise ModelFormatError(f"{self.path} is not a loadable ONNX model ({type(e).__name__}: {first}); "
                                   "the file is corrupt or truncated: re-export it with 'edgesr export onnx'") from None
        s = self.session
        ins, outs = s.get_inputs(), s.get_outputs()
        if len(ins) != 1 or len(outs) < 1:
            raise ModelFormatError(f"{self.path}: expected one image input, got {len(ins)} inputs; "
                                   "export a single-input SR model")
        self._in_name, self._out_name = ins[0].name, outs[0].name
        self.input_dtype = _DTYPES.get(ins[0].type)
        if self.input_dtype is None:
            raise ModelFormatError(f"{self.path}: input type {ins[0].type} unsupported; export with float32/float16 input")
        shape = ins[0].shape
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise ModelFormatError(f"{self.path}: input shape {shape} is not (N, 3, H, W); export an NCHW RGB model")
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            self.fixed_hw = (shape[2], shape[3])
        if isinstance(shape[0], int):
            self.max_batch = shape[0]
        self.meta = dict(s.get_modelmeta().custom_metadata_map)
        if self.meta.get("edgesr.layout", "NCHW").upper() != "NCHW":
            raise ModelFormatError(f"{self.path}: layout {self.meta['edgesr.layout']} unsupported; export NCHW")
        self.bgr = self.meta.get("edgesr.color", "RGB").upper() == "BGR"
        self.range255 = self.meta.get("edgesr.range", "0-1") == "0-255"
        self.model_name = self.meta.get("edgesr.model", self.path.stem)
        self.precision = Precision.parse(self.meta.get("edgesr.precision",
                                                       "fp16" if self.input_dtype == np.float16 else "fp32"))
        self.scale = int(self.meta["edgesr.scale"]) if "edgesr.scale" in self.meta else self._probe_scale()
        used = s.get_providers()
        self.device = "cuda" if (CUDA in used or TRT in used) else "cpu"
        log.info("onnxruntime: %s scale x%d on %s", self.path.name, self.scale, used)

    def _probe_scale(self) -> int:
        """Models without edgesr metadata: run one small input and compare sizes."""
        h, w = self.fixed_hw or (16, 16)
        y = self.session.run(None, {self._in_name: np.zeros((self.max_batch or 1, 3, h, w), self.input_dtype)})[0]
        return int(y.shape[2] // h)

    def _close(self) -> None:
        self._bindings.clear()
        self.session = None

    def _run(self, inp: np.ndarray, out: np.ndarray) -> None:
        key: Shape = tuple(inp.shape)  # type: ignore[assignment]
        entry = self._bindings.get(key)
        if entry is None:
            import onnxruntime as ort

            b = self.session.io_binding()
            # OrtValues wrap (do not copy) the numpy buffers; keep them alive with the binding.
            vin = ort.OrtValue.ortvalue_from_numpy(inp)
            vout = ort.OrtValue.ortvalue_from_numpy(out)
            b.bind_ortvalue_input(self._in_name, vin)
            b.bind_ortvalue_output(self._out_name, vout)
            entry = self._bindings[key] = (b, vin, vout)
        self.session.run_with_iobinding(entry[0])

    def _allocate(self, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(shape, self.input_dtype), np.zeros(self.out_shape(shape), self._out_dtype())

    def _forget(self, shape: Shape) -> None:
        self._bindings.pop(shape, None)

    def _out_dtype(self) -> Any:
        return _DTYPES.get(self.session.get_outputs()[0].type, np.float32)

    def info(self) -> dict[str, Any]:
        d = super().info()
        d["providers"] = list(self.session.get_providers()) if self.session is not None else []
        return d
