"""The default memory budget: how many input pixels one model call may take before a frame is tiled.

Why: untiled, an 8000x8000 frame through edge_tiny x2 peaked at 18.2 GB of a 24 GB machine. The
model's activations grow with the pixels of each call, so :class:`~edgesr.upscaler.Upscaler`
caps them: ``max_pixels = budget // bytes_per_pixel`` and larger frames run as seamless tiles.

* **budget**: 25% of the memory available now (``MemAvailable`` in ``/proc/meminfo``, else
  ``os.sysconf``; 4 GiB assumed when neither says); for the PyTorch backend on a GPU also at most
  50% of the GPU's free memory. A TensorRT engine's device memory is already bounded by its
  profile (frames above the profile's max are tiled), so there only the host I/O buffers count.
* **bytes per input pixel** (float32): the backend's input and output buffers
  (``3 + 3*s*s`` values) plus ``LIVE_TENSORS`` live activations of the widest feature map ``C``
  plus the pre-shuffle map ``3*s*s``: ``4 * (3 + 3s² + 4 * (C + 3s²))``. ``C`` comes from the
  model's metadata (``edgesr.arch``) or its widest conv; a model whose body runs at the output
  resolution (DRN, or any model we cannot inspect) counts ``C * s²``. Measured with ONNX Runtime on
  CPU, this is 1.25x to 1.5x the real peak for the bundled models (edge_nano/tiny/base, x2 and x4).

The budget is a bound, not the tile size: on a CPU backend :func:`edgesr.tiling.default_tile` runs large
frames as tiles of about 1024 (measured faster and smaller than the largest tiles the budget allows,
``benchmarks/results/tile_sweep.json``) and uses the budget only to go smaller where 1024² does not fit.

What is *not* in the budget: the full-frame buffers every run needs whatever the tiling (the
result, and when tiled a float32 copy of the input and an accumulator for the output,
``12 + 12 s²`` bytes per input pixel).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

HOST_FRACTION = 0.25
GPU_FRACTION = 0.5
LIVE_TENSORS = 4
UNKNOWN_RAM = 4 << 30
UNKNOWN_CHANNELS = 64
LR_SPACE_FAMILIES = ("edge",)  # bodies that run at the input resolution


def available_ram() -> int | None:
    """Bytes of memory available to a new allocation now, or None if the OS does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def free_gpu_memory(device: str) -> int | None:
    """Free bytes on a CUDA device (through torch), or None if it is not a CUDA device."""
    if not str(device).startswith("cuda"):
        return None
    try:
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    except Exception as e:  # no driver, another process holds the GPU: fall back to the host budget
        log.debug("cannot read free GPU memory on %s: %s", device, e)
        return None


def model_width(backend: Any) -> tuple[int, bool]:
    """(widest feature map C, whether the body runs at the input resolution) of a backend's model."""
    arch = (getattr(backend, "meta", None) or {}).get("edgesr.arch")
    if arch:
        try:
            a = json.loads(arch)
            cfg = a.get("config", {})
            widths = [cfg.get("n_feats") or 0] + list(cfg.get("channels") or [])
            return max(int(w) for w in widths) or UNKNOWN_CHANNELS, a.get("family") in LR_SPACE_FAMILIES
        except (ValueError, TypeError, AttributeError):
            log.debug("unreadable edgesr.arch metadata: %r", arch)
    model = getattr(backend, "model", None)
    if model is not None and hasattr(model, "modules"):
        convs = [m.out_channels for m in model.modules() if hasattr(m, "out_channels") and hasattr(m, "kernel_size")]
        if convs:
            return max(convs), getattr(model, "family", None) in LR_SPACE_FAMILIES
    return UNKNOWN_CHANNELS, False


def bytes_per_pixel(width: int, scale: int, lr_space: bool, activations: bool = True) -> int:
    """Memory one input pixel costs in one model call (see the module docstring)."""
    s2 = scale * scale
    io = 3 + 3 * s2
    c = width if lr_space else width * s2
    return 4 * (io + (LIVE_TENSORS * (c + 3 * s2) if activations else 0))


def default_max_pixels(backend: Any) -> tuple[int, str]:
    """(max input pixels per model call, how it was derived) for this backend on this machine."""
    s = int(backend.scale)
    width, lr_space = model_width(backend)
    ram = available_ram()
    host = int((ram if ram is not None else UNKNOWN_RAM) * HOST_FRACTION)
    name = getattr(backend, "name", "")
    gpu = free_gpu_memory(getattr(backend, "device", "cpu")) if name == "pytorch" else None
    if name == "tensorrt" or gpu is not None:  # activations live on the device
        limit = host // bytes_per_pixel(width, s, lr_space, activations=False)
        why = f"{host >> 20} MiB host ({HOST_FRACTION:.0%} of available) for I/O buffers"
        if gpu is not None:
            dev = int(gpu * GPU_FRACTION)
            limit = min(limit, dev // bytes_per_pixel(width, s, lr_space))
            why += f", {dev >> 20} MiB GPU ({GPU_FRACTION:.0%} of free)"
    else:
        per = bytes_per_pixel(width, s, lr_space)
        limit = host // per
        why = f"{host >> 20} MiB ({HOST_FRACTION:.0%} of available RAM) / {per} B per pixel (C={width}, x{s})"
    return max(int(limit), 64 * 64), why
