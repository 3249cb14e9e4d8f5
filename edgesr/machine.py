"""The one description of the machine a measurement ran on (``edgesr bench``, the benchmark scripts).

CPU model and flags come from :mod:`edgesr.precision`, the one ``/proc/cpuinfo`` reader. Library
versions are reported only for libraries already imported or installed; nothing heavy is imported here
(torch and ONNX Runtime versions come from ``sys.modules`` or the installed package's metadata), so
the deployment side may call it.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import sys
from typing import Any

from .precision import cpu_flags, cpu_model_name, read_cpuinfo

#: CPU flags worth recording next to a number: vector width, bf16 and int8 dot-product instructions
CPU_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_tile",
                         "amx_int8", "asimddp")

_LIBS = {"torch": ("torch",), "onnxruntime": ("onnxruntime", "onnxruntime-gpu")}


def _version(module: str, dists: tuple[str, ...]) -> str | None:
    mod = sys.modules.get(module)
    if mod is not None and getattr(mod, "__version__", None):
        return str(mod.__version__)
    for d in dists:
        try:
            return importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def describe_machine(threads: int | None = None, device: str | None = None,
                     cpuinfo: str | None = None) -> dict[str, Any]:
    """What a result needs to be compared: CPU model, flags of interest (present or not), cores, the
    threads the measurement used, torch / onnxruntime versions (where installed), python, platform,
    the 1-minute load, the GPU when torch is loaded and sees one, and the date (UTC, ISO 8601).

    ``cpuinfo``: ``/proc/cpuinfo`` text (for tests); default this machine's.
    """
    from . import __version__

    text = read_cpuinfo() if cpuinfo is None else cpuinfo
    cpu = cpu_model_name(text)
    if cpu == "unknown":
        cpu = platform.processor() or platform.machine() or "unknown"
    flags = cpu_flags(text)
    info: dict[str, Any] = {
        "cpu": cpu, "flags": {f: f in flags for f in CPU_FLAGS_OF_INTEREST}, "cpu_count": os.cpu_count(),
        "threads": threads, "python": platform.python_version(), "platform": platform.platform(),
        "edgesr": __version__, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    for name, dists in _LIBS.items():
        v = _version(name, dists)
        if v is not None:
            info[name] = v
    try:
        info["loadavg_1m"] = os.getloadavg()[0]
    except (OSError, AttributeError):  # not on every platform
        pass
    if device is not None:
        info["device"] = str(device)
    torch = sys.modules.get("torch")
    if torch is not None and (device is None or str(device).startswith("cuda")):
        try:
            if torch.cuda.is_available():
                info["gpu"] = torch.cuda.get_device_name(0)
                info["cuda"] = torch.version.cuda
        except Exception:  # a broken CUDA install must not break a description
            pass
    return info


__all__ = ["CPU_FLAGS_OF_INTEREST", "describe_machine"]
