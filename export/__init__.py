"""Export: PyTorch -> ONNX (simplified, verified) -> TensorRT engines. One small module per target.

Nothing here imports ONNX Runtime or TensorRT at import time: ``build_engine``/``check_engine``
import TensorRT when called (``edgesr.export.trt_compat`` holds every version difference).
"""
from __future__ import annotations

from .onnx import META_KEYS, export_onnx, graph_precision, read_metadata, set_metadata, simplify_onnx
from .parity import ParityError, ParityReport, check_parity
from .trt import build_engine, check_engine, read_sidecar

__all__ = ["export_onnx", "read_metadata", "set_metadata", "simplify_onnx", "graph_precision", "META_KEYS",
           "check_parity", "ParityReport", "ParityError", "build_engine", "check_engine", "read_sidecar"]
