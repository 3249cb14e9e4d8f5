"""edgesr upscale INPUT -o OUTPUT: images, folders, video files, cameras, URLs and GStreamer pipelines."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from edgesr.signals import EXIT_SIGTERM, Terminated, sigterm_interrupts

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", nargs="?", help="image, folder, video file, camera index, rtsp/http URL or GStreamer pipeline")
    p.add_argument("-o", "--output", help="output image/folder/video (for live sources: a recording, optional)")
    p.add_argument("--camera", type=int, default=None, metavar="N", help="read camera N instead of INPUT")
    p.add_argument("--model", default=None, help="model file (.onnx/.pt/.engine) or a bundled name (edge_nano_x2: "
                   "real-time); default: the bundled edge_tiny")
    p.add_argument("--scale", type=int, default=None, help="upscale factor (picks the bundled model)")
    p.add_argument("--backend", default=None, help="runtime backend (default: from the model file)")
    p.add_argument("--device", default=None, help="device, e.g. cpu or cuda:0")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files, or the input file "
                   "itself (only once the result is complete); a folder is never written into itself")
    m = p.add_argument_group("memory")
    m.add_argument("--tile", type=int, default=None, metavar="PX", help="run frames as tiles of PX x PX input "
                   "pixels (default: on CPU, frames above 3 x 1024^2 pixels run as ~1024 tiles within the memory budget)")
    m.add_argument("--max-pixels", type=int, default=None, metavar="N", help="input pixels per model call before a "
                   "frame is tiled (default: from the available memory, see docs/runtime.md; 0: never tile)")
    v = p.add_argument_group("video files")
    v.add_argument("--codec", default=None, help="video encoder: libx264 (default; mp4v for .avi), mp4v, "
                   "h264_nvenc, ...")
    v.add_argument("--crf", type=int, default=18, help="libx264 quality (0 lossless .. 51 worst; default 18)")
    v.add_argument("--preset", default="medium", help="libx264 speed preset (ultrafast .. veryslow)")
    v.add_argument("--bitrate", type=int, default=None, help="target bitrate in bit/s (instead of crf)")
    v.add_argument("--no-audio", action="store_true", help="do not copy the audio track")
    v.add_argument("--queue", type=int, default=8, help="frames buffered between decode/upscale/encode")
    v.add_argument("--no-progress", action="store_true", help="no progress bar (video files and folders)")
    v.add_argument("--temporal", nargs="?", const="on", choices=["on", "flow"], default=None,
                   help="stable mode for video and live sources: filter codec noise in still regions before the "
                        "model so they stop flickering ('flow': also follow camera motion; docs/video.md)")
    live = p.add_argument_group("live sources")
    live.add_argument("--preview", action="store_true", help="show the upscaled frames (needs a display; q quits)")
    live.add_argument("--realtime", action="store_true", help="play a video file as a live source (drops frames)")
    live.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    live.add_argument("--max-frames", type=int, default=None, help="stop after this many upscaled frames")


def video_default_model(scale: int | None) -> str | None:
    """The bundled degradation-aware model for video, cameras and streams (almost always compressed input):
    ``edge_tiny_xS_real`` where one is bundled, else None (the clean default). ``docs/video.md`` has the figures."""
    from edgesr.hub import bundled_models

    name = f"edge_tiny_x{scale or 2}_real"
    return name if name in bundled_models() else None


def _upscaler(a: argparse.Namespace, video: bool = False, frame_hw: tuple[int, int] | None = None) -> Any:
    from edgesr.upscaler import Upscaler

    model = a.model
    if model is None and video and (real := video_default_model(a.scale)) is not None:
        log.info("video input: using %s (trained on blur, noise, JPEG and H.264 input; pass --model edge_tiny_x%d "
                 "for the clean-input model)", real, a.scale or 2)
        model = real
    if frame_hw is not None and a.backend in ("tensorrt", "trt") and str(model or "").endswith(".onnx"):
        from edgesr.export.trt import engine_for_size  # one frame size: a fixed-shape engine, built once, cached

        model = str(engine_for_size(model, *frame_hw))
        log.info("TensorRT: fixed-shape engine %s for %dx%d frames", model, frame_hw[1], frame_hw[0])
    kw: dict[str, Any] = {"temporal": {"on": True, "flow": "flow"}[a.temporal]} if a.temporal else {}
    if a.scale is not None:
        kw["scale"] = a.scale
    if a.backend is not None:
        kw["backend"] = a.backend
    if a.device is not None:
        kw["device"] = a.device
    return Upscaler(model, tile=a.tile, max_pixels=a.max_pixels, **kw)


# what each image format stores (OpenCV's encoders): a result that would lose depth or alpha is refused
_DEPTH_EXTS = {"uint16": (".png", ".tif", ".tiff"), "float32": (".tif", ".tiff")}
_ALPHA_EXTS = (".png", ".bmp", ".tif", ".tiff", ".webp")


def _read(path: Path) -> Any:
    """An image as stored: BGR / BGRA / gray, 8- or 16-bit (what the Upscaler takes, and gives back)."""
    import cv2
    import numpy as np

    from edgesr.errors import DataError

    img = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(f"cannot read image {path}: unreadable or not an image; remove it or convert it to PNG")
    return img


def _check_keeps(img: Any, src: Path, dst: Path) -> None:
    """``dst``'s format stores ``img``'s bit depth and alpha, else one line saying which format would."""
    from edgesr.errors import ConfigError

    ext = dst.suffix.lower()
    deep = _DEPTH_EXTS.get(str(img.dtype))
    if deep is not None and ext not in deep:
        bits = "16-bit" if str(img.dtype) == "uint16" else "floating-point"
        raise ConfigError(f"{src.name} is a {bits} image, which {ext} cannot store (8-bit only): the result would "
                          f"lose its depth; use -o {dst.with_suffix(deep[0])} (or {', '.join(deep[1:])})")
    if img.ndim == 3 and img.shape[2] == 4 and ext not in _ALPHA_EXTS:
        raise ConfigError(f"{src.name} has an alpha channel, which {ext} cannot store: the result would lose it; "
                          f"use -o {dst.with_suffix('.png')} (or {', '.join(_ALPHA_EXTS[1:])})")


def _write(dst: Path, img: Any) -> None:
    import cv2

    from edgesr.errors import DataError
    from edgesr.fileio import atomic_write_bytes

    ok, buf = cv2.imencode(dst.suffix, img)
    if not ok:
        raise DataError(f"cannot encode {dst.suffix!r} images; use .png or .jpg")
    atomic_write_bytes(dst, buf.tobytes())  # temp file + rename


def _images(files: list[Path], dsts: list[Path], out: Path, up: Any, progress: bool = True,
            first: Any = None) -> int:
    """Each image as stored (16-bit, alpha and grayscale kept, like ``Upscaler.run``), written atomically."""
    from tqdm import tqdm

    for i, (f, dst) in enumerate(tqdm(list(zip(files, dsts)), unit="img", disable=not progress or len(files) < 2)):
        img = first if i == 0 and first is not None else _read(f)
        _check_keeps(img, f, dst)
        _write(dst, up.run(img))  # the Upscaler speaks BGR (and BGRA, gray, uint16)
    print(f"upscaled {len(files)} image(s) x{up.scale} -> {out}")
    return 0


def _video(a: argparse.Namespace, spec: str) -> int:
    from edgesr.video.pipeline import IncompleteVideoError, partial_path, upscale_video

    part = partial_path(a.output)
    stale = part.stat().st_mtime_ns if part.exists() else None  # a partial from an earlier run
    try:
        r = upscale_video(spec, a.output, _upscaler(a, video=True, frame_hw=_video_hw(spec)), codec=a.codec, crf=a.crf, preset=a.preset,
                          bitrate=a.bitrate, audio=not a.no_audio, queue_size=a.queue,
                          progress=not a.no_progress, overwrite=a.overwrite)
    except IncompleteVideoError as e:
        print(f"edgesr upscale: {e}")
        return 1
    except Terminated:
        fresh = part.exists() and part.stat().st_mtime_ns != stale
        where = f"playable partial output: {part}" if fresh else "no frame was written, no output"
        print(f"edgesr upscale: terminated (SIGTERM); {where}", file=sys.stderr)
        return EXIT_SIGTERM
    print(f"{r.path}: {r.frames} frames at {r.fps or 0:.3f} fps ({r.duration:.2f} s), "
          f"audio {'copied' if r.audio else 'none'}; {r.throughput:.1f} frames/s in {r.seconds:.1f} s")
    return 0


def _video_hw(spec: str) -> tuple[int, int]:
    from edgesr.video.sources import FileSource

    src = FileSource(spec)
    try:
        return int(src.height), int(src.width)
    finally:
        src.close()


def _live(a: argparse.Namespace, spec: str | int, kind: str) -> int:
    from edgesr.video.sources import FileSource, PacedSource, open_source
    from edgesr.video.pipeline import Stream

    if a.realtime and kind == "video":  # sources first: a camera that cannot open fails before the model loads
        fs = FileSource(str(spec))
        frames = iter(fs.read, None)
        source: Any = PacedSource((f.image for f in frames), fps=fs.fps or 30)
    else:
        source = open_source(spec)
    try:
        up = _upscaler(a, video=True)
    except BaseException:
        source.close()
        raise
    st = Stream(source, up, preview=a.preview, record=a.output, max_frames=a.max_frames, duration=a.duration,
                codec=a.codec, overwrite=a.overwrite)
    code = 0
    try:
        for _ in st:
            pass
    except Terminated:
        code = EXIT_SIGTERM
    except KeyboardInterrupt:
        pass
    finally:
        st.close()
        print(f"edgesr upscale: {st.stats}" + (f"; recording {a.output}" if a.output else ""))
    return code


def check_options(a: argparse.Namespace) -> None:
    """Every option's range, before any input is opened or model loaded."""
    from edgesr.errors import ConfigError
    from edgesr.video.writer import check_crf

    if a.scale is not None and a.scale < 2:
        raise ConfigError(f"--scale {a.scale}: the upscale factor must be 2 or more (bundled models: x2, x3, x4; "
                          "see `edgesr models`)")
    check_crf(a.crf, flag="--crf ")
    for flag, v, low in (("--queue", a.queue, 1), ("--tile", a.tile, 1), ("--max-pixels", a.max_pixels, 0),
                         ("--bitrate", a.bitrate, 1), ("--max-frames", a.max_frames, 1)):
        if v is not None and v < low:
            raise ConfigError(f"{flag} {v}: must be {low} or more")
    if a.duration is not None and a.duration <= 0:
        raise ConfigError(f"--duration {a.duration}: must be more than 0 seconds")


