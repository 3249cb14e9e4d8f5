"""Precision is one enum (fp32 / fp16 / int8), never two booleans."""
from __future__ import annotations

from enum import Enum

from .errors import ConfigError


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"

    @classmethod
    def parse(cls, value: "str | Precision") -> "Precision":
        if isinstance(value, Precision):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ConfigError(f"unknown precision {value!r}; use one of fp32, fp16, int8") from None

    def __str__(self) -> str:
        return self.value


#: CPU flags whose integer dot-product instructions make ONNX Runtime's U8S8 convs beat FP32
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")


def read_cpuinfo() -> str:
    """``/proc/cpuinfo`` as text; empty where there is none (not Linux). The one place that reads it."""
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """CPU feature flags from ``/proc/cpuinfo`` text (x86 ``flags``, ARM ``Features``); empty if unknown."""
    for line in (read_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_model_name(cpuinfo: str | None = None) -> str:
    """The ``model name`` line of ``/proc/cpuinfo`` ("unknown" where there is none)."""
    for line in (read_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return "unknown"


def expected_cpu_precision(cpuinfo: str | None = None) -> tuple[Precision, str]:
    """The precision expected to run fastest on this CPU through ONNX Runtime, and why.

    An expectation from the CPU's flags and our measurements, not a measurement: ``edgesr bench``
    times both on the machine at hand. Measured (edge_tiny_x2, 360p, ORT CPU time, one run each):
    AVX-512 VNNI EPYC INT8 1.6x FP32 (1 thread), 2.0x (2 threads); AVX2-only EPYC 0.64-0.93x.
    """
    flags = cpu_flags(cpuinfo)
    dot = sorted(f for f in INT8_DOT_FLAGS if f in flags)
    if dot:
        return Precision.INT8, f"CPU has {', '.join(dot)}: INT8 Q/DQ models are expected to beat FP32 (measure: edgesr bench)"
    if not flags:
        return Precision.FP32, "CPU flags unknown: FP32 (measure INT8 with edgesr bench)"
    return Precision.FP32, "no integer dot-product instructions (VNNI/DOTPROD): INT8 ran slower than FP32 on such CPUs"
