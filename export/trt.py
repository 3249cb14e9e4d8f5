"""ONNX -> TensorRT engine, with a JSON sidecar that ties the engine to its GPU and TensorRT.

The engine file stays a plain TensorRT plan (trtexec / Polygraphy load it as-is); everything
edgesr needs lives beside it in ``model.engine.json``: TensorRT version, GPU name and compute
capability, precision, profile shapes, scale, SHA-256 of the source ONNX and of the engine, and a
cache key. ``build_engine`` reuses an engine whose sidecar matches the requested build on this
machine; ``check_engine`` refuses (EngineMismatchError) an engine built elsewhere.

Everything except ``build_engine``/``check_engine``'s environment probe is pure and testable
without TensorRT. Version differences are delegated to ``trt_compat``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shlex
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from edgesr.errors import ConfigError, EngineMismatchError, ModelFormatError
from edgesr.fileio import atomic_write_bytes, atomic_write_text
from edgesr.precision import Precision

log = logging.getLogger(__name__)

SIDECAR_FORMAT = "edgesr.engine"
SIDECAR_VERSION = 1
Shape = tuple[int, ...]
# Default dynamic profile (LR input): opt is 360p landscape; max is square so both 1080x1920
# landscape and 1920x1080 portrait frames fit one profile (one context, no profile switching).
DEFAULT_MIN_HW, DEFAULT_OPT_HW, DEFAULT_MAX_HW = (16, 16), (360, 640), (1920, 1920)


@dataclass(frozen=True)
class Profile:
    """One optimization profile for the (single) NCHW input."""

    min: Shape
    opt: Shape
    max: Shape

    def to_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def parse_shape(text: str | Sequence[int]) -> Shape:
    """``"1x3x360x640"`` (or ``1,3,360,640``) -> ``(1, 3, 360, 640)``."""
    if not isinstance(text, str):
        return tuple(int(v) for v in text)
    parts = [p for p in re.split(r"[x,X\s]+", text.strip()) if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"cannot read shape {text!r}; write it as NxCxHxW, e.g. 1x3x360x640") from None
    if len(shape) != 4 or min(shape) < 1:
        raise ConfigError(f"shape {text!r} must be 4 positive numbers NxCxHxW, e.g. 1x3x360x640")
    return shape


def fixed_profile(shape: str | Sequence[int], channels: int = 3) -> tuple[Shape, Shape, Shape]:
    """``"360x640"`` (HxW) or ``"1x3x360x640"`` -> min = opt = max: the profile of a fixed-shape engine.

    A video or camera has one frame size; an engine built for exactly that shape lets TensorRT pick
    kernels for it instead of for a range (reported much faster than a dynamic profile; unverified
    here: no GPU ran it)."""
    if isinstance(shape, str) and len([p for p in re.split(r"[x,X\s]+", shape.strip()) if p]) == 2:
        h, w = (int(v) for v in re.split(r"[x,X\s]+", shape.strip()) if v)
        shape = (1, channels, h, w)
    full = parse_shape(shape)
    return full, full, full


def size_engine_path(onnx_path: str | os.PathLike[str], h: int, w: int, precision: str | None,
                     cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the fixed-shape engine of ``onnx_path`` for HxW frames lives: ``<cache>/<stem>.<H>x<W>.<prec>.engine``
    (cache: beside the ONNX). One engine per frame size; its sidecar decides whether it is reused."""
    src = Path(onnx_path)
    folder = Path(cache_dir) if cache_dir is not None else src.parent
    return folder / f"{src.stem}.{h}x{w}.{precision or 'graph'}.engine"


