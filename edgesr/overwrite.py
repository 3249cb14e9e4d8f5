"""Where edgesr may write: every output is checked before any model is loaded or frame is run.

One module for every writer, CLI and Python (``edgesr upscale``, ``upscale_video``, ``export onnx/trt``,
``export_onnx``, ``train --out``, ``compress -o``, ``adapt -o``, ``eval --json``, ``convert -o``):

* the **extension matches the kind of output** (an image -> ``.png``/``.jpg``/..., a video ->
  ``.mp4``/``.mkv``/..., a model -> ``.pt``, ``.onnx`` or ``.engine`` as fits the command, a report ->
  ``.json``);
* the **folder exists or can be made, and is writable** (probed by creating and removing a file in it,
  so read-only mounts, permissions and ACLs are all caught); a missing folder is created by the writer;
* an **existing output file** is refused unless ``overwrite`` (``--overwrite`` / ``overwrite=True``);
  a training run folder that holds a run (``last.pt`` / ``model.pt``) is refused unless ``--resume``
  (continue it: not an overwrite) or ``--overwrite`` (start over);
* an output **equal to the input file** (image or video) is refused unless ``overwrite``; with it
  the input is replaced only once the complete result is written (temp file + atomic rename), so a
  failure leaves the original untouched;
* a **folder written into itself** (``-o`` resolves to the input folder) is refused *even with*
  ``overwrite``: every result would replace the image it was computed from, and a failure half-way
  would leave a folder mixing originals and results, with no way to tell them apart;
* an output folder *inside* the input folder (``in/`` -> ``in/x2/``) is allowed: images are listed
  non-recursively before anything is written, so results are never read back as inputs.

Each refusal is one line naming the path and the fix. Imports nothing but the errors (both the
deployment and the training side use it).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import ConfigError

#: what ``edgesr upscale`` reads and writes as images (the same list as ``edgesr.data.IMAGE_EXTS``)
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: containers the video writer can produce (the keys of ``edgesr.video.writer.FORMATS``)
VIDEO_EXTS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".ts", ".webm")
#: kind -> (extensions, what it is in a message)
KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "image": (IMAGE_EXTS, "an image"),
    "video": (VIDEO_EXTS, "a video"),
    "pt": ((".pt",), "a PyTorch model"),
    "onnx": ((".onnx",), "an ONNX model"),
    "engine": ((".engine", ".plan", ".trt"), "a TensorRT engine"),
    "json": ((".json",), "a JSON report"),
}
#: files whose presence means a folder holds a training run (what ``--overwrite`` would lose)
RUN_FILES = ("model.pt", "last.pt")

PathLike = str | os.PathLike[str]


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def check_kind(dst: PathLike, kind: str, flag: str = "-o") -> None:
    """The extension of ``dst`` fits ``kind`` (a key of :data:`KINDS`), else one line naming the fix."""
    dst = Path(dst)
    exts, what = KINDS[kind]
    ext = dst.suffix.lower()
    if ext in exts:
        return
    other = next((w for k, (e, w) in KINDS.items() if ext in e), None)
    why = (f"{ext} is {other} extension" if other else f"{ext!r} is not {what} extension" if ext
           else "it has no extension")
    alts = f" (or {', '.join(exts[1:])})" if len(exts) > 1 else ""
    raise ConfigError(f"{flag} {dst}: the output is {what}, but {why}; use {exts[0]}{alts}, "
                      f"e.g. {flag} {dst.with_suffix(exts[0])}")


def check_writable(folder: PathLike, target: PathLike | None = None, flag: str = "-o") -> Path:
    """``folder`` exists and is writable, or can be created (its nearest existing parent is a writable
    folder). Probed by creating a file, so it holds for root, read-only mounts and ACLs alike."""
    folder = Path(folder)
    target = Path(target) if target is not None else folder
    p = folder
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise ConfigError(f"{flag} {target}: cannot create the folder {folder}, {p} is a file; choose another {flag}")
    try:
        fd, probe = tempfile.mkstemp(dir=p, prefix=".edgesr-write-check-")
    except OSError as e:
        why = (e.strerror or type(e).__name__).lower()
        raise ConfigError(f"{flag} {target}: cannot write in {p} ({why}); choose another {flag} or make {p} "
                          "writable") from None
    os.close(fd)
    os.unlink(probe)
    return folder


def check_output(dst: PathLike, kind: str | None = None, *, overwrite: bool = False, src: PathLike | None = None,
                 flag: str = "-o", how: str = "--overwrite") -> Path:
    """One output file: of the right ``kind``, not a folder, not ``src`` (the input file, if any) nor an
    existing file unless ``overwrite`` (``how`` names that option in the message), in a writable folder."""
    dst = Path(dst)
    if dst.is_dir():
        ext = KINDS[kind][0][0] if kind else ".mp4"
        raise ConfigError(f"{flag} {dst} is a folder; pass an output file path (e.g. {dst / ('out' + ext)})")
    if kind is not None:
        check_kind(dst, kind, flag)
    if not overwrite:
        if src is not None and _same(Path(src), dst):
            raise ConfigError(f"output {dst} is the input file; pass {how} to replace it (only once the result "
                              f"is complete) or choose another {flag}")
        if dst.exists():
            raise ConfigError(f"output {dst} already exists; pass {how} to replace it or choose another {flag}")
    check_writable(dst.parent, dst, flag)
    return dst


def check_output_file(src: PathLike | None, dst: PathLike, overwrite: bool, kind: str | None = None) -> None:
    """Refuse to replace ``src`` (the input file, if any) or an existing ``dst`` unless ``overwrite``."""
    check_output(dst, kind, overwrite=overwrite, src=src)


def check_run_folder(out: PathLike, *, resume: bool, overwrite: bool, flag: str = "--out") -> Path:
    """A training run folder: not a file, not named like a model file, writable; one that holds a run is
    refused unless ``resume`` (continue it) or ``overwrite`` (start over)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out} is a file; {flag} is a run folder (it will hold last.pt, model.pt, "
                          f"log.jsonl): pass a folder, e.g. {flag} {out.with_suffix('')}_run")
    if not out.exists() and any(out.suffix.lower() in KINDS[k][0] for k in ("pt", "onnx", "engine")):
        raise ConfigError(f"{flag} {out}: {flag} is a run folder (it will hold last.pt, model.pt, log.jsonl), "
                          f"not a model file; pass a folder, e.g. {flag} {out.with_suffix('')}")
    held = [f for f in RUN_FILES if (out / f).is_file()]
    if held and not resume and not overwrite:
        raise ConfigError(f"{flag} {out} already holds a run ({held[0]}); continue it with --resume, start over "
                          f"with --overwrite (resume=True / overwrite=True in Python), or choose another {flag}")
    return check_writable(out, out, flag)


def image_destinations(files: list[Path], output: PathLike, folder: bool, overwrite: bool) -> list[Path]:
    """Output path of each input image (``folder``: ``output/NAME``), after the checks above."""
    out = Path(output)
    if not folder:
        dst = out / files[0].name if out.is_dir() else out
        check_output(dst, "image", overwrite=overwrite, src=files[0])
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
    check_writable(out, out)
    return dsts
