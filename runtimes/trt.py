"""TensorRT backend: a serialized engine (``.engine`` / ``.plan``) plus its edgesr JSON sidecar.

Why it looks like this: every TensorRT version difference goes through
``edgesr.export.trt_compat`` (``execute_async_v3`` on >= 8.5, feature-detected), and every CUDA
call through ``memory.py`` (cuda-python or pycuda). Per input shape we allocate once: device
input/output buffers and pinned host arrays; a frame is then H2D, enqueue, D2H, one sync.
Before deserializing, ``edgesr.export.trt.check_engine`` compares the sidecar's GPU / TensorRT
version with this machine and raises EngineMismatchError with the rebuild command.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgesr.errors import ModelFormatError
from edgesr.precision import Precision

from .base import Backend, Shape

log = logging.getLogger(__name__)


class TrtBackend(Backend):
    name = "tensorrt"

    def __init__(self, path: str | os.PathLike[str], *, device: str | None = None, memory: str = "auto") -> None:
        super().__init__()
        self.path = Path(path)
        self._device_index = int(device.split(":")[1]) if device and ":" in device else 0
        self._memory_impl = memory
        self.mem: Any = None
        self._dev: dict[Shape, tuple[int, int]] = {}

    def _open(self) -> None:
        from edgesr.export import trt_compat as tc
        from edgesr.export.trt import check_engine

        tc.import_tensorrt()  # MissingDependencyError('tensorrt', 'trt') before anything else
        if not self.path.is_file():
            raise ModelFormatError(f"engine not found: {self.path}; build it with 'edgesr export trt MODEL.onnx'")
        side = check_engine(self.path)  # EngineMismatchError when built for another GPU / TensorRT
        from .memory import open_memory

        self.mem = open_memory(self._memory_impl, self._device_index)
        self._runtime, self.engine = tc.deserialize_engine(self.path)
        self.context = tc.create_context(self.engine)
        tensors = tc.io_tensors(self.engine)
        ins = [t for t in tensors if t.is_input]
        outs = [t for t in tensors if not t.is_input]
        if len(ins) != 1 or not outs:
            raise ModelFormatError(f"{self.path}: expected one image input and an output, got {[t.name for t in tensors]}")
        self._in, self._out = ins[0], outs[0]
        self.input_dtype = self._in.dtype.type
        mn, _, mx = tc.profile_shapes(self.engine, self._in.name)
        if -1 in self._in.shape:
            self.min_hw, self.max_hw, self.max_batch = (mn[2], mn[3]), (mx[2], mx[3]), mx[0]
        else:
            self.fixed_hw, self.max_batch = (self._in.shape[2], self._in.shape[3]), self._in.shape[0]
        self.scale = int(side.get("scale") or 0)
        if self.scale < 1:
            raise ModelFormatError(f"{self.path}: sidecar has no scale; rebuild with 'edgesr export trt'")
        self.precision = Precision.parse(side.get("precision", "fp32"))
        self.device = f"cuda:{self._device_index}"
        self.model_name = self.path.stem
        self._tc = tc
        log.info("tensorrt: %s x%d %s via %s memory", self.path.name, self.scale, self.precision, self.mem.impl)

    def _close(self) -> None:
        self._dev.clear()
        # drop the TensorRT objects (context before engine before runtime): they free device memory
        del self.context, self.engine, self._runtime
        if self.mem is not None:
            self.mem.close()
            self.mem = None

    # device buffers are freed only with the memory pool on close, so never evict (bounded anyway by
    # the engine profile: large frames are tiled to a few tile shapes)
    max_shapes = None

    def _allocate(self, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
        oshape = self.out_shape(shape)
        hin = self.mem.pinned(shape, self._in.dtype)
        hout = self.mem.pinned(oshape, self._out.dtype)
        self._dev[shape] = (self.mem.alloc(hin.nbytes), self.mem.alloc(hout.nbytes))
        return hin, hout

    def _run(self, inp: np.ndarray, out: np.ndarray) -> None:
        tc = self._tc
        din, dout = self._dev[tuple(inp.shape)]  # type: ignore[index]
        tc.set_input_shape(self.context, self._in.name, inp.shape)
        self.mem.h2d(din, inp)
        tc.execute_async(self.context, self.mem.stream, {self._in.name: din, self._out.name: dout})
        self.mem.d2h(out, dout)
        self.mem.sync()

    def run_tensor(self, x: Any) -> Any:
        """CUDA torch tensors are bound by pointer (no host round trip); others go through the host."""
        import torch

        if not x.is_cuda:
            return super().run_tensor(x)
        if not self._opened:
            self.open()
        tc = self._tc
        x = x.to(dtype=getattr(torch, str(self._in.dtype)) if str(self._in.dtype) in ("float16", "float32")
                 else torch.float32).contiguous()
        y = torch.empty(self.out_shape(tuple(x.shape)), dtype=x.dtype, device=x.device)
        tc.set_input_shape(self.context, self._in.name, tuple(x.shape))
        stream = torch.cuda.current_stream(x.device).cuda_stream
        tc.execute_async(self.context, stream, {self._in.name: x.data_ptr(), self._out.name: y.data_ptr()})
        torch.cuda.current_stream(x.device).synchronize()
        return y
