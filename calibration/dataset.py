"""Calibration data: frames preprocessed exactly as the runtime does (RGB float32 [0, 1], NCHW).

Why one class: the ORT quantizer, the quality guard, the FP16 overflow check and the legacy
TensorRT calibrator all consume the same thing, ``{input_name: (1, 3, H, W) float32}`` items.
Sources are a folder of images, a video file (decoded by PyAV through
:func:`edgesr.video.frames.sample_video_frames`, the sampler ``edgesr adapt`` uses), a camera
(``cv2.VideoCapture`` index) or any iterable of such dicts. Selection is deterministic (evenly
spaced, :func:`edgesr.video.frames.evenly_spaced`), and decoded folders/videos
are cached as ``.npz`` keyed by the data hash plus the preprocessing parameters, so the same data
is never decoded twice.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from edgesr.errors import DataError
from edgesr.fileio import atomic_path
from edgesr.video.frames import evenly_spaced  # the one "evenly spaced" rule (video frames, image folders)

log = logging.getLogger(__name__)

VIDEO_EXTS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".ts", ".mpg", ".mpeg", ".y4m")
CACHE_VERSION = 2  # 2: video frames decoded by PyAV (edgesr.video.frames), no longer cv2.VideoCapture
MIN_SIDE = 8  # smaller frames carry no usable activation statistics for 3x3 conv stacks
COMMON_MAX_SIDE = 256  # mixed-size frames are centre-cropped to at most this (enough context for SR convs)


def default_cache_dir() -> Path:
    """``$EDGESR_CACHE/calibration`` or ``~/.cache/edgesr/calibration``."""
    root = os.environ.get("EDGESR_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "edgesr") / "calibration"


def frame_to_nchw(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 HxWx3 -> float32 (1, 3, H, W) in [0, 1]: the runtime's preprocessing."""
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)


