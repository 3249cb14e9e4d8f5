"""Degradation pipeline for real-world training pairs (BSRGAN / Real-ESRGAN first stage).

Order, fixed (each stage runs with its own probability, and is skipped at probability 0)::

    HR -> blur -> downscale to exactly (H // s, W // s) -> noise -> JPEG -> H.264 -> LR
                   [second_order: blur -> noise -> JPEG -> H.264 again, on the LR]

- blur: isotropic or anisotropic (rotated) Gaussian kernel, odd size drawn from a range;
- downscale: MATLAB bicubic (:func:`edgesr.data.bicubic.imresize`), bilinear or area (``cv2.resize``),
  drawn with weights;
- noise: Gaussian (sigma on 0..255) or Poisson (variance ``scale**2 * value``), in RGB or luma only
  (the same noise on R, G and B);
- JPEG: ``cv2.imencode`` at a quality drawn from a range;
- H.264: the LR crop as a 1..n-frame clip (earlier frames shifted by a few pixels, the last one
  unshifted) encoded by libx264 (yuv420p, odd sides padded; its C path, which is repeatable)
  through PyAV into memory, decoded back, last frame kept.

The image stays float64 in [0, 255] between stages and is rounded to uint8 only where a codec
needs it and at the end. Every random choice comes from the ``numpy.random.Generator`` passed in,
so ``degrade(hr, scale, np.random.default_rng(seed), cfg)`` is reproducible.
"""
from __future__ import annotations

import dataclasses
import difflib
import io
import json
import logging
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Mapping

import cv2
import numpy as np

from ..config import from_dict
from ..errors import ConfigError, InputError
from .bicubic import imresize

log = logging.getLogger(__name__)

Range = tuple[float, float]
IntRange = tuple[int, int]
RESIZE_KERNELS = ("bicubic", "bilinear", "area")


def _check_prob(owner: str, name: str, p: float) -> None:
    if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ConfigError(f"{owner}.{name} must be a probability in [0, 1], got {p!r}")


def _check_range(owner: str, name: str, r: Any, lo: float, hi: float, integer: bool = False) -> None:
    kind = "integers" if integer else "numbers"
    ok = isinstance(r, tuple) and len(r) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                       for v in r)
    if ok and integer:
        ok = all(float(v).is_integer() for v in r)
    if not ok or not lo <= r[0] <= r[1] <= hi:
        raise ConfigError(f"{owner}.{name} must be [low, high] {kind} with {lo} <= low <= high <= {hi} "
                          f"(use [x, x] for a fixed value), got {r!r}")


@dataclass(frozen=True)
class BlurConfig:
    """Gaussian blur of the HR image (and of the LR in the second pass)."""

    prob: float = 0.0
    kernel_size: IntRange = (7, 21)  # odd sizes drawn uniformly from this range
    sigma: Range = (0.2, 3.0)  # isotropic sigma; per-axis sigmas for anisotropic (pixels)
    aniso_prob: float = 0.0  # probability that a blur is anisotropic
    rotation: Range = (0.0, 180.0)  # anisotropic kernel angle, degrees

    def __post_init__(self) -> None:
        _check_prob("blur", "prob", self.prob)
        _check_prob("blur", "aniso_prob", self.aniso_prob)
        _check_range("blur", "kernel_size", self.kernel_size, 1, 99, integer=True)
        if self.kernel_size[0] % 2 == 0 or self.kernel_size[1] % 2 == 0:
            raise ConfigError(f"blur.kernel_size bounds must be odd, got {self.kernel_size!r}; e.g. [7, 21]")
        _check_range("blur", "sigma", self.sigma, 1e-3, 50.0)
        _check_range("blur", "rotation", self.rotation, -360.0, 360.0)