def engine_for_size(onnx_path: str | os.PathLike[str], h: int, w: int, *, precision: Precision | str | None = None,
                    cache_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> Path:
    """The fixed-shape engine for HxW input frames: built on first use, reused while its sidecar matches
    (same ONNX, precision, GPU, TensorRT), rebuilt when they change. What the video and stream paths use
    when given an ONNX file on a TensorRT machine (``edgesr upscale clip.mp4 --model m.onnx --backend tensorrt``)."""
    path = size_engine_path(onnx_path, h, w, str(precision) if precision else None, cache_dir)
    return build_engine(onnx_path, path, precision=precision, shape=f"{h}x{w}", overwrite=True, **kwargs)


def _load_checked_onnx(onnx_path: str | os.PathLike[str]) -> Any:
    """Parse and check the ONNX file (before TensorRT is needed): a corrupt file is a clear error."""
    import onnx

    fix = "re-export it with 'edgesr export onnx MODEL.pt -o MODEL.onnx'"
    try:
        proto = onnx.load(str(onnx_path), load_external_data=False)
        onnx.checker.check_model(proto)
    except Exception as e:  # DecodeError (truncated / not protobuf), ValidationError (not a valid model)
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise ModelFormatError(f"{onnx_path} is not a valid ONNX model ({type(e).__name__}: {why}); {fix}") from None
    return proto


def onnx_input(onnx_path: str | os.PathLike[str]) -> tuple[str, tuple[int | None, ...]]:
    """Name and shape (None for symbolic dims) of the ONNX model's single image input."""
    proto = _load_checked_onnx(onnx_path)
    inits = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ModelFormatError(f"{onnx_path} has {len(inputs)} inputs; an SR model has one image input: re-export it "
                               "with 'edgesr export onnx'")
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim)
    return inputs[0].name, dims