def nchw_to_frame(x: np.ndarray) -> np.ndarray:
    """float (1, 3, H, W) in [0, 1] -> RGB uint8 HxWx3 (rounded, clipped): the runtime's postprocessing."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float32)[0].transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)


@dataclass
class CalibrationSet:
    """An ordered, in-memory calibration set; iterating yields ``{input_name: array}``.

    ``references`` holds an HR uint8 image per frame where one exists (``hr_scale`` loading),
    so the quality guard can report PSNR against ground truth.
    """

    frames: list[np.ndarray]
    input_name: str = "input"
    references: list[np.ndarray | None] = field(default_factory=list)
    source: str = "<iterable>"
    from_cache: bool = False

    def __post_init__(self) -> None:
        if not self.references:
            self.references = [None] * len(self.frames)
        if len(self.references) != len(self.frames):
            raise DataError("CalibrationSet: references and frames differ in length; pass one reference per frame")

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for f in self.frames:
            yield {self.input_name: f}

    def renamed(self, input_name: str) -> "CalibrationSet":
        return CalibrationSet(self.frames, input_name, self.references, self.source, self.from_cache)

    def digest(self) -> str:
        """SHA-256 of the preprocessed arrays (shape + bytes): the data half of every cache key."""
        h = hashlib.sha256()
        for f in self.frames:
            h.update(repr((f.shape, str(f.dtype))).encode())
            h.update(np.ascontiguousarray(f).tobytes())
        return h.hexdigest()

    def split(self, holdout: float | int = 0.25) -> tuple["CalibrationSet", "CalibrationSet"]:
        """Deterministic (calibrate, held-out) split: every k-th frame is held out.

        With a single frame both halves are that frame (logged): a guard on the calibration
        frame itself is weaker, but better than none.
        """
        n = len(self.frames)
        k = int(round(holdout * n)) if isinstance(holdout, float) else int(holdout)
        k = max(1, min(k, n - 1)) if n > 1 else 0
        if k == 0:
            log.warning("only %d calibration frame(s): the quality guard measures on the calibration data itself", n)
            return self, self
        held = set(np.linspace(0, n - 1, k + 2)[1:-1].round().astype(int).tolist()) if k < n - 1 else set(range(1, n))
        cal = [i for i in range(n) if i not in held]
        pick = lambda idx: CalibrationSet([self.frames[i] for i in idx], self.input_name,  # noqa: E731
                                          [self.references[i] for i in idx], self.source, self.from_cache)
        return pick(cal), pick(sorted(held))


def _check_frame(x: Any, where: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[1] != 3:
        raise DataError(f"calibration item {where} has shape {a.shape}; expected NCHW float32 (N, 3, H, W) in [0, 1] "
                        "(use edgesr.calibration.frame_to_nchw on RGB uint8 frames)")
    if a.dtype == np.uint8:
        raise DataError(f"calibration item {where} is uint8; the runtime feeds float32 in [0, 1]: "
                        "convert with edgesr.calibration.frame_to_nchw")
    if min(a.shape[2:]) < MIN_SIDE:
        raise DataError(f"calibration item {where} is {a.shape[3]}x{a.shape[2]} px; frames must be at least "
                        f"{MIN_SIDE}x{MIN_SIDE}: use larger frames or a larger crop")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        raise DataError(f"calibration item {where} contains NaN/inf; check the data source")
    if a.max() > 1.5 or a.min() < -0.5:
        raise DataError(f"calibration item {where} has values in [{a.min():.3g}, {a.max():.3g}]; the runtime feeds "
                        "RGB in [0, 1]: divide 0-255 data by 255")
    return a


def common_size(data: CalibrationSet, size: tuple[int, int] | None = None,
                max_side: int = COMMON_MAX_SIDE) -> CalibrationSet:
    """Centre-crop every frame (and its HR reference) to one size.

    Why: ONNX Runtime's histogram calibrators (entropy, percentile) stack activations across frames
    and fail on mixed sizes, and TensorRT batches need one shape. ``size`` (H, W) is what the user
    asked for (``--calib-size``); without it, frames that already share a size are kept as they are
    and mixed sizes are cropped to the smallest height and width, at most ``max_side`` (logged).
    """
    shapes = {f.shape[2:] for f in data.frames}
    if size is None:
        if len(shapes) <= 1:
            return data
        size = (min(min(h for h, _ in shapes), max_side), min(min(w for _, w in shapes), max_side))
        log.info("calibration frames have %d different sizes; centre-cropped to %dx%d (choose with --calib-size)",
                 len(shapes), size[1], size[0])
    th, tw = size
    frames: list[np.ndarray] = []
    refs: list[np.ndarray | None] = []
    for i, (f, r) in enumerate(zip(data.frames, data.references)):
        h, w = f.shape[2:]
        if h < th or w < tw:
            raise DataError(f"calibration frame {i} is {w}x{h} px, smaller than the calibration size {tw}x{th}; "
                            "pass a smaller --calib-size or remove the small images")
        y, x = (h - th) // 2, (w - tw) // 2
        frames.append(np.ascontiguousarray(f[:, :, y:y + th, x:x + tw]))
        if r is not None:
            s = r.shape[0] // h
            r = np.ascontiguousarray(r[y * s:(y + th) * s, x * s:(x + tw) * s])
        refs.append(r)
    return CalibrationSet(frames, data.input_name, refs, data.source, data.from_cache)


def as_calibration_set(data: Any, input_name: str | None = None, **load_kwargs: Any) -> CalibrationSet:
    """Anything accepted as calibration data -> a validated ``CalibrationSet``.

    ``data``: a ``CalibrationSet``; a folder / image / video path or camera index (see
    ``load_calibration``); or any iterable of ``{input_name: array}`` (conventions, rule 10).
    """
    if isinstance(data, CalibrationSet):
        return data.renamed(input_name) if input_name and input_name != data.input_name else data
    if isinstance(data, (str, os.PathLike, int)):
        return load_calibration(data, input_name=input_name or "input", **load_kwargs)
    if load_kwargs:
        raise DataError(f"{sorted(load_kwargs)} apply to folders/videos/cameras only; preprocess the iterable yourself")
    frames: list[np.ndarray] = []
    name = input_name
    try:
        items = iter(data)
    except TypeError:
        raise DataError(f"calibration data of type {type(data).__name__} is not iterable; pass a folder, video, "
                        "camera index or an iterable of {input_name: array}") from None
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise DataError(f"calibration item {i} is a {type(item).__name__}, not a dict; yield {{input_name: array}}")
        if name is None:
            if len(item) != 1:
                raise DataError(f"calibration item {i} has inputs {sorted(item)}; SR models take one input")
            name = next(iter(item))
        if name not in item:
            raise DataError(f"calibration item {i} has keys {sorted(item)} but the model input is {name!r}; "
                            f"yield {{{name!r}: array}}")
        arr = _check_frame(item[name], f"#{i}")
        frames.extend(arr[j:j + 1] for j in range(arr.shape[0]))  # batch 1 items: any resolution mixes
    if not frames:
        raise DataError("calibration data is empty; pass at least one frame (a folder of images, a video, ...)")
    return CalibrationSet(frames, name or "input")


# ---------------------------------------------------------------------------------------------- sources


def _resolve(source: str | os.PathLike[str] | int) -> tuple[str, Any]:
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return "camera", int(source)
    p = Path(source)
    if not p.exists():
        raise DataError(f"calibration data not found: {p}; pass a folder of images, a video file or a camera index")
    if p.is_dir():
        return "folder", p
    if p.suffix.lower() in VIDEO_EXTS:
        return "video", p
    return "folder", p  # a single image file (list_images accepts files)


def _file_digest(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        try:
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as e:
            raise DataError(f"calibration entry {p} cannot be read: {_why_unreadable(p, e)}; "
                            "remove it from the folder or fix it") from None
    return h.hexdigest()


def _why_unreadable(p: Path, e: OSError) -> str:
    if p.is_symlink() and not p.exists():
        return f"broken symbolic link (points to {os.readlink(p)})"
    if p.is_dir():
        return "a folder, not an image file"
    return e.strerror or type(e).__name__


def _prepare(rgb: np.ndarray, name: str, size: tuple[int, int] | None, crop: tuple[int, int] | None,
             hr_scale: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """One decoded RGB uint8 frame -> (model input NCHW float32, HR reference or None)."""
    import cv2

    from edgesr.data import modcrop
    from edgesr.data.bicubic import imresize

    s = hr_scale or 1
    if size is not None:  # deployment resolution (LR) -> HR working size when degrading
        th, tw = size[0] * s, size[1] * s
        interp = cv2.INTER_AREA if th * tw < rgb.shape[0] * rgb.shape[1] else cv2.INTER_CUBIC
        rgb = cv2.resize(rgb, (tw, th), interpolation=interp)
    if crop is not None:
        ch, cw = crop[0] * s, crop[1] * s
        h, w = rgb.shape[:2]
        if ch > h or cw > w:
            raise DataError(f"{name} is {w}x{h} px, smaller than the {cw}x{ch} crop; use a smaller crop (--calib-size) "
                            "or larger images")
        y, x = (h - ch) // 2, (w - cw) // 2  # centre crop: deterministic
        rgb = rgb[y:y + ch, x:x + cw]
    if min(rgb.shape[:2]) < MIN_SIDE * s:
        raise DataError(f"{name} is {rgb.shape[1]}x{rgb.shape[0]} px, too small to calibrate on (min {MIN_SIDE * s} "
                        "px); remove it or pass size=(H, W)")
    if hr_scale:
        hr = modcrop(np.ascontiguousarray(rgb), hr_scale)
        return frame_to_nchw(imresize(hr, 1.0 / hr_scale)), hr
    return frame_to_nchw(rgb), None


def _pair(v: int | Sequence[int] | None, what: str) -> tuple[int, int] | None:
    if v is None:
        return None
    t = (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(x) for x in v)
    if len(t) != 2 or min(t) < 1:
        raise DataError(f"{what} must be an int or (height, width) of positive ints, got {v!r}")
    return t  # type: ignore[return-value]


def load_calibration(source: str | os.PathLike[str] | int, *, input_name: str = "input",
                     size: int | Sequence[int] | None = None, crop: int | Sequence[int] | None = None,
                     max_frames: int = 64, hr_scale: int | None = None, cache_dir: str | os.PathLike[str] | None = None,
                     use_cache: bool = True) -> CalibrationSet:
    """Load calibration frames from a folder/image, a video file or a camera index.

    ``size`` (H, W): resize every frame to the deployment resolution; ``crop``: deterministic
    centre crop (LR pixels); ``max_frames``: evenly spaced selection; ``hr_scale``: the images
    are HR ground truth: LR inputs are made by MATLAB bicubic and HR kept as references.
    """
    kind, src = _resolve(source)
    size_t, crop_t = _pair(size, "size"), _pair(crop, "crop")
    if max_frames < 1:
        raise DataError(f"max_frames must be >= 1, got {max_frames}")
    params = {"v": CACHE_VERSION, "kind": kind, "size": size_t, "crop": crop_t, "max": max_frames, "hr": hr_scale}
    if kind == "camera":
        return _from_camera(src, input_name, size_t, crop_t, max_frames, hr_scale)

    from edgesr.data import list_images

    files = list_images(src) if kind == "folder" else [src]
    key = hashlib.sha256((_file_digest(files) + json.dumps(params, sort_keys=True)).encode()).hexdigest()[:32]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cfile = cache / f"data-{key}.npz"
    if use_cache and cfile.is_file():
        with np.load(cfile, allow_pickle=False) as z:
            n = int(z["n"])
            frames = [z[f"x{i}"] for i in range(n)]
            refs: list[np.ndarray | None] = [z[f"r{i}"] if f"r{i}" in z else None for i in range(n)]
        log.info("calibration data from cache %s (%d frames)", cfile, n)
        return CalibrationSet(frames, input_name, refs, str(src), from_cache=True)

    if kind == "folder":
        frames, refs = _from_files(files, size_t, crop_t, max_frames, hr_scale)
    else:
        frames, refs = _from_video(src, size_t, crop_t, max_frames, hr_scale)
    if use_cache:
        cache.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"n": np.array(len(frames))}
        arrays.update({f"x{i}": f for i, f in enumerate(frames)})
        arrays.update({f"r{i}": r for i, r in enumerate(refs) if r is not None})
        with atomic_path(cfile, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)  # type: ignore[arg-type]
    log.info("calibration data: %d frames from %s", len(frames), src)
    return CalibrationSet(frames, input_name, refs, str(src))


def _from_files(files: list[Path], size: tuple[int, int] | None, crop: tuple[int, int] | None, max_frames: int,
                hr_scale: int | None) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    from tqdm import tqdm

    from edgesr.data import read_rgb

    chosen = [files[i] for i in evenly_spaced(len(files), max_frames)]
    bad: list[str] = []
    frames: list[np.ndarray] = []
    refs: list[np.ndarray | None] = []
    for f in tqdm(chosen, desc="calibration images", unit="img", leave=False, disable=len(chosen) < 16):
        try:
            rgb = read_rgb(f)
        except DataError:
            bad.append(f.name)
            continue
        x, r = _prepare(rgb, f.name, size, crop, hr_scale)
        frames.append(x)
        refs.append(r)
    if bad:
        raise DataError(f"{len(bad)} calibration file(s) cannot be read as images: {', '.join(bad[:5])}"
                        f"{' ...' if len(bad) > 5 else ''}; remove or convert them (PNG/JPEG)")
    return frames, refs


def _read_frames(cap: Any, wanted: set[int] | None, limit: int) -> Iterator[tuple[int, np.ndarray]]:
    i = 0
    while i < limit:
        ok, bgr = cap.read()
        if not ok or bgr is None:
            break
        if wanted is None or i in wanted:
            yield i, np.ascontiguousarray(bgr[..., ::-1])
        i += 1


def _from_video(path: Path, size: tuple[int, int] | None, crop: tuple[int, int] | None, max_frames: int,
                hr_scale: int | None) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Evenly spaced frames through the project's one video sampler (PyAV), the frames ``edgesr adapt`` takes."""
    from edgesr.video.frames import sample_video_frames

    frames: list[np.ndarray] = []
    refs: list[np.ndarray | None] = []
    for i, rgb in sample_video_frames(path, max_frames):  # an unreadable file is a DataError naming it
        x, r = _prepare(rgb, f"{path.name} frame {i}", size, crop, hr_scale)
        frames.append(x)
        refs.append(r)
    if not frames:
        raise DataError(f"no frame could be decoded from {path}; check the file plays, or extract frames to a folder")
    return frames, refs


