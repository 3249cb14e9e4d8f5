"""Training precision: one option (``TrainConfig.precision``, ``edgesr train --precision``).

* ``fp32`` (the default): plain float32, the numbers every existing run was trained with.
* ``bf16``: ``torch.autocast`` to bfloat16 for the forward pass (convolutions in bf16, losses and
  the fp32 master weights untouched); no loss scaling, bf16 has fp32's exponent range. On a CPU it
  pays only with native bf16 instructions (``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``);
  elsewhere oneDNN emulates it, slower than fp32 (allowed, with a warning).
* ``fp16``: CUDA only, with ``torch.amp.GradScaler`` (fp16 gradients underflow without loss
  scaling). On a CPU it is refused: there is no fast fp16 training path there, use bf16.
* ``auto``: bf16 where the hardware does bf16 natively (those CPU flags; a CUDA GPU for which
  ``torch.cuda.is_bf16_supported()``), else fp32. Not the default: whether bf16 holds the final
  PSNR of the recipe has not been measured yet, and an old run resumed without the setting must keep
  training in fp32. ``benchmarks/train_throughput.py`` measures what it buys in speed.

The CUDA paths follow the documented ``torch.autocast`` / ``torch.amp.GradScaler`` API and have
not been run on a GPU by this project yet. :class:`Amp` is what the training step composes.
"""
from __future__ import annotations

import contextlib
import logging
from enum import Enum
from typing import Any, ContextManager, TypeVar

import torch

from ..errors import ConfigError
from ..machine import CPU_FLAGS_OF_INTEREST  # noqa: F401  (beside describe_machine; still importable here)
from ..precision import cpu_flags, cpu_model_name  # the one /proc/cpuinfo reader (takes the text, for tests)

log = logging.getLogger(__name__)

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


class TrainPrecision(str, Enum):
    """Training precisions (the export/runtime precisions are :class:`edgesr.precision.Precision`)."""

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"

    @classmethod
    def parse(cls, value: "str | TrainPrecision") -> "TrainPrecision":
        if isinstance(value, TrainPrecision):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ConfigError(f"unknown training precision {value!r}; use one of auto, fp32, bf16, fp16") from None

    def __str__(self) -> str:
        return self.value


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    return bool(cpu_flags(cpuinfo) & set(CPU_BF16_FLAGS))


def resolve_precision(value: "str | TrainPrecision", device: torch.device, cpuinfo: str | None = None
                      ) -> TrainPrecision:
    """The precision a run on ``device`` uses (never ``AUTO``); an impossible one raises ConfigError."""
    p = TrainPrecision.parse(value)
    if device.type == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
        if p is TrainPrecision.AUTO:
            return TrainPrecision.BF16 if bf16_ok else TrainPrecision.FP32
        if p is TrainPrecision.BF16 and not bf16_ok:
            raise ConfigError("this GPU has no bf16 support; use --precision fp16 (with loss scaling) or fp32")
        return p
    native = cpu_has_bf16(cpuinfo)
    if p is TrainPrecision.FP16:
        raise ConfigError("fp16 training needs a CUDA GPU (loss scaling, fp16 kernels); on a CPU use "
                          f"--precision bf16 (fast with {' or '.join(CPU_BF16_FLAGS)}) or fp32")
    if p is TrainPrecision.AUTO:
        return TrainPrecision.BF16 if native else TrainPrecision.FP32
    if p is TrainPrecision.BF16 and not native:
        log.warning("this CPU has no %s: bf16 is emulated and usually slower than fp32", "/".join(CPU_BF16_FLAGS))
    return p


M = TypeVar("M", bound=torch.nn.Module)


def channels_last(module: M) -> M:
    """``module`` with its 4-D parameters and buffers in NHWC (``TrainConfig.channels_last``)."""
    return module.to(memory_format=torch.channels_last)  # type: ignore[call-overload,no-any-return]


class Amp:
    """Autocast and (fp16) loss scaling for one training step: ``with amp.autocast(): loss = ...``,
    then ``amp.backward_step(loss, opt)`` in place of ``loss.backward(); opt.step()``."""

    def __init__(self, precision: TrainPrecision, device: torch.device) -> None:
        if precision is TrainPrecision.AUTO:
            raise ConfigError("resolve 'auto' with resolve_precision() before building Amp")
        self.precision, self.device = precision, device
        self.dtype = {TrainPrecision.BF16: torch.bfloat16, TrainPrecision.FP16: torch.float16}.get(precision)
        self.scaler = torch.amp.GradScaler(device.type) if precision is TrainPrecision.FP16 else None

    def autocast(self) -> ContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            opt.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)  # skipped when the scaled gradients hold inf/nan
        self.scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


__all__ = ["TrainPrecision", "Amp", "resolve_precision", "channels_last", "cpu_flags", "cpu_has_bf16",
           "cpu_model_name"]
