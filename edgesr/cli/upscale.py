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
                   "pixels (default: only frames above the memory budget are tiled)")
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
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    live = p.add_argument_group("live sources")
    live.add_argument("--preview", action="store_true", help="show the upscaled frames (needs a display; q quits)")
    live.add_argument("--realtime", action="store_true", help="play a video file as a live source (drops frames)")
    live.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    live.add_argument("--max-frames", type=int, default=None, help="stop after this many upscaled frames")


def _upscaler(a: argparse.Namespace) -> Any:
    from edgesr.upscaler import Upscaler

    kw: dict[str, Any] = {}
    if a.scale is not None:
        kw["scale"] = a.scale
    if a.backend is not None:
        kw["backend"] = a.backend
    if a.device is not None:
        kw["device"] = a.device
    return Upscaler(a.model, tile=a.tile, max_pixels=a.max_pixels, **kw)


def _images(files: list[Path], dsts: list[Path], out: Path, up: Any) -> int:
    from tqdm import tqdm

    from edgesr.data import read_rgb, write_image

    for f, dst in tqdm(list(zip(files, dsts)), unit="img", disable=len(files) < 2):
        rgb = read_rgb(f)
        sr = up.run(rgb[..., ::-1])  # the Upscaler speaks BGR
        write_image(dst, sr[..., ::-1])  # atomic: temp file + rename
    print(f"upscaled {len(files)} image(s) x{up.scale} -> {out}")
    return 0


def _video(a: argparse.Namespace, spec: str) -> int:
    from edgesr.video.pipeline import IncompleteVideoError, partial_path, upscale_video

    part = partial_path(a.output)
    stale = part.stat().st_mtime_ns if part.exists() else None  # a partial from an earlier run
    try:
        r = upscale_video(spec, a.output, _upscaler(a), codec=a.codec, crf=a.crf, preset=a.preset,
                          bitrate=a.bitrate, audio=not a.no_audio, queue_size=a.queue,
                          progress=not a.no_progress, in_place=a.overwrite)
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
        up = _upscaler(a)
    except BaseException:
        source.close()
        raise
    st = Stream(source, up, preview=a.preview, record=a.output, max_frames=a.max_frames, duration=a.duration,
                codec=a.codec)
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


def run(a: argparse.Namespace) -> int:
    from edgesr.video.sources import source_kind
    from edgesr.errors import ConfigError
    from edgesr.overwrite import check_output_file, image_destinations

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
        return _images(files, dsts, Path(a.output), _upscaler(a))
    if a.output:
        check_output_file(str(spec) if kind == "video" else None, a.output, a.overwrite)
    with sigterm_interrupts():
        return _live(a, spec, kind) if live else _video(a, str(spec))
