"""Export: PyTorch -> ONNX (simplified, verified) -> TensorRT engines. One small module per target."""
from __future__ import annotations

from .onnx import META_KEYS, export_onnx, read_metadata

__all__ = ["export_onnx", "read_metadata", "META_KEYS"]