def resolve_profile(input_shape: Sequence[int | None], min_shape: Sequence[int] | str | None = None,
                    opt_shape: Sequence[int] | str | None = None,
                    max_shape: Sequence[int] | str | None = None) -> Profile:
    """Fill defaults for dynamic dims, keep static dims, and validate min <= opt <= max."""
    if len(input_shape) != 4:
        raise ModelFormatError(f"the ONNX input has rank {len(input_shape)}; an SR model takes NCHW (rank 4)")

    def fill(given: Sequence[int] | str | None, hw: tuple[int, int]) -> Shape:
        if given is not None:
            return parse_shape(given)
        d = [v if v else None for v in input_shape]
        return (d[0] or 1, d[1] or 3, d[2] or hw[0], d[3] or hw[1])

    mn, opt, mx = fill(min_shape, DEFAULT_MIN_HW), fill(opt_shape, DEFAULT_OPT_HW), fill(max_shape, DEFAULT_MAX_HW)
    if min_shape is None and opt_shape is not None:  # a user opt below the default min
        mn = tuple(min(a, b) for a, b in zip(mn, opt))
    if max_shape is None and opt_shape is not None:
        mx = tuple(max(a, b) for a, b in zip(mx, opt))
    for i, static in enumerate(input_shape):
        if static:
            for label, s in (("min", mn), ("opt", opt), ("max", mx)):
                if s[i] != static:
                    raise ConfigError(f"--{label} {'x'.join(map(str, s))} conflicts with the ONNX's static dim {i} = "
                                      f"{static}; drop --{label}, or re-export with --dynamic")
    if not all(a <= b <= c for a, b, c in zip(mn, opt, mx)):
        raise ConfigError(f"profile must satisfy min <= opt <= max in every dim, got min {mn}, opt {opt}, max {mx}")
    return Profile(mn, opt, mx)


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_fingerprint(path: str | os.PathLike[str] | None) -> str | None:
    """Cheap identity of a calibration folder/video: names, sizes and mtimes (not contents)."""
    if path is None:
        return None
    p = Path(path)
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    h = hashlib.sha256()
    for q in files:
        st = q.stat()
        h.update(f"{q.relative_to(p) if p.is_dir() else q.name}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    return h.hexdigest()


def cache_key(*, onnx_sha256: str, precision: Precision | str, profiles: Sequence[Profile], tensorrt: str, gpu: str,
              compute_capability: str, dla_core: int | None = None, calib: str | None = None) -> str:
    """SHA-256 over everything that makes two builds produce interchangeable engines."""
    payload = {"onnx": onnx_sha256, "precision": str(Precision.parse(precision)),
               "profiles": [p.to_dict() for p in profiles], "tensorrt": tensorrt, "gpu": gpu,
               "cc": compute_capability, "dla_core": dla_core, "calib": calib}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def sidecar_path(engine_path: str | os.PathLike[str]) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    p = Path(engine_path)
    return p.with_name(p.name + ".json")


def make_sidecar(*, env: Mapping[str, str], precision: Precision | str, profiles: Sequence[Profile],
                 input_name: str, scale: int | None, onnx_path: str | os.PathLike[str], onnx_sha256: str,
                 engine_sha256: str, key: str, dla_core: int | None = None, rebuild: str = "",
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format": SIDECAR_FORMAT, "format_version": SIDECAR_VERSION,
        "tensorrt": env["tensorrt"], "gpu": env["gpu"], "compute_capability": env["compute_capability"],
        "precision": str(Precision.parse(precision)), "input": input_name,
        "profiles": [p.to_dict() for p in profiles], "scale": scale, "dla_core": dla_core,
        "onnx": str(onnx_path), "onnx_sha256": onnx_sha256, "engine_sha256": engine_sha256, "cache_key": key,
        "rebuild": rebuild, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **dict(extra or {}),
    }


def write_sidecar(engine_path: str | os.PathLike[str], sidecar: Mapping[str, Any]) -> Path:
    p = sidecar_path(engine_path)
    return atomic_write_text(p, json.dumps(sidecar, indent=2, sort_keys=True) + "\n")


def read_sidecar(engine_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The engine's sidecar; ModelFormatError (with the fix) when missing or not ours."""
    p = sidecar_path(engine_path)
    if not p.is_file():
        raise ModelFormatError(f"{p} not found: edgesr needs the sidecar written by 'edgesr export trt' beside the "
                               f"engine; rebuild with 'edgesr export trt MODEL.onnx -o {engine_path}'")
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ModelFormatError(f"{p} is not valid JSON ({e}); rebuild with 'edgesr export trt MODEL.onnx -o "
                               f"{engine_path}'") from None
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        raise ModelFormatError(f"{p} is not an edgesr engine sidecar; rebuild with 'edgesr export trt'")
    return data


def compare_environment(sidecar: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """Human-readable differences between where the engine was built and ``env`` (empty: compatible).

    Engines are tied to the exact TensorRT version and the GPU model (compute capability alone is not
    enough: SM count and memory change tactic choices, and TensorRT checks the device at load time).
    """
    diffs = []
    for key, label in (("tensorrt", "TensorRT"), ("compute_capability", "compute capability"), ("gpu", "GPU")):
        if str(sidecar.get(key)) != str(env.get(key)):
            diffs.append(f"{label} {sidecar.get(key)} (engine) vs {env.get(key)} (this machine)")
    return diffs


def rebuild_command(onnx_path: str | os.PathLike[str], engine_path: str | os.PathLike[str],
                    precision: Precision | str, profile: Profile | None = None, dla_core: int | None = None,
                    calib: str | os.PathLike[str] | None = None) -> str:
    cmd = ["edgesr", "export", "trt", str(onnx_path), "-o", str(engine_path), "--precision",
           str(Precision.parse(precision))]
    if profile is not None:
        for label, s in (("--min", profile.min), ("--opt", profile.opt), ("--max", profile.max)):
            cmd += [label, "x".join(map(str, s))]
    if calib is not None:
        cmd += ["--calib", str(calib)]
    if dla_core is not None:
        cmd += ["--dla-core", str(dla_core)]
    return shlex.join(cmd)


def check_sidecar(engine_path: str | os.PathLike[str], env: Mapping[str, str]) -> dict[str, Any]:
    """Pure part of ``check_engine``: the sidecar if it matches ``env``, else EngineMismatchError."""
    side = read_sidecar(engine_path)
    diffs = compare_environment(side, env)
    if diffs:
        fix = side.get("rebuild") or f"edgesr export trt MODEL.onnx -o {engine_path}"
        raise EngineMismatchError(f"{engine_path} was built for another machine: {'; '.join(diffs)}. TensorRT engines "
                                  f"are not portable; rebuild with {fix}")
    return side


def check_engine(engine_path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The engine's sidecar, after checking it was built on this GPU with this TensorRT.

    ``env`` (``{"tensorrt", "gpu", "compute_capability"}``) defaults to this machine
    (``trt_compat.current_environment()``, which needs TensorRT and a GPU).
    """
    if not Path(engine_path).is_file():
        raise ModelFormatError(f"engine not found: {engine_path}; build it with 'edgesr export trt MODEL.onnx -o "
                               f"{engine_path}'")
    if env is None:
        from .trt_compat import current_environment

        env = current_environment()
    return check_sidecar(engine_path, env)


def reusable(engine_path: str | os.PathLike[str], key: str) -> bool:
    """True when ``engine_path`` exists, its sidecar carries ``key``, and the file is the one built."""
    p = Path(engine_path)
    if not p.is_file() or not sidecar_path(p).is_file():
        return False
    try:
        side = read_sidecar(p)
    except ModelFormatError:
        return False
    return side.get("cache_key") == key and side.get("engine_sha256") == file_sha256(p)


def _scale_of(onnx_path: str | os.PathLike[str]) -> int | None:
    from .onnx import read_metadata

    s = read_metadata(onnx_path).get("edgesr.scale")
    return int(s) if s and s.isdigit() else None


def _convert_onnx(kind: str, src: Path, workdir: Path, calib: Any, calib_method: str) -> Path:
    """Rewrite the ONNX to carry its precision (TRT >= 11 path) via the calibration layer."""
    try:
        from edgesr import calibration
    except ImportError:
        raise ConfigError("edgesr.calibration is not available in this install; export the fp16/Q-DQ ONNX "
                          "separately with 'edgesr export onnx --fp16' or '--int8 --calib DATA'") from None
    out = workdir / f"{src.stem}.{kind}.onnx"
    if kind == "fp16":
        calibration.to_fp16(src, out)
    else:
        calibration.quantize_onnx(src, out, calib=calib, method=calib_method)
    return out


def build_engine(onnx_path: str | os.PathLike[str], engine_path: str | os.PathLike[str] | None = None, *,
                 precision: Precision | str | None = None, calib: str | os.PathLike[str] | None = None,
                 calib_method: str = "percentile", min_shape: Sequence[int] | str | None = None,
                 opt_shape: Sequence[int] | str | None = None, max_shape: Sequence[int] | str | None = None,
                 workspace_mib: int = 1024, timing_cache: str | os.PathLike[str] | None = None,
                 dla_core: int | None = None, force: bool = False, verbose: bool = False,
                 overwrite: bool = False, shape: str | Sequence[int] | None = None) -> Path:
    """Build (or reuse) a TensorRT engine for ``onnx_path`` and write its sidecar.

    ``precision`` None means the ONNX graph's own precision (fp32, or fp16 / int8 if it was exported
    that way). ``calib`` (image folder or video) is needed for int8 from an fp32 ONNX. The profile
    defaults cover 16x16 .. 1920x1920 inputs (landscape 1080x1920 and portrait 1920x1080), opt 360x640.
    ``shape`` (``"360x640"`` or ``"1x3x360x640"``) builds a fixed-shape engine (min = opt = max) instead; it
    cannot be combined with ``min_shape`` / ``opt_shape`` / ``max_shape``.
    ``timing_cache`` (default: ``<engine>.timing.cache``) is reused and updated across builds.
    An engine whose sidecar cache key matches is reused unless ``force``; an existing engine built from
    other settings is replaced only with ``overwrite`` (or ``force``), else refused before the build.
    """
    from . import trt_compat as tc
    from .onnx import graph_precision

    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise ModelFormatError(f"ONNX file not found: {onnx_path}; export one with 'edgesr export onnx MODEL.pt'")
    engine_path = Path(engine_path) if engine_path is not None else onnx_path.with_suffix(".engine")
    from edgesr.overwrite import check_output

    check_output(engine_path, "engine", overwrite=True, flag="-o")  # kind and a writable folder; existing: below
    if workspace_mib <= 0:
        raise ConfigError(f"--workspace must be a positive number of MiB, got {workspace_mib}")
    input_name, dims = onnx_input(onnx_path)
    if shape is not None:
        if any(v is not None for v in (min_shape, opt_shape, max_shape)):
            raise ConfigError("--shape builds a fixed-shape engine; drop --min/--opt/--max (or drop --shape)")
        min_shape, opt_shape, max_shape = fixed_profile(shape, int(dims[1] or 3))
    profile = resolve_profile(dims, min_shape, opt_shape, max_shape)
    graph = graph_precision(onnx_path)
    t = tc.import_tensorrt()  # MissingDependencyError(extra "trt") without TensorRT
    feats = tc.detect(t)
    plan = tc.plan_build(feats, precision, graph, has_calib=calib is not None, dla=dla_core is not None)
    env = tc.current_environment()
    onnx_sha = file_sha256(onnx_path)
    key = cache_key(onnx_sha256=onnx_sha, precision=plan.precision, profiles=[profile], tensorrt=env["tensorrt"],
                    gpu=env["gpu"], compute_capability=env["compute_capability"], dla_core=dla_core,
                    calib=data_fingerprint(calib) if plan.calibrator or plan.convert == "qdq" else None)
    if not force and reusable(engine_path, key):
        log.info("reusing %s (sidecar matches this ONNX, precision, profile, GPU and TensorRT)", engine_path)
        return engine_path
    if engine_path.exists() and not (overwrite or force):
        raise ConfigError(f"engine {engine_path} already exists, built from other settings (its sidecar does not match "
                          "this ONNX, precision, profile, GPU or TensorRT); pass --overwrite (overwrite=True) to "
                          "rebuild it, or choose another -o")
    timing_cache = Path(timing_cache) if timing_cache is not None else engine_path.with_name(engine_path.name + ".timing.cache")
    log.info("building %s with TensorRT %s: %s, profile %s..%s (opt %s)%s", engine_path, feats.version, plan,
             profile.min, profile.max, profile.opt, f", DLA core {dla_core}" if dla_core is not None else "")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=engine_path.parent, prefix=".edgesr-trt-") as work:
        src = _convert_onnx(plan.convert, onnx_path, Path(work), calib, calib_method) if plan.convert else onnx_path
        logger = tc.make_logger(t, verbose)
        builder = t.Builder(logger)
        network = tc.create_network(builder, t, feats, plan.strongly_typed)
        parser = tc.parse_onnx(t, network, logger, src)  # noqa: F841  (must outlive the build)
        config = builder.create_builder_config()
        tc.set_workspace(config, t, feats, workspace_mib)
        tc.set_builder_flags(config, t, plan.builder_flags)
        if dla_core is not None:
            tc.set_dla(config, t, dla_core)
        calibrator = None
        if plan.calibrator:
            from edgesr import calibration

            cache_file = engine_path.with_name(f"{onnx_path.stem}.{(data_fingerprint(calib) or '')[:12]}.calib")
            calibrator = calibration.TRTCalibrator(calib, cache_file=cache_file)
            tc.set_calibrator(config, calibrator)
        tc.add_profile(builder, config, input_name, profile.min, profile.opt, profile.max)
        tc.load_timing_cache(config, feats, timing_cache)
        blob = tc.build_serialized(builder, network, config)
        tc.save_timing_cache(config, feats, timing_cache)
        atomic_write_bytes(engine_path, bytes(memoryview(blob)))
    side = make_sidecar(env=env, precision=plan.precision, profiles=[profile], input_name=input_name,
                        scale=_scale_of(onnx_path), onnx_path=onnx_path, onnx_sha256=onnx_sha,
                        engine_sha256=file_sha256(engine_path), key=key, dla_core=dla_core,
                        rebuild=rebuild_command(onnx_path, engine_path, plan.precision, profile, dla_core, calib),
                        extra={"strongly_typed": plan.strongly_typed, "builder_flags": list(plan.builder_flags),
                               "graph_precision": str(graph), "converted": plan.convert})
    write_sidecar(engine_path, side)
    log.info("wrote %s (%.1f MiB) and %s", engine_path, engine_path.stat().st_size / 2**20, sidecar_path(engine_path))
    return engine_path
