"""Legacy implicit-INT8 calibrator for TensorRT <= 10 (TensorRT 11 removed implicit calibration).

Why split in two: TensorRT cannot run on CI machines, so everything except the TensorRT base
class lives in ``CalibrationFeeder`` (fixed-size batches, host -> device copy through a
pluggable allocator, a calibration cache that is ignored when the model or data changed), which
tests exercise directly. ``TRTCalibrator`` then subclasses ``IInt8EntropyCalibrator2`` or
``IInt8MinMaxCalibrator`` at call time, importing tensorrt lazily.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from edgesr.errors import ConfigError, MissingDependencyError
from edgesr.fileio import atomic_write_bytes, atomic_write_text

from .dataset import CalibrationSet, as_calibration_set, common_size, stack_batches

if TYPE_CHECKING:
    import tensorrt as trt

log = logging.getLogger(__name__)

DeviceCopy = Callable[[np.ndarray], int]  # host array -> device pointer, valid until the next call


class TorchCudaCopy:
    """Default device copy: a torch CUDA tensor per input, reused across batches."""

    def __init__(self) -> None:
        self._bufs: dict[int, Any] = {}

    def __call__(self, a: np.ndarray) -> int:
        import torch

        if not torch.cuda.is_available():
            raise MissingDependencyError("a CUDA build of torch", why="to copy calibration batches to the GPU")
        key = a.size
        buf = self._bufs.get(key)
        if buf is None:
            buf = self._bufs[key] = torch.empty(a.shape, dtype=torch.float32, device="cuda")
        buf.view(a.shape).copy_(torch.from_numpy(a))
        return int(buf.data_ptr())


class CalibrationFeeder:
    """Everything a TensorRT calibrator does, minus TensorRT."""

    def __init__(self, data: Any, cache_file: str | os.PathLike[str], *, batch_size: int = 1,
                 input_name: str | None = None, model_hash: str = "", device_copy: DeviceCopy | None = None,
                 **data_kwargs: Any) -> None:
        self.data: CalibrationSet = common_size(as_calibration_set(data, input_name, **data_kwargs))
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.cache_file = Path(cache_file)
        self.key = hashlib.sha256((model_hash + self.data.digest() + str(self.batch_size)).encode()).hexdigest()
        self.device_copy: DeviceCopy = device_copy or TorchCudaCopy()
        self._batches: Iterator[dict[str, np.ndarray]] = stack_batches(self.data, self.batch_size)
        self._host: list[np.ndarray] = []  # keeps the current batch alive while TensorRT reads it
        self.batches_served = 0

    def get_batch(self, names: list[str]) -> list[int] | None:
        """Device pointers for the next batch in ``names`` order; None when the data is exhausted."""
        batch = next(self._batches, None)
        if batch is None:
            return None
        if len(batch) == 1 and len(names) == 1 and names[0] not in batch:
            batch = {names[0]: next(iter(batch.values()))}  # single-input network: names may differ
        missing = [n for n in names if n not in batch]
        if missing:
            raise ConfigError(f"TensorRT asks for inputs {missing} but the calibration data has {sorted(batch)}; "
                              "pass input_name= matching the network input")
        self._host = [np.ascontiguousarray(batch[n], dtype=np.float32) for n in names]
        self.batches_served += 1
        return [self.device_copy(a) for a in self._host]

    @property
    def _sidecar(self) -> Path:
        return self.cache_file.with_name(self.cache_file.name + ".json")

    def read_cache(self) -> bytes | None:
        """The cache bytes if they were made from this model + data; otherwise None (recalibrate)."""
        if not self.cache_file.is_file():
            return None
        try:
            key = json.loads(self._sidecar.read_text()).get("key")
        except (OSError, ValueError):
            key = None
        if key != self.key:
            log.warning("ignoring calibration cache %s: it was made from another model or calibration data",
                        self.cache_file)
            return None
        log.info("using calibration cache %s", self.cache_file)
        return self.cache_file.read_bytes()

    def write_cache(self, cache: bytes | memoryview) -> None:
        atomic_write_bytes(self.cache_file, bytes(cache))
        atomic_write_text(self._sidecar, json.dumps({"key": self.key, "frames": len(self.data), "batch": self.batch_size}))


def tensorrt_available() -> bool:
    """True only for a real TensorRT: tensorrt-stubs installs an empty ``tensorrt`` namespace package."""
    try:
        import tensorrt as trt
    except ImportError:
        return False
    return hasattr(trt, "Builder")


def _make_calibrator(feeder: CalibrationFeeder, algorithm: str) -> "trt.IInt8Calibrator":
    if not tensorrt_available():
        raise MissingDependencyError("tensorrt", "trt", "for implicit INT8 calibration (TensorRT <= 10)")
    import tensorrt as trt

    if not hasattr(trt, "IInt8EntropyCalibrator2"):
        raise ConfigError(f"TensorRT {getattr(trt, '__version__', '?')} has no implicit INT8 calibration; use the Q/DQ ONNX from "
                          "edgesr.calibration.quantize_onnx instead")

    base = trt.IInt8EntropyCalibrator2 if algorithm == "entropy" else trt.IInt8MinMaxCalibrator

    class Calibrator(base):  # type: ignore[misc, valid-type]  # base chosen at run time
        """TensorRT pulls batches through these four callbacks; the feeder does the work."""

        def __init__(self) -> None:
            base.__init__(self)
            self.feeder = feeder

        def get_batch_size(self) -> int:
            return feeder.batch_size

        def get_batch(self, names: list[str]) -> list[int]:
            return feeder.get_batch(names) or []  # [] ends calibration

        def read_calibration_cache(self) -> bytes | None:
            return feeder.read_cache()

        def write_calibration_cache(self, cache: memoryview) -> None:
            feeder.write_cache(cache)

    return Calibrator()


def TRTCalibrator(data: Any, cache_file: str | os.PathLike[str] = "calibration.cache", *,  # noqa: N802
                  algorithm: str = "entropy", batch_size: int = 1, input_name: str | None = None,
                  model_hash: str = "", device_copy: DeviceCopy | None = None,
                  **data_kwargs: Any) -> "trt.IInt8Calibrator":
    """A TensorRT (<= 10) INT8 calibrator: ``config.int8_calibrator = TRTCalibrator(data, cache_file=...)``.

    ``algorithm``: "entropy" (IInt8EntropyCalibrator2) or "minmax" (IInt8MinMaxCalibrator).
    ``model_hash`` (e.g. the ONNX file's SHA-256) keys the cache together with the data hash.
    """
    if algorithm not in ("entropy", "minmax"):
        raise ConfigError(f"algorithm must be 'entropy' or 'minmax', got {algorithm!r}")
    feeder = CalibrationFeeder(data, cache_file, batch_size=batch_size, input_name=input_name,
                               model_hash=model_hash, device_copy=device_copy, **data_kwargs)
    return _make_calibrator(feeder, algorithm)
