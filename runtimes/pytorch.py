"""PyTorch backend: a ``.pt`` checkpoint (edgesr.save_model) or any ``nn.Module`` SR model.

On a CUDA GPU it runs in FP16 by default (precision= overrides), with pinned host buffers and
preallocated device tensors; the device always comes from ``torch.cuda.is_available()``, never
from a bare ``.cuda()``. :meth:`run_tensor` takes torch tensors already on the device (no host
round trip).
"""
from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from edgesr.errors import ConfigError, ModelFormatError
from edgesr.precision import Precision

from .base import Backend, Shape

log = logging.getLogger(__name__)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TorchBackend(Backend):
    name = "pytorch"

    def __init__(self, model: Any, *, device: str | None = None, precision: str | Precision | None = None) -> None:
        super().__init__()
        self._model_arg = model
        self._device_req = device
        self._precision_req = precision
        self.model: Any = None
        self._dev_bufs: dict[Shape, tuple[Any, Any, Any, Any]] = {}

    def _open(self) -> None:
        import torch

        m = self._model_arg
        if isinstance(m, (str, os.PathLike)):
            from edgesr.models import load_model

            m = load_model(m)  # raises ModelFormatError on missing/corrupt files
        if not isinstance(m, torch.nn.Module):
            raise ModelFormatError(f"PyTorch backend needs a .pt path or an nn.Module, got {type(m).__name__}")
        scale = getattr(m, "scale", None)
        if not isinstance(scale, int) or scale < 1:
            raise ModelFormatError(f"{type(m).__name__} has no integer .scale; give the model a .scale attribute "
                                   "(edgesr models have one)")
        dev = self._device_req or default_device()
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device={dev!r} but torch sees no CUDA GPU; use device='cpu' (or install a CUDA torch)")
        self.torch_device = torch.device(dev)
        self.device = str(self.torch_device)
        prec = Precision.parse(self._precision_req or ("fp16" if self.torch_device.type == "cuda" else "fp32"))
        if prec is Precision.INT8:
            raise ConfigError("the PyTorch backend runs fp32 or fp16; for int8 export a TensorRT engine")
        if prec is Precision.FP16 and self.torch_device.type == "cpu":
            raise ConfigError("fp16 on CPU is slow and inexact in PyTorch; use precision='fp32' on CPU")
        self.precision = prec
        self.torch_dtype = torch.float16 if prec is Precision.FP16 else torch.float32
        # Deploy a copy: never change the caller's module (device/dtype/train mode).
        import copy

        self.model = copy.deepcopy(m).eval().to(device=self.torch_device, dtype=self.torch_dtype)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.scale = scale
        self.model_name = getattr(m, "name", type(m).__name__)
        log.info("pytorch: %s x%d on %s (%s)", self.model_name, scale, self.device, prec)

    def _close(self) -> None:
        self._dev_bufs.clear()
        self.model = None

    def _allocate(self, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
        import torch

        if self.torch_device.type != "cuda":
            return super()._allocate(shape)
        # Pinned host buffers + device tensors: async copies and no allocation per frame.
        hin = torch.empty(shape, dtype=torch.float32, pin_memory=True)
        hout = torch.empty(self.out_shape(shape), dtype=torch.float32, pin_memory=True)
        din = torch.empty(shape, dtype=self.torch_dtype, device=self.torch_device)
        dout = torch.empty(self.out_shape(shape), dtype=self.torch_dtype, device=self.torch_device)
        self._dev_bufs[shape] = (hin, hout, din, dout)
        return hin.numpy(), hout.numpy()

    def _run(self, inp: np.ndarray, out: np.ndarray) -> None:
        import torch

        with torch.inference_mode():
            if self.torch_device.type != "cuda":
                y = self.model(torch.from_numpy(inp))
                np.copyto(out, y.numpy())
                return
            hin, hout, din, dout = self._dev_bufs[tuple(inp.shape)]  # type: ignore[index]
            din.copy_(hin, non_blocking=True)
            dout.copy_(self.model(din))
            hout.copy_(dout, non_blocking=True)
            torch.cuda.current_stream(self.torch_device).synchronize()

    def run_tensor(self, x: Any) -> Any:
        """(N, 3, H, W) float tensor -> output on the model's device, no host round trip if already there."""
        import torch

        if not self._opened:
            self.open()
        with torch.no_grad():  # not inference_mode: callers may modify the result in place
            y = self.model(x.to(device=self.torch_device, dtype=self.torch_dtype))
        return y