def _from_camera(index: int, input_name: str, size: tuple[int, int] | None, crop: tuple[int, int] | None,
                 max_frames: int, hr_scale: int | None, stride: int = 5) -> CalibrationSet:
    """Live frames (every ``stride``-th, skipping auto-exposure warm-up); never cached."""
    import cv2

    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise DataError(f"camera {index} cannot be opened; check the device (ls /dev/video*) or pass a folder/video")
    frames: list[np.ndarray] = []
    refs: list[np.ndarray | None] = []
    try:
        for i, rgb in _read_frames(cap, None, stride * max_frames + 10):
            if i >= 10 and (i - 10) % stride == 0:
                x, r = _prepare(rgb, f"camera {index} frame {i}", size, crop, hr_scale)
                frames.append(x)
                refs.append(r)
    finally:
        cap.release()
    if not frames:
        raise DataError(f"camera {index} opened but returned no frames; check it is not in use by another process")
    return CalibrationSet(frames, input_name, refs, f"camera:{index}")


def stack_batches(data: Iterable[Mapping[str, np.ndarray]], batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Group batch-1 items into ``batch_size`` batches (TensorRT's fixed calibration batch).

    A trailing partial batch is dropped (TensorRT requires full batches); frames of different
    sizes cannot share a batch, which raises with the fix.
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}")
    pending: dict[str, list[np.ndarray]] = {}
    count = 0
    for item in data:
        for k, v in item.items():
            a = np.asarray(v, dtype=np.float32)
            a = a[None] if a.ndim == 3 else a
            lst = pending.setdefault(k, [])
            if lst and lst[0].shape[1:] != a.shape[1:]:
                raise DataError(f"calibration frames of different sizes {lst[0].shape[2:]} and {a.shape[2:]} cannot "
                                "form one batch; load with size=(H, W) or crop=N, or use batch_size=1")
            lst.extend(a[j:j + 1] for j in range(a.shape[0]))
        count = min(len(v) for v in pending.values())
        while count >= batch_size:
            yield {k: np.ascontiguousarray(np.concatenate(v[:batch_size])) for k, v in pending.items()}
            pending = {k: v[batch_size:] for k, v in pending.items()}
            count -= batch_size
    if count:
        log.info("dropping %d trailing calibration frame(s): not a full batch of %d", count, batch_size)
