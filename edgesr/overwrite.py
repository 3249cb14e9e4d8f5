"""Where ``edgesr upscale`` may write: checked before any model is loaded or frame is run.

The rules are the same for images, folders and videos (and live recordings):

* an **existing output file** is refused unless ``overwrite`` (``--overwrite``);
* an output **equal to the input file** (image or video) is refused unless ``overwrite``; with it
  the input is replaced only once the complete result is written (temp file + atomic rename), so a
  failure leaves the original untouched;
* a **folder written into itself** (``-o`` resolves to the input folder) is refused *even with*
  ``overwrite``: every result would replace the image it was computed from, and a failure half-way
  would leave a folder mixing originals and results, with no way to tell them apart;
* an output folder *inside* the input folder (``in/`` -> ``in/x2/``) is allowed: images are listed
  non-recursively before anything is written, so results are never read back as inputs.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def check_output_file(src: str | os.PathLike[str] | None, dst: str | os.PathLike[str], overwrite: bool) -> None:
    """Refuse to replace ``src`` (the input file, if any) or an existing ``dst`` unless ``overwrite``."""
    dst = Path(dst)
    if dst.is_dir():
        raise ConfigError(f"-o {dst} is a folder; pass an output file path (e.g. {dst / 'out.mp4'})")
    if overwrite:
        return
    if src is not None and _same(Path(src), dst):
        raise ConfigError(f"output {dst} is the input file; pass --overwrite to replace it (only once the result "
                          "is complete) or choose another -o")
    if dst.exists():
        raise ConfigError(f"output {dst} already exists; pass --overwrite to replace it or choose another -o")


def image_destinations(files: list[Path], output: str | os.PathLike[str], folder: bool,
                       overwrite: bool) -> list[Path]:
    """Output path of each input image (``folder``: ``output/NAME``), after the checks above."""
    out = Path(output)
    if not folder:
        dst = out / files[0].name if out.is_dir() else out
        check_output_file(files[0], dst, overwrite)
        return [dst]
    if out.exists() and not out.is_dir():
        raise ConfigError(f"-o {out} is a file, but the input is a folder; pass an output folder")
    if files and _same(files[0].parent, out):
        raise ConfigError(f"output folder {out} is the input folder: results would replace their own inputs "
                          "(refused even with --overwrite); choose another -o folder, e.g. a subfolder")
    dsts = [out / f.name for f in files]
    taken = [d for d in dsts if d.exists()]
    if taken and not overwrite:
        raise ConfigError(f"{len(taken)} of {len(dsts)} outputs already exist in {out} (e.g. {taken[0].name}); "
                          "pass --overwrite to replace them or choose another -o folder")
    return dsts
