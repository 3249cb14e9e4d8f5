"""``Upscaler``: the one object users (and the video pipeline, eval, bench) run frames through.

Why it is thin: it only converts frames (dtype, channel order, alpha, padding), tiles large frames
and checks inputs; inference is a :class:`edgesr.runtimes.Backend` chosen from the model file.
A frame therefore crosses three files: this one, ``edgesr/tiling.py`` and one backend module.

Frames are HxWx3 uint8 BGR (OpenCV order) by default; ``color="rgb"`` for RGB. Also HxW / HxWx1
grayscale, HxWx4 BGRA (alpha upscaled bicubically, separately), uint16 and float ([0, 1])
inputs (a float frame above ``FLOAT_MAX``, 2.0, is 0..255 data by mistake: refused, naming ``/ 255``);
the output keeps the input's convention. Torch tensors (HxWxC, any device) are accepted and
returned as tensors on the same device.

Thread safety: an Upscaler may be shared by threads; calls are serialised by a lock (its I/O
buffers are reused). For parallel throughput create one Upscaler per thread.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import ConfigError, InputError
from .tiling import DEFAULT_TILE, TilePlan, balanced_tile, default_tile

log = logging.getLogger(__name__)

_INT_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_LUMA = (0.299, 0.587, 0.114)  # R, G, B (ITU-R BT.601, as OpenCV's cvtColor)
# Options each backend understands; anything else raises instead of being silently ignored.
_OPTIONS = {"onnxruntime": {"providers", "device", "threads"}, "pytorch": {"device", "precision"},
            "tensorrt": {"device", "memory"}}
_STATS_WINDOW = 1024


@dataclass
class _FramePlan:
    """Everything reused for one (batch, H, W, C, dtype) input: sizes, tiles, staging buffers."""

    h: int
    w: int
    hp: int  # padded input height (pad_multiple / engine minimum / fixed shape)
    wp: int
    channels: int  # 1 (gray), 3 or 4 (alpha)
    tiles: TilePlan | None
    stage: np.ndarray | None  # (3, hp, wp) float32 when tiling
    acc: np.ndarray | None  # (3, s*hp, s*wp) float32 accumulator when tiling
    plane: np.ndarray | None  # (s*h, s*w) float32 scratch for gray output (gray frames only)
    u8: np.ndarray | None = None  # (3, s*h, s*w) uint8 scratch for the uint8 fast path (allocated on first use)


class Upscaler:
    """Super-resolve frames with a model file, an ``nn.Module`` or the bundled default (``None``).

    Args:
        model: ``.onnx`` (ONNX Runtime), ``.engine``/``.plan`` (TensorRT), ``.pt`` or ``nn.Module``
            (PyTorch), a bundled model's name (``"edge_nano_x2"``: the real-time class), or ``None``
            for the default bundled model (``edge_tiny``, ``scale`` 2 unless given).
        backend: override the suffix table (``onnxruntime``, ``tensorrt``, ``pytorch``).
        device, providers, precision, threads: passed to the backend that understands them.
        color: ``"bgr"`` (default, OpenCV) or ``"rgb"``: channel order of frames in and out.
        tile: tile size in input pixels. None (default): on CPU backends, frames above 3 x 1024^2 pixels run as
            tiles of about 1024 (:func:`edgesr.tiling.default_tile`, measured faster and smaller than larger
            tiles); otherwise only when the engine profile or ``max_pixels`` needs it.
        tile_overlap: overlap between tiles, input pixels.
        max_pixels: input pixels per model call; larger frames are tiled. None (default): from the
            memory available on this machine (:mod:`edgesr.budget`); 0: never tile for memory.
        pad_multiple: pad H and W up to a multiple (cropped back); default from the model.
        temporal: stable mode for video (``True``, ``"flow"``, a dict or :class:`TemporalConfig`): 8-bit frames
            pass a motion-gated recursive filter (:mod:`edgesr.video.temporal`) before the model, so still
            regions stop flickering; frames of one video must then come in order (``reset()`` between videos;
            scene cuts reset it by themselves).
    """

    def __init__(self, model: Any = None, *, backend: str | None = None, device: str | None = None,
                 providers: Any = None, precision: Any = None, threads: int | None = None, scale: int | None = None,
                 color: str = "bgr", tile: int | None = None, tile_overlap: int = 16, max_pixels: int | None = None,
                 pad_multiple: int | None = None, temporal: Any = False) -> None:
        from edgesr.runtimes import backend_for, open_backend

        from .video.temporal import TemporalFilter, temporal_config

        if color.lower() not in ("bgr", "rgb"):
            raise ConfigError(f"color must be 'bgr' (OpenCV frames) or 'rgb', got {color!r}")
        self.color = color.lower()
        from .hub import bundled_model, bundled_model_by_name, is_bundled_name

        fmt = "pt" if backend in ("pytorch", "torch") else "onnx"
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 2):
            raise ConfigError(f"scale={scale!r}: the upscale factor must be an integer of 2 or more (bundled models: "
                              "x2, x3, x4)")
        if model is None:
            model = bundled_model(scale=scale or 2, format=fmt)
        elif is_bundled_name(model):  # e.g. "edge_nano_x2"
            model = bundled_model_by_name(model, format=fmt)
        if isinstance(model, os.PathLike):
            model = os.fspath(model)
        name = backend_for(model, backend)
        given = {"device": device, "providers": providers, "precision": precision, "threads": threads}
        bad = sorted(k for k, v in given.items() if v is not None and k not in _OPTIONS[name])
        if bad:
            raise ConfigError(f"option(s) {', '.join(bad)} do not apply to the {name} backend "
                              f"(it takes: {', '.join(sorted(_OPTIONS[name]))}); remove them or pick another backend")
        self.backend = open_backend(model, name, **given)
        if scale is not None and scale != self.backend.scale:
            self.backend.close()
            raise ConfigError(f"scale={scale} but the model upscales x{self.backend.scale}; drop scale= or use an "
                              f"x{scale} model")
        if tile is not None and tile <= tile_overlap:
            self.backend.close()
            raise ConfigError(f"tile ({tile}) must be larger than tile_overlap ({tile_overlap}); pass a larger tile "
                              "or a smaller tile_overlap")
        self.tile, self.tile_overlap = tile, tile_overlap
        cfg = temporal_config(temporal)
        self.temporal = cfg  # None: per-frame; else the stable mode's TemporalConfig
        self._temporal = TemporalFilter(cfg) if cfg is not None else None
        self.max_pixels, self.budget = self._budget(max_pixels)
        # neither tile= nor max_pixels= given: on a CPU backend large frames run as DEFAULT_TILE tiles (within
        # the budget), measured faster and smaller than the largest tiles the budget allows (tiling.py)
        on_cpu = self.backend.name != "tensorrt" and str(getattr(self.backend, "device", "cpu")).startswith("cpu")
        self.auto_tile = DEFAULT_TILE if tile is None and max_pixels is None and on_cpu else None
        meta = getattr(self.backend, "meta", {}) or {}
        self.pad_multiple = int(pad_multiple or meta.get("edgesr.pad_multiple", 1))
        self._plans: dict[tuple[Any, ...], _FramePlan] = {}
        self._lock = threading.Lock()
        self._lat = np.zeros(_STATS_WINDOW, np.float64)
        self._nfr = np.zeros(_STATS_WINDOW, np.int64)
        self._calls = 0

    def _budget(self, max_pixels: int | None) -> tuple[int | None, str]:
        """(pixels per model call or None for no limit, where that number comes from)."""
        if max_pixels is None:
            from .budget import default_max_pixels

            limit, why = default_max_pixels(self.backend)
            log.debug("memory budget: %d input pixels per call (%s)", limit, why)
            return limit, why
        if max_pixels < 0:
            self.backend.close()
            raise ConfigError(f"max_pixels must be >= 0 (0: no limit), got {max_pixels}")
        return (max_pixels or None), ("given" if max_pixels else "no limit (max_pixels=0)")

    # -- public API --------------------------------------------------------------------------
    @property
    def scale(self) -> int:
        return self.backend.scale

    def info(self) -> dict[str, Any]:
        """Backend, precision, scale, device (+ model, color, tiling)."""
        from .precision import expected_cpu_precision

        d = self.backend.info()
        d.update(color=self.color, tile=self.tile, tile_overlap=self.tile_overlap, max_pixels=self.max_pixels,
                 budget=self.budget, auto_tile=self.auto_tile, pad_multiple=self.pad_multiple)
        if str(d.get("device", "cpu")).startswith("cpu"):
            best, why = expected_cpu_precision()
            d["cpu_fastest_precision"] = {"expected": best.value, "why": why}
        return d

    @property
    def stats(self) -> dict[str, float]:
        """Latency percentiles (ms) over the last calls and throughput (frames/s)."""
        n = min(self._calls, _STATS_WINDOW)
        if n == 0:
            return {"calls": 0, "frames": 0, "p50_ms": math.nan, "p90_ms": math.nan, "p99_ms": math.nan,
                    "mean_ms": math.nan, "fps": math.nan}
        lat = self._lat[:n] * 1e3
        p50, p90, p99 = np.percentile(lat, [50, 90, 99])
        frames = int(self._nfr[:n].sum())
        return {"calls": self._calls, "frames": frames, "p50_ms": float(p50), "p90_ms": float(p90),
                "p99_ms": float(p99), "mean_ms": float(lat.mean()), "fps": float(frames / (lat.sum() / 1e3))}

    def close(self) -> None:
        with self._lock:
            self._plans.clear()
            self.backend.close()

    def __enter__(self) -> "Upscaler":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        i = self.backend.info()
        return f"Upscaler({i['model']!r}, backend={i['backend']}, x{i['scale']}, {i['precision']}, {i['device']})"

    def run(self, frame: Any, out: np.ndarray | None = None) -> Any:
        """Upscale one frame; ``out`` (optional) receives the result with no allocation at all."""
        if _is_tensor(frame):
            return self._timed(1, self._run_tensor, frame)
        if self._temporal is not None and isinstance(frame, np.ndarray):
            return self._timed(1, lambda f, o: self._run_numpy(self._temporal(f), o), frame, out)
        return self._timed(1, self._run_numpy, frame, out)

    def reset(self) -> None:
        """Forget the previous frames of the stable mode (a new video starts); no-op without ``temporal``."""
        if self._temporal is not None:
            self._temporal.reset()

    def run_batch(self, frames: Sequence[np.ndarray] | np.ndarray, batch_size: int = 8) -> Any:
        """Upscale same-size frames in batches of ``batch_size`` (one backend call per batch).

        Returns a list of frames, or an (N, sH, sW, ...) array when ``frames`` is an array.
        """
        as_array = isinstance(frames, np.ndarray)
        frames = list(frames)
        if not frames:
            return np.empty((0,)) if as_array else []
        shapes = {(f.shape, f.dtype) for f in frames}
        if len(shapes) > 1:
            raise InputError(f"run_batch needs frames of one shape and dtype, got {sorted(str(s) for s in shapes)}; "
                             "group frames by size or call run() per frame")
        res = self._timed(len(frames), self._run_batch_numpy, frames, batch_size)
        return np.stack(res) if as_array else res

    # -- internals ---------------------------------------------------------------------------
    def _timed(self, n: int, fn: Any, *args: Any) -> Any:
        with self._lock:
            t0 = time.perf_counter()
            result = fn(*args)
            i = self._calls % _STATS_WINDOW
            self._lat[i] = time.perf_counter() - t0
            self._nfr[i] = n
            self._calls += 1
        return result

    def _check(self, frame: Any) -> tuple[int, int, int]:
        """(H, W, channels) of a valid frame, or an InputError that says how to fix it."""
        if not isinstance(frame, np.ndarray):
            raise InputError(f"expected a numpy array (HxWx3 uint8 {self.color.upper()} frame), got "
                             f"{type(frame).__name__}; convert it with np.asarray(...)")
        if frame.dtype not in _INT_MAX and frame.dtype not in _FLOATS:
            raise InputError(f"frame dtype {frame.dtype} is not supported; use uint8 (0-255), uint16 (0-65535) or "
                             "float16/32/64 in [0, 1], e.g. frame.astype(np.uint8)")
        if frame.ndim == 2:
            h, w, c = int(frame.shape[0]), int(frame.shape[1]), 1
        elif frame.ndim == 3 and frame.shape[2] in (1, 3, 4):
            h, w, c = frame.shape
        elif frame.ndim == 3 and frame.shape[0] in (1, 3, 4) and frame.shape[2] > 4:
            raise InputError(f"frame shape {frame.shape} looks channels-first (CHW); frames are HxWxC: pass "
                             "frame.transpose(1, 2, 0)")
        elif frame.ndim == 4:
            raise InputError(f"frame shape {frame.shape} is a batch; use run_batch(frames) for NxHxWxC")
        else:
            raise InputError(f"frame shape {frame.shape} is not HxW (gray), HxWx3 ({self.color.upper()}) or HxWx4 "
                             f"({self.color.upper()}A); convert it first, e.g. frame[..., :3] or cv2.cvtColor")
        if h == 0 or w == 0:
            raise InputError(f"frame shape {frame.shape} is empty")
        if frame.dtype in _FLOATS:
            _check_finite(frame)
        return h, w, c

    def _plan(self, frame: np.ndarray, batch: int) -> _FramePlan:
        h, w, c = self._check(frame)
        key = (batch, h, w, c, frame.dtype)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= 8:  # a stream of ever-changing sizes must not grow memory forever
                self._plans.clear()
            plan = self._plans[key] = self._make_plan(h, w, c)
        return plan

    def _make_plan(self, h: int, w: int, c: int) -> _FramePlan:
        b, m, s = self.backend, self.pad_multiple, self.scale
        hp, wp = -(-h // m) * m, -(-w // m) * m
        if b.min_hw:
            hp, wp = max(hp, b.min_hw[0]), max(wp, b.min_hw[1])
        tile_hw: tuple[int, int] | None = None
        if b.fixed_hw:
            hp, wp = max(hp, b.fixed_hw[0]), max(wp, b.fixed_hw[1])
            if (hp, wp) != b.fixed_hw:
                tile_hw = b.fixed_hw
        else:
            limit_h = limit_w = None
            if self.tile:
                limit_h = limit_w = self.tile
            elif self.auto_tile:
                limit_h = limit_w = default_tile(hp, wp, self.max_pixels, m, self.auto_tile)
            if self.max_pixels and hp * wp > self.max_pixels:
                side = max(int(math.isqrt(self.max_pixels)) // m * m, m)
                limit_h, limit_w = min(limit_h or side, side), min(limit_w or side, side)
            if b.max_hw:
                limit_h, limit_w = min(limit_h or b.max_hw[0], b.max_hw[0]), min(limit_w or b.max_hw[1], b.max_hw[1])
            if limit_h and limit_w and (hp > limit_h or wp > limit_w):
                lh, lw = min(limit_h // m * m, hp), min(limit_w // m * m, wp)
                ov = min(self.tile_overlap, min(lh, lw) - 1)
                tile_hw = (balanced_tile(hp, lh, ov, m), balanced_tile(wp, lw, ov, m))
                if b.min_hw:
                    tile_hw = (max(tile_hw[0], b.min_hw[0]), max(tile_hw[1], b.min_hw[1]))
        tiles = None
        stage = acc = None
        if tile_hw is not None:
            ov = min(self.tile_overlap, min(tile_hw) - 1)
            tiles = TilePlan(hp, wp, tile_hw[0], tile_hw[1], ov, s)
            stage = np.zeros((3, hp, wp), np.float32)
            acc = np.zeros((3, hp * s, wp * s), np.float32)
            log.info("frames of %dx%d run as %d tiles of %dx%d (overlap %d)", w, h, len(tiles), tile_hw[1],
                     tile_hw[0], ov)
        plane = np.zeros((h * s, w * s), np.float32) if c == 1 else None
        return _FramePlan(h, w, hp, wp, c, tiles, stage, acc, plane)

    def _rgb_index(self) -> tuple[int, int, int]:
        """Source channel of the frame for model channels 0, 1, 2."""
        model_bgr = getattr(self.backend, "bgr", False)
        frame_bgr = self.color == "bgr"
        return (2, 1, 0) if model_bgr != frame_bgr else (0, 1, 2)

    def _pre(self, frame: np.ndarray, p: _FramePlan, dst: np.ndarray) -> None:
        """Frame -> (3, hp, wp) model input in ``dst`` (any float dtype), padded by edge replication."""
        k = 1.0 / _INT_MAX.get(frame.dtype, 1.0)
        if getattr(self.backend, "range255", False):
            k *= 255.0
        kk = np.float32(k)
        h, w = p.h, p.w
        src = frame if frame.ndim == 3 else frame[:, :, None]
        order = (0, 0, 0) if p.channels == 1 else self._rgb_index()
        with np.errstate(over="ignore"):  # float64 beyond float32's range: inf here, clipped below
            for ci, si in enumerate(order):
                np.multiply(src[:, :, si], kk, out=dst[ci, :h, :w], casting="unsafe")
        if frame.dtype in _FLOATS:  # floats are [0, 1] by contract: saturate, as integer frames are
            np.clip(dst[:, :h, :w], 0.0, kk, out=dst[:, :h, :w])
        if p.hp > h:
            dst[:, h:, :w] = dst[:, h - 1:h, :w]
        if p.wp > w:
            dst[:, :, w:] = dst[:, :, w - 1:w]

    def _post(self, y: np.ndarray, frame: np.ndarray, p: _FramePlan, res: np.ndarray) -> None:
        """(3, s*hp, s*wp) model output -> ``res`` in the frame's convention (modifies ``y`` in place)."""
        s = self.scale
        sh, sw = p.h * s, p.w * s
        y = y[:, :sh, :sw]
        top = _INT_MAX.get(frame.dtype)
        k = (top or 1.0) / (255.0 if getattr(self.backend, "range255", False) else 1.0)
        if top == 255.0 and p.channels == 3 and res.dtype == np.uint8 and res.flags.c_contiguous:
            self._post_u8(y, p, res, k)
            return
        if k != 1.0:
            y *= np.float32(k)
        if top is not None:
            y += np.float32(0.5)  # round half up when the cast truncates
            np.clip(y, 0.0, top + 0.49, out=y)
        else:
            np.clip(y, 0.0, 1.0, out=y)
        dst = res if res.ndim == 3 else res[:, :, None]
        if p.channels == 1:
            assert p.plane is not None
            r, g, b = (2, 1, 0) if getattr(self.backend, "bgr", False) else (0, 1, 2)  # luma from RGB
            np.multiply(y[r], np.float32(_LUMA[0]), out=p.plane)
            p.plane += y[g] * np.float32(_LUMA[1])
            p.plane += y[b] * np.float32(_LUMA[2])
            np.copyto(dst[:, :, 0], p.plane, casting="unsafe")
        else:
            for ci, si in enumerate(self._rgb_index()):
                np.copyto(dst[:, :, si], y[ci], casting="unsafe")
        if p.channels == 4:
            self._alpha(frame[:, :, 3], dst[:, :, 3])

    def _post_u8(self, y: np.ndarray, p: _FramePlan, res: np.ndarray, k: float) -> None:
        """uint8 colour frames (video): clamp at 0, then OpenCV's saturating scale-and-round per plane
        and one interleave. 25% less CPU than the float path at 720p (5.3 vs 7.2 ms, one thread), which
        is 5% of a real-time frame; rounding differs from it only at exact .5 ties (3 pixels in 10^6)."""
        import cv2

        np.maximum(y, np.float32(0.0), out=y)  # convertScaleAbs takes |x|: negatives must be 0 first
        if p.u8 is None:
            p.u8 = np.empty(y.shape, np.uint8)
        for ci in range(3):
            cv2.convertScaleAbs(y[ci], dst=p.u8[ci], alpha=float(k))
        order = self._rgb_index()  # frame channel si holds model channel ci; the map is its own inverse
        cv2.merge([p.u8[order[si]] for si in range(3)], dst=res)

    def _alpha(self, alpha: np.ndarray, dst: np.ndarray) -> None:
        """Alpha is not a colour: upscale it bicubically on its own (clipped to the valid range)."""
        import cv2

        with np.errstate(over="ignore"):  # float64 beyond float32: inf, clipped next
            a = alpha.astype(np.float32) if alpha.dtype == np.float16 or alpha.dtype == np.float64 else alpha
        if dst.dtype in _FLOATS:
            a = np.clip(a, 0.0, 1.0)  # saturate out-of-range alpha before resampling, as colour is
        up = cv2.resize(a, (dst.shape[1], dst.shape[0]), interpolation=cv2.INTER_CUBIC)
        if dst.dtype in _FLOATS:
            np.clip(up, 0.0, 1.0, out=up)
        np.copyto(dst, up, casting="unsafe")

    def _out_array(self, frame: np.ndarray, p: _FramePlan, out: np.ndarray | None) -> np.ndarray:
        s = self.scale
        shape = (p.h * s, p.w * s) + frame.shape[2:]
        if out is None:
            return np.empty(shape, frame.dtype)
        if out.shape != shape or out.dtype != frame.dtype:
            raise InputError(f"out= must be {shape} {frame.dtype}, got {out.shape} {out.dtype}")
        return out

    def _infer_one(self, frame: np.ndarray, p: _FramePlan) -> np.ndarray:
        """Model output (3, s*hp, s*wp) float for one frame, tiled when the plan says so."""
        b = self.backend
        if p.tiles is None:
            inp, out = b.buffers((1, 3, p.hp, p.wp))
            self._pre(frame, p, inp[0])
            return b.run(inp)[0]
        assert p.stage is not None and p.acc is not None
        self._pre(frame, p, p.stage)
        t = p.tiles
        inp, out = b.buffers((1, 3, t.tile_h, t.tile_w))
        p.acc[...] = 0
        for i, j, y0, x0 in t.boxes():
            np.copyto(inp[0], p.stage[:, y0:y0 + t.tile_h, x0:x0 + t.tile_w], casting="unsafe")
            y = b.run(inp)[0]
            t.accumulate(p.acc, y if y.dtype == np.float32 else y.astype(np.float32), i, j)
        return p.acc

    def _run_numpy(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        p = self._plan(frame, 1)
        res = self._out_array(frame, p, out)
        y = self._infer_one(frame, p)
        if y.dtype != np.float32:
            y = y.astype(np.float32)
        self._post(y, frame, p, res)
        return res

    def _run_batch_numpy(self, frames: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
        b = self.backend
        if self._temporal is not None:  # a batch is consecutive frames: filtered in order
            frames = [self._temporal(f) for f in frames]
        p = self._plan(frames[0], 1)
        if p.tiles is not None or batch_size <= 1:
            return [self._run_numpy(f, None) for f in frames]
        for f in frames[1:]:
            self._check(f)  # every frame, not only the first (NaN/inf in any of them)
        bs = min(batch_size, b.max_batch or batch_size, len(frames))
        if b.fixed_hw and b.max_batch is not None and b.max_batch != bs:
            bs = 1
        results = []
        for start in range(0, len(frames), bs):
            chunk = frames[start:start + bs]
            inp, out = b.buffers((bs, 3, p.hp, p.wp))
            for k, f in enumerate(chunk):
                self._pre(f, p, inp[k])
            y = b.run(inp)
            for k, f in enumerate(chunk):
                res = self._out_array(f, p, None)
                yk = y[k] if y.dtype == np.float32 else y[k].astype(np.float32)
                self._post(yk, f, p, res)
                results.append(res)
        return results

    def _run_tensor(self, x: Any) -> Any:
        """Torch tensor HxWxC (any device) -> tensor on the same device; no host round trip on the
        PyTorch backend (others copy through the host once)."""
        import torch

        if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] not in (1, 3, 4)):
            raise InputError(f"tensor shape {tuple(x.shape)} is not HxW, HxWx3 or HxWx4 (channels last)")
        integer = not torch.is_floating_point(x)
        if integer and x.dtype != torch.uint8:
            raise InputError(f"tensor dtype {x.dtype} unsupported; use torch.uint8 or a float dtype in [0, 1]")
        h, w = x.shape[:2]
        if h == 0 or w == 0:
            raise InputError(f"tensor shape {tuple(x.shape)} is empty")
        if not integer and not bool(torch.isfinite(x).all()):
            raise _nonfinite(int(torch.isnan(x).sum()), int(torch.isinf(x).sum()), "tensor", "torch.nan_to_num(x, ")
        if not integer and x.numel() and float(x.max()) > FLOAT_MAX:
            raise _not_unit_range(float(x.max()), "tensor", str(x.dtype))
        if self._make_plan_needs_tiles(h, w):
            src = x.detach().cpu()
            y = self._run_numpy((src.float() if src.dtype == torch.bfloat16 else src).numpy(), None)
            return torch.from_numpy(y).to(device=x.device, dtype=x.dtype)
        src = x if x.ndim == 3 else x[:, :, None]
        c = src.shape[2]
        rgb = src[:, :, :1].expand(h, w, 3) if c == 1 else src[:, :, list(self._rgb_index())]
        inp = rgb.permute(2, 0, 1).unsqueeze(0).float()
        inp = inp / 255.0 if integer else inp.clamp(0.0, 1.0)  # floats are [0, 1] by contract
        m = self.pad_multiple
        hp, wp = -(-h // m) * m, -(-w // m) * m
        if (hp, wp) != (h, w):
            inp = torch.nn.functional.pad(inp, (0, wp - w, 0, hp - h), mode="replicate")
        y = self.backend.run_tensor(inp)[0, :, :h * self.scale, :w * self.scale].float().clamp_(0, 1)
        if c == 1:
            y = (y[0] * _LUMA[0] + y[1] * _LUMA[1] + y[2] * _LUMA[2])[None]
        else:
            order = self._rgb_index()
            y = y[[order.index(i) for i in range(3)]]
        out = y.permute(1, 2, 0)
        if c == 4:
            a = src[:, :, 3:].permute(2, 0, 1).unsqueeze(0).float()
            a = torch.nn.functional.interpolate(a, scale_factor=self.scale, mode="bicubic", align_corners=False)
            a = a[0].permute(1, 2, 0).clamp(0, 255 if integer else 1).to(out.device)
            out = torch.cat([out, a / 255.0 if integer else a], dim=2)
        if integer:
            out = (out * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8)
        else:
            out = out.to(x.dtype)
        if x.ndim == 2:
            out = out[:, :, 0]
        return out.to(x.device)

    def _make_plan_needs_tiles(self, h: int, w: int) -> bool:
        key = ("tensor", h, w)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._make_plan(h, w, 3)
        return plan.tiles is not None


#: a float frame whose maximum is above this is taken for 0-255 (or 0-65535) data, not [0, 1]: refused.
#: Overshoots up to it (filters, HDR-ish highlights, 1.001 rounding) saturate to 1 as documented.
FLOAT_MAX = 2.0


def _check_finite(frame: np.ndarray) -> None:
    """NaN/inf would spread through every convolution into the whole output: refuse them; so would a
    float frame in 0..255 turn the output white (floats are [0, 1]): refuse that too, naming ``/ 255``.
    min/max propagate NaN and allocate nothing, so a clean frame costs two reductions."""
    with np.errstate(invalid="ignore"):
        lo, hi = frame.min(), frame.max()
    if np.isfinite(lo) and np.isfinite(hi):
        if hi > FLOAT_MAX:
            raise _not_unit_range(float(hi), "frame", frame.dtype.name)
        return
    raise _nonfinite(int(np.isnan(frame).sum()), int(np.isinf(frame).sum()), "frame", "np.nan_to_num(frame, ")


def _not_unit_range(hi: float, what: str, dtype: str) -> InputError:
    div = "65535" if hi > 255.5 else "255"
    x, cast = ("x", "x.to(torch.uint8)") if what == "tensor" else ("frame", "frame.astype(np.uint8)")
    return InputError(f"{dtype} {what} values reach {hi:.6g}, but float frames are [0, 1] (above {FLOAT_MAX:g} "
                      f"they are refused, not saturated to white); for 0-{div} data pass {x} / {div}"
                      + (f" (or 0-255 integers as uint8: {cast})" if div == "255" else ""))


def _nonfinite(nan: int, inf: int, what: str, fix: str) -> InputError:
    found = " and ".join(f"{n} {k}" for n, k in ((nan, "NaN"), (inf, "inf")) if n)
    return InputError(f"float {what} has {found} values, which would spread through the whole output; replace "
                      f"them first, e.g. {fix}nan=0.0, posinf=1.0, neginf=0.0)")


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "permute")