def run(a: argparse.Namespace) -> int:
    from edgesr.video.sources import source_kind
    from edgesr.errors import ConfigError
    from edgesr.overwrite import check_output, image_destinations

    check_options(a)
    spec: str | int | None = a.camera if a.camera is not None else a.input
    if spec is None:
        raise ConfigError("no input: pass an image, folder, video, URL or pipeline, or --camera N")
    kind = source_kind(spec)
    if kind in ("image", "folder", "video") and not Path(str(spec)).exists():
        raise ConfigError(f"input not found: {spec}; check the path (or pass --camera N / a URL)")
    live = kind in ("camera", "network", "gstreamer") or a.realtime
    if not live and not a.output:
        raise ConfigError("-o/--output is required for images, folders and video files")
    if kind in ("image", "folder"):
        from edgesr.data import list_images

        files = list_images(spec)  # type: ignore[arg-type]
        dsts = image_destinations(files, a.output, folder=kind == "folder", overwrite=a.overwrite)
        first = None
        if kind == "image":  # its depth and alpha must fit -o's format: known before the model loads
            first = _read(files[0])
            _check_keeps(first, files[0], dsts[0])
        return _images(files, dsts, Path(a.output), _upscaler(a), progress=not a.no_progress, first=first)
    if a.output:  # a video file's result, or a live source's recording
        check_output(a.output, "video", overwrite=a.overwrite, src=str(spec) if kind == "video" else None)
    with sigterm_interrupts():
        return _live(a, spec, kind) if live else _video(a, str(spec))
