"""The one backend interface every runtime implements (ONNX Runtime, TensorRT, PyTorch).

Why so small: ``Upscaler`` owns pre/post-processing and tiling, so a backend only has to run a
float NCHW RGB [0, 1] batch and return (N, 3, sH, sW). Buffers are reused per input shape:
``buffers(shape)`` hands out the backend's own host input/output arrays, so the caller writes
the frame straight into the input and reads the result without any per-frame allocation.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from edgesr.precision import Precision

log = logging.getLogger(__name__)

Shape = tuple[int, int, int, int]


class Backend(ABC):
    """open() -> run() ... -> close(); also a context manager.

    Contract of :meth:`run`: input (N, 3, H, W) contiguous array of :attr:`input_dtype` in RGB
    [0, 1]; returns (N, 3, H*scale, W*scale) float array that the backend may reuse on the
    next call (copy it if you keep it). Not thread-safe: one caller at a time (``Upscaler``
    holds a lock).
    """

    name: str = "backend"
    scale: int = 0
    precision: Precision = Precision.FP32
    device: str = "cpu"
    input_dtype: Any = np.float32
    #: (H, W) the backend accepts exactly (static-shape model/engine), else None.
    fixed_hw: tuple[int, int] | None = None
    #: (H, W) largest input (TensorRT profile max), else None (unbounded).
    max_hw: tuple[int, int] | None = None
    #: (H, W) smallest input (TensorRT profile min), else None.
    min_hw: tuple[int, int] | None = None
    #: largest batch (None = unbounded).
    max_batch: int | None = None
    model_name: str = ""

    def __init__(self) -> None:
        self._buffers: dict[Shape, tuple[np.ndarray, np.ndarray]] = {}
        self._opened = False

    # -- lifecycle -----------------------------------------------------------------------------
    def open(self) -> "Backend":
        if not self._opened:
            self._open()
            self._opened = True
        return self

    def close(self) -> None:
        if self._opened:
            self._buffers.clear()
            self._close()
            self._opened = False

    def __enter__(self) -> "Backend":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    # -- buffers -------------------------------------------------------------------------------
    def out_shape(self, shape: Shape) -> Shape:
        n, c, h, w = shape
        return (n, 3, h * self.scale, w * self.scale)

    #: most input shapes whose buffers are kept (least recently used dropped first; a folder of
    #: differently sized images must not grow memory without bound). None: keep all.
    max_shapes: int | None = 8

    def buffers(self, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
        """Host (input, output) arrays for this input shape, allocated once and reused."""
        buf = self._buffers.pop(shape, None)  # re-inserted below: most recently used last
        if buf is None:
            if self.max_shapes is not None and len(self._buffers) >= self.max_shapes:
                old = next(iter(self._buffers))
                del self._buffers[old]
                self._forget(old)
            buf = self._allocate(shape)
            log.debug("%s: allocated I/O buffers for %s", self.name, shape)
        self._buffers[shape] = buf
        return buf

    def _forget(self, shape: Shape) -> None:
        """Drop per-shape state kept beside the buffers (e.g. bindings) when a shape is evicted."""

    def _allocate(self, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(shape, self.input_dtype), np.zeros(self.out_shape(shape), self.input_dtype)

    # -- inference -----------------------------------------------------------------------------
    def run(self, x: np.ndarray) -> np.ndarray:
        """Run one batch; ``x`` may be (and ideally is) the input array from :meth:`buffers`."""
        if not self._opened:
            self.open()
        shape: Shape = tuple(x.shape)  # type: ignore[assignment]
        inp, out = self.buffers(shape)
        if x is not inp:
            np.copyto(inp, x, casting="unsafe")
        self._run(inp, out)
        return out

    @abstractmethod
    def _run(self, inp: np.ndarray, out: np.ndarray) -> None:
        """Fill ``out`` from ``inp`` (both from :meth:`buffers`)."""

    def run_tensor(self, x: Any) -> Any:
        """Run a torch tensor batch (N, 3, H, W) float; returns a tensor on ``x``'s device.

        Default: one host round trip. Backends that can read device memory override this.
        """
        import torch

        y = self.run(np.ascontiguousarray(x.detach().float().cpu().numpy()))
        return torch.from_numpy(y.copy()).to(device=x.device, dtype=x.dtype)

    def info(self) -> dict[str, Any]:
        return {"backend": self.name, "precision": str(self.precision), "scale": self.scale, "device": self.device,
                "model": self.model_name}
