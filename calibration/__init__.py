"""Calibration: INT8 (Q/DQ ONNX, quality-guarded), FP16 conversion, legacy TensorRT calibrator.

Nothing here imports onnxruntime or tensorrt at module load (they are imported inside functions).
"""
from __future__ import annotations

from .dataset import CalibrationSet, as_calibration_set, common_size, frame_to_nchw, load_calibration, nchw_to_frame
from .fp16 import Fp16Report, to_fp16
from .guard import Quality, measure_quality
from .quantize import METHODS, QuantReport, quantize_onnx
from .trt import CalibrationFeeder, TRTCalibrator

__all__ = [
    "CalibrationSet", "as_calibration_set", "common_size", "frame_to_nchw", "load_calibration", "nchw_to_frame",
    "Fp16Report", "to_fp16", "Quality", "measure_quality", "METHODS", "QuantReport", "quantize_onnx",
    "CalibrationFeeder", "TRTCalibrator",
]
