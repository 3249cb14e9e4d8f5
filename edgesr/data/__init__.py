"""Data: image I/O, training datasets, degradations and the MATLAB-compatible bicubic.

Holds ``datasets`` (image files in and out, ``SRDataset`` training pairs, benchmark pairs),
``degrade`` (blur / noise / JPEG / H.264 degradation configs for degradation-aware training) and
``bicubic`` (``imresize``, MATLAB's antialiased bicubic, the protocol every published SR figure uses).
May import: ``edgesr.errors``, ``edgesr.config``, ``edgesr.fileio`` and third-party libraries; nothing
above it (models, training, runtime, cli). The deployment side reads images through here too.
"""
from __future__ import annotations

from .bicubic import imresize, resize_matrix
from .datasets import (IMAGE_EXTS, SRDataset, benchmark_pairs, level_key, level_targets, list_images, modcrop,
                       read_rgb, to_tensor, to_uint8, write_image)

__all__ = ["IMAGE_EXTS", "SRDataset", "benchmark_pairs", "imresize", "level_key", "level_targets", "list_images",
           "modcrop", "read_rgb", "resize_matrix", "to_tensor", "to_uint8", "write_image"]