@dataclass(frozen=True)
class ResizeConfig:
    """Downscaling kernel, drawn with ``weights`` (empty: equal weights)."""

    kernels: tuple[str, ...] = ("bicubic",)
    weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.kernels, tuple) or not self.kernels:
            raise ConfigError(f"resize.kernels must be a non-empty list of {', '.join(RESIZE_KERNELS)}")
        for k in self.kernels:
            if k not in RESIZE_KERNELS:
                close = difflib.get_close_matches(str(k), RESIZE_KERNELS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; use one of {', '.join(RESIZE_KERNELS)}"
                raise ConfigError(f"unknown resize kernel {k!r}{hint}")
        w = self.weights
        if w and (len(w) != len(self.kernels) or any(not isinstance(v, (int, float)) or v < 0 for v in w)
                  or sum(w) <= 0):
            raise ConfigError(f"resize.weights must be {len(self.kernels)} non-negative numbers with a positive "
                              f"sum (one per kernel), or [] for equal weights; got {w!r}")


@dataclass(frozen=True)
class NoiseConfig:
    """Additive noise on the LR: Gaussian or (with ``poisson_prob``) Poisson; RGB or luma only."""

    prob: float = 0.0
    sigma: Range = (1.0, 8.0)  # Gaussian sigma on 0..255
    poisson_prob: float = 0.0  # probability that a noise draw is Poisson instead of Gaussian
    poisson_scale: Range = (0.05, 1.0)  # Poisson noise = scale * (Poisson(value) - value)
    gray_prob: float = 0.0  # probability that the noise is luma only (same on R, G, B)

    def __post_init__(self) -> None:
        for name in ("prob", "poisson_prob", "gray_prob"):
            _check_prob("noise", name, getattr(self, name))
        _check_range("noise", "sigma", self.sigma, 0.0, 255.0)
        _check_range("noise", "poisson_scale", self.poisson_scale, 0.0, 100.0)


@dataclass(frozen=True)
class JpegConfig:
    prob: float = 0.0
    quality: IntRange = (40, 95)

    def __post_init__(self) -> None:
        _check_prob("jpeg", "prob", self.prob)
        _check_range("jpeg", "quality", self.quality, 1, 100, integer=True)


@dataclass(frozen=True)
class H264Config:
    """H.264 (libx264, yuv420p) round trip of the LR as a short clip, through PyAV."""

    prob: float = 0.0
    crf: IntRange = (20, 35)
    frames: IntRange = (1, 3)  # clip length; the last (unshifted) frame is kept
    shift: int = 2  # max shift (pixels) of the earlier frames: motion for the P/B-frames
    preset: str = "medium"

    def __post_init__(self) -> None:
        _check_prob("h264", "prob", self.prob)
        _check_range("h264", "crf", self.crf, 0, 51, integer=True)
        _check_range("h264", "frames", self.frames, 1, 16, integer=True)
        if not isinstance(self.shift, int) or not 0 <= self.shift <= 16:
            raise ConfigError(f"h264.shift must be an integer in [0, 16], got {self.shift!r}")
        presets = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
        if self.preset not in presets:
            close = difflib.get_close_matches(str(self.preset), presets, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; use one of {', '.join(presets)}"
            raise ConfigError(f"unknown h264.preset {self.preset!r}{hint}")


_STAGES: dict[str, type] = {"blur": BlurConfig, "resize": ResizeConfig, "noise": NoiseConfig, "jpeg": JpegConfig,
                            "h264": H264Config}


@dataclass(frozen=True)
class DegradeConfig:
    """The whole pipeline; the default is the classic protocol (MATLAB bicubic only)."""

    blur: BlurConfig = field(default_factory=BlurConfig)
    resize: ResizeConfig = field(default_factory=ResizeConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    jpeg: JpegConfig = field(default_factory=JpegConfig)
    h264: H264Config = field(default_factory=H264Config)
    second_order: bool = False  # a second blur -> noise -> JPEG -> H.264 pass on the LR

    def __post_init__(self) -> None:
        for name, cls in _STAGES.items():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"degrade.{name} must be a {cls.__name__} (a JSON object), "
                                  f"got {type(getattr(self, name)).__name__}")
        if not isinstance(self.second_order, bool):
            raise ConfigError(f"degrade.second_order must be true or false, got {self.second_order!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DegradeConfig":
        """From a plain dict (e.g. parsed JSON): nested stage objects, unknown keys rejected."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a degradation config must be a JSON object, got {type(data).__name__}")
        parsed = {k: from_dict(_STAGES[k], v, what=f"degrade.{k}") if k in _STAGES and isinstance(v, Mapping) else v
                  for k, v in data.items()}
        return from_dict(cls, parsed, what="degrade")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "DegradeConfig":
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"degradation config not found: {p}; pass a JSON file or a preset "
                              f"({', '.join(PRESETS)})")
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p} is not valid JSON ({e}); fix the file") from None
        return cls.from_dict(data)

    @classmethod
    def preset(cls, name: str) -> "DegradeConfig":
        """``"real"`` (camera/video input) or ``"bicubic"`` (the classic protocol)."""
        if name not in PRESETS:
            close = difflib.get_close_matches(name, list(PRESETS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown degradation preset {name!r}{hint}; presets: {', '.join(PRESETS)}")
        return PRESETS[name]()

    @classmethod
    def load(cls, spec: str | os.PathLike[str]) -> "DegradeConfig":
        """A preset name or a JSON file path (what a ``--degrade`` option takes)."""
        return cls.preset(str(spec)) if str(spec) in PRESETS else cls.from_file(spec)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict; ``from_dict(to_dict())`` gives an equal config."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def _real() -> DegradeConfig:
    return DegradeConfig(
        blur=BlurConfig(prob=0.8, kernel_size=(7, 13), sigma=(0.2, 1.5), aniso_prob=0.5, rotation=(0.0, 180.0)),
        resize=ResizeConfig(kernels=("bicubic", "bilinear", "area"), weights=(0.4, 0.3, 0.3)),
        noise=NoiseConfig(prob=0.8, sigma=(1.0, 8.0), poisson_prob=0.3, poisson_scale=(0.05, 1.0), gray_prob=0.4),
        jpeg=JpegConfig(prob=0.7, quality=(40, 95)),
        h264=H264Config(prob=0.3, crf=(20, 35), frames=(1, 3), shift=2, preset="medium"),
    )


PRESETS: dict[str, Callable[[], DegradeConfig]] = {"real": _real, "bicubic": DegradeConfig}


# ---------------------------------------------------------------- stages


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, angle_deg: float = 0.0) -> np.ndarray:
    """Normalised ``size`` x ``size`` Gaussian; anisotropic when ``sigma_y`` differs, rotated by ``angle_deg``."""
    sy = sigma_x if sigma_y is None else sigma_y
    t = math.radians(angle_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    inv = np.linalg.inv(rot @ np.diag([sigma_x**2, sy**2]) @ rot.T)
    ax = np.arange(size, dtype=np.float64) - size // 2
    xy = np.stack(np.meshgrid(ax, ax), axis=-1)  # (..., [x, y])
    k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", xy, inv, xy))
    return k / k.sum()


def _uniform(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def _integer(rng: np.random.Generator, r: IntRange) -> int:
    return int(rng.integers(int(r[0]), int(r[1]) + 1))


def _blur(x: np.ndarray, rng: np.random.Generator, c: BlurConfig) -> np.ndarray:
    if not rng.random() < c.prob:
        return x
    size = int(rng.choice(np.arange(int(c.kernel_size[0]), int(c.kernel_size[1]) + 1, 2)))
    if rng.random() < c.aniso_prob:
        k = gaussian_kernel(size, _uniform(rng, c.sigma), _uniform(rng, c.sigma), _uniform(rng, c.rotation))
    else:
        k = gaussian_kernel(size, _uniform(rng, c.sigma))
    return cv2.filter2D(x, -1, k, borderType=cv2.BORDER_REFLECT_101)


def _downscale(x: np.ndarray, out_hw: tuple[int, int], scale: int, rng: np.random.Generator,
               c: ResizeConfig) -> np.ndarray:
    w = np.asarray(c.weights or [1.0] * len(c.kernels), dtype=np.float64)
    kernel = c.kernels[int(rng.choice(len(c.kernels), p=w / w.sum()))]
    if out_hw == x.shape[:2]:
        return x
    if kernel == "bicubic":
        return imresize(x, 1.0 / scale, output_shape=out_hw)
    interp = cv2.INTER_AREA if kernel == "area" else cv2.INTER_LINEAR
    return cv2.resize(x, (out_hw[1], out_hw[0]), interpolation=interp)


def _noise(x: np.ndarray, rng: np.random.Generator, c: NoiseConfig) -> np.ndarray:
    if not rng.random() < c.prob:
        return x
    poisson, gray = rng.random() < c.poisson_prob, rng.random() < c.gray_prob
    base = x.clip(0, 255)
    if gray:  # luma only: one noise field, added to R, G and B
        base = (0.299 * base[..., 0] + 0.587 * base[..., 1] + 0.114 * base[..., 2])[..., None]
    if poisson:
        n = (rng.poisson(base) - base) * _uniform(rng, c.poisson_scale)
    else:
        n = rng.standard_normal(base.shape) * _uniform(rng, c.sigma)
    return np.clip(x + n, 0, 255)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Encode/decode an RGB uint8 image with OpenCV's JPEG at ``quality``."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise InputError(f"OpenCV could not JPEG-encode a {rgb.shape} image")
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if dec is None:
        raise InputError(f"OpenCV could not decode its own JPEG of a {rgb.shape} image")
    return np.ascontiguousarray(dec[..., ::-1])


def _jpeg(x: np.ndarray, rng: np.random.Generator, c: JpegConfig) -> np.ndarray:
    if not rng.random() < c.prob:
        return x
    return jpeg_roundtrip(_to_u8(x), _integer(rng, c.quality)).astype(np.float64)


def h264_roundtrip(frames: list[np.ndarray], crf: int, preset: str = "medium") -> np.ndarray:
    """Encode RGB uint8 ``frames`` (same shape) as an H.264 clip in memory; return the last decoded frame."""
    return h264_clip(frames, crf, preset)[-1]


def h264_clip(frames: list[np.ndarray], crf: int, preset: str = "medium", fps: int = 25) -> list[np.ndarray]:
    """Every frame of RGB uint8 ``frames`` (same shape) after an in-memory libx264 round trip (yuv420p, the
    degradation's encoder settings): the compressed LR clips of the temporal benchmark, and the last frame of
    a short clip for training crops."""
    import av

    h, w = frames[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))  # yuv420p needs even sides
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="h264") as out:
        s: Any = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
        # asm=0: libx264's SIMD paths (AVX-512 here) gave run-to-run different bitstreams for the same
        # multi-frame clip (18 of 120 encodes); its C path gave none, for a few ms per training crop
        s.options = {"crf": str(int(crf)), "preset": preset, "x264-params": "asm=0"}
        s.thread_count = 1
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.pad(f, pad, mode="edge")), format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            for packet in s.encode(vf):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf, mode="r", format="h264") as inp:
        decoded = [fr.to_ndarray(format="rgb24") for fr in inp.decode(video=0)]
    if len(decoded) != len(frames):
        raise InputError(f"H.264 round trip returned {len(decoded)} of {len(frames)} frames for a {w}x{h} crop")
    return [np.ascontiguousarray(d[:h, :w]) for d in decoded]


def _shifted(img: np.ndarray, dy: int, dx: int, m: int) -> np.ndarray:
    p = np.pad(img, ((m, m), (m, m), (0, 0)), mode="edge")
    return p[m + dy:m + dy + img.shape[0], m + dx:m + dx + img.shape[1]]


def _h264(x: np.ndarray, rng: np.random.Generator, c: H264Config) -> np.ndarray:
    if not rng.random() < c.prob:
        return x
    crf, n = _integer(rng, c.crf), _integer(rng, c.frames)
    img = _to_u8(x)
    shifts = rng.integers(-c.shift, c.shift + 1, (n - 1, 2))
    clip = [_shifted(img, int(dy), int(dx), c.shift) for dy, dx in shifts]
    return h264_roundtrip([*clip, img], crf, c.preset).astype(np.float64)


def _check_input(hr: Any, scale: int) -> None:
    if not isinstance(hr, np.ndarray) or hr.dtype != np.uint8 or hr.ndim != 3 or hr.shape[2] != 3:
        what = f"{hr.dtype} {hr.shape}" if isinstance(hr, np.ndarray) else type(hr).__name__
        raise InputError(f"degrade expects an HxWx3 uint8 RGB image, got {what}")
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ConfigError(f"scale must be an integer >= 1, got {scale!r}")
    if min(hr.shape[:2]) < scale:
        raise InputError(f"a {hr.shape[1]}x{hr.shape[0]} image is smaller than the scale x{scale}")


def _lr_stages(x: np.ndarray, rng: np.random.Generator, cfg: DegradeConfig) -> np.ndarray:
    return _h264(_jpeg(_noise(x, rng, cfg.noise), rng, cfg.jpeg), rng, cfg.h264)


def degrade(hr: np.ndarray, scale: int, rng: np.random.Generator | int, cfg: DegradeConfig) -> np.ndarray:
    """HR RGB uint8 -> LR RGB uint8 of exactly ``(H // scale, W // scale)``, all draws from ``rng``."""
    _check_input(hr, scale)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    out_hw = (hr.shape[0] // scale, hr.shape[1] // scale)
    x = _blur(hr.astype(np.float64), rng, cfg.blur)
    x = _downscale(x, out_hw, int(scale), rng, cfg.resize)
    x = _lr_stages(x, rng, cfg)
    if cfg.second_order:
        x = _lr_stages(_blur(x, rng, cfg.blur), rng, cfg)
    return _to_u8(x)


# ---------------------------------------------------------------- held-out evaluation


@dataclass(frozen=True)
class HeldOutProtocol:
    """A fixed degradation for evaluation: ``protocol(hr, scale)`` is deterministic."""

    name: str
    description: str
    cfg: DegradeConfig
    seed: int = 0

    def __call__(self, hr: np.ndarray, scale: int) -> np.ndarray:
        return degrade(hr, scale, np.random.default_rng(self.seed), self.cfg)


def held_out_protocols() -> dict[str, HeldOutProtocol]:
    """The three evaluation degradations of issue 16 (never used for training)."""
    protos = [
        HeldOutProtocol("blur_bicubic_jpeg50", "Gaussian blur sigma 1.2 (9x9) on HR, MATLAB bicubic, JPEG q=50",
                        DegradeConfig(blur=BlurConfig(prob=1.0, kernel_size=(9, 9), sigma=(1.2, 1.2)),
                                      jpeg=JpegConfig(prob=1.0, quality=(50, 50)))),
        HeldOutProtocol("bicubic_h264_crf28", "MATLAB bicubic, H.264 (libx264 medium, yuv420p, 1 frame) CRF 28",
                        DegradeConfig(h264=H264Config(prob=1.0, crf=(28, 28), frames=(1, 1)))),
        HeldOutProtocol("area_noise5", "area downscale, RGB Gaussian noise sigma 5 (seed 0)",
                        DegradeConfig(resize=ResizeConfig(kernels=("area",)),
                                      noise=NoiseConfig(prob=1.0, sigma=(5.0, 5.0))), seed=0),
    ]
    return {p.name: p for p in protos}
