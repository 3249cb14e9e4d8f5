"""The rows of ``edgesr bench``: one runner per backend / precision / peer, and the model they run.

Every runner maps a BGR uint8 frame to its upscaled BGR uint8 frame, so each row pays what a
caller of the runtime pays (conversions included). Split from ``edgesr.bench.run``.
"""
from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .result import INSTALL_CONTRIB, PEERS, SIZES, BenchConfig, Cell
from ..errors import ConfigError, EdgeSRError, ModelFormatError

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------------
# runners: frame (H, W, 3) BGR uint8 -> upscaled frame


class _Runner:
    kind = "edgesr"
    backend = ""
    precision = "fp32"
    device = "cpu"
    peak_key: str | None = None
    cuda = False

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _BackendRunner(_Runner):
    """An edgesr ``Backend``: BGR uint8 -> RGB float NCHW in its own buffer -> run -> BGR uint8."""

    def __init__(self, backend: Any, precision: str, device: str) -> None:
        self.b = backend
        self.backend = backend.name
        self.precision = precision
        self.device = device
        self.cuda = device.startswith("cuda")
        self.peak_key = f"{'cuda' if self.cuda else 'cpu'}_{'fp16' if precision == 'fp16' else 'fp32'}"

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        inp, _ = self.b.buffers((1, 3, h, w))
        np.multiply(frame[:, :, ::-1].transpose(2, 0, 1), np.float32(1 / 255), out=inp[0], casting="unsafe")
        out = self.b.run(inp)
        y = out[0].transpose(1, 2, 0)[:, :, ::-1] * 255.0 + 0.5
        return np.clip(y, 0, 255).astype(np.uint8)

    def close(self) -> None:
        self.b.close()


class _FnRunner(_Runner):
    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], kind: str, backend: str) -> None:
        self.fn, self.kind, self.backend = fn, kind, backend

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.fn(frame)


@dataclass
class _RowSpec:
    name: str
    kind: str
    backend: str
    precision: str
    device: str
    make: Callable[[], _Runner]
    flops_at: Callable[[tuple[int, int]], float | None] = lambda hw: None
    quality_failed: str = ""  # why this row's model failed its quality guard: measured, never ranked


def opencv_superres_available() -> bool:
    """Whether this cv2 build has ``dnn_superres`` (opencv-contrib-python), without importing more."""
    try:
        import cv2
    except ImportError:
        return False
    return hasattr(cv2, "dnn_superres")


# ------------------------------------------------------------------------------------------------
# model resolution


@dataclass
class _Model:
    name: str
    scale: int
    onnx: Path | None = None
    torch_model: Any = None  # nn.Module (for the PyTorch rows and the FLOP count)
    engine: Path | None = None
    notes: list[str] = field(default_factory=list)


def _resolve_model(spec: str | None, scale: int, workdir: Path) -> _Model:
    """Bundled model by default; a path (.onnx/.pt/.engine) or a preset name (random init) otherwise."""
    from edgesr import hub
    from edgesr.models import create_model, list_models, load_model

    if spec is None:
        try:
            onnx_path = hub.bundled_model(scale, format="onnx")
        except EdgeSRError:
            onnx_path = None
        if onnx_path is not None:
            pt = onnx_path.with_suffix(".pt")
            tm = load_model(pt) if pt.is_file() else None
            return _Model(onnx_path.stem, scale, onnx=onnx_path, torch_model=tm)
        log.warning("no bundled model in this installation; benchmarking the untrained edge_tiny preset "
                    "(same architecture, speed does not depend on the weights); pass --model PATH for yours")
        spec = "edge_tiny"
        note = "untrained edge_tiny preset (no bundled weights installed); speed is weight-independent"
    else:
        note = ""
    if spec in list_models():
        import torch

        torch.manual_seed(0)
        m = create_model(spec, scale=scale).eval()
        return _Model(spec, scale, onnx=_export(m, workdir / f"{spec}_x{scale}.onnx"), torch_model=m,
                      notes=[note or f"{spec} preset with random weights (speed only)"])
    p = hub.model_file(spec, "onnx")  # a bundled name (edge_nano_x2): its ONNX, with the .pt beside it
    if not p.is_file():
        raise ModelFormatError(f"--model {spec!r} is neither a file nor a preset ({', '.join(list_models())}); "
                               "pass a .onnx/.pt/.engine path, a bundled name (see edgesr models) or a preset name")
    suffix = p.suffix.lower()
    if suffix in (".pt", ".pth"):
        m = load_model(p).eval()
        return _Model(p.stem, m.scale, onnx=_export(m, workdir / f"{p.stem}.onnx"), torch_model=m)
    if suffix == ".onnx":
        from edgesr.export.onnx import read_metadata

        meta = read_metadata(p)
        s = int(meta.get("edgesr.scale", scale))
        tm, notes = None, []
        if p.with_suffix(".pt").is_file():
            tm = load_model(p.with_suffix(".pt")).eval()
        elif "edgesr.arch" in meta:
            from edgesr.models import build_model

            arch = json.loads(meta["edgesr.arch"])
            tm = build_model(arch["family"], arch["config"], name=arch.get("name")).eval()
            notes.append("PyTorch rows use the ONNX file's architecture with random weights (no .pt beside it)")
        return _Model(meta.get("edgesr.model", p.stem), s, onnx=p, torch_model=tm, notes=notes)
    if suffix in (".engine", ".plan", ".trt"):
        return _Model(p.stem, scale, engine=p, notes=["TensorRT engine given: only the TensorRT row runs"])
    raise ModelFormatError(f"cannot benchmark {p.name}: use a .onnx, .pt or .engine file")


def _export(model: Any, path: Path) -> Path:
    from edgesr.export.onnx import export_onnx

    return export_onnx(model, path, overwrite=True)  # a scratch file in the bench work folder


def _flops_fn(torch_model: Any) -> Callable[[tuple[int, int]], float | None]:
    """FLOPs at any size from one count at a small size (conv FLOPs scale with H*W)."""
    if torch_model is None:
        return lambda hw: None
    from edgesr.models import count_flops

    base_hw = (72, 128)
    base = count_flops(torch_model, base_hw)
    return lambda hw: base * (hw[0] * hw[1]) / (base_hw[0] * base_hw[1])


# ------------------------------------------------------------------------------------------------
# rows


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def _row_specs(cfg: BenchConfig, m: _Model, workdir: Path) -> tuple[list[_RowSpec], list[Cell]]:
    """Every row this machine can run, plus 'skipped' cells for the ones it cannot (with the fix)."""
    import cv2

    specs: list[_RowSpec] = []
    missing: list[tuple[str, str, str, str, str, str]] = []  # name, kind, backend, precision, device, reason
    flops = _flops_fn(m.torch_model)
    scale = m.scale
    use_cuda = cfg.device in ("auto", "cuda") and _cuda_available()
    if cfg.device == "cuda" and not use_cuda:
        raise ConfigError("--device cuda but torch sees no CUDA GPU; run 'edgesr doctor' for the fix")

    def bicubic(frame: np.ndarray) -> np.ndarray:
        return cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)

    specs.append(_RowSpec("bicubic (cv2)", "baseline", "opencv", "-", "cpu",
                          lambda: _FnRunner(bicubic, "baseline", "opencv")))

    def backend_row(name: str, model: Any, backend: str, precision: str, dev: str, /, quality_failed: str = "",
                    **opts: Any) -> None:
        def make() -> _Runner:
            from edgesr.runtimes import open_backend

            return _BackendRunner(open_backend(model, backend, **opts), precision, dev)

        specs.append(_RowSpec(name, "edgesr", backend, precision, dev, make, flops, quality_failed))

    devices = ["cpu"] + (["cuda"] if use_cuda else [])
    if cfg.device == "cuda":
        devices = ["cuda"]
    for dev in devices:
        if m.torch_model is not None:
            for prec in (["fp32"] if dev == "cpu" else ["fp32", "fp16"]):
                backend_row(f"edgesr pytorch {dev} {prec}", m.torch_model, "pytorch", prec, dev, device=dev,
                            precision=prec)
        elif m.onnx is not None:
            missing.append((f"edgesr pytorch {dev}", "edgesr", "pytorch", "fp32", dev,
                            "no PyTorch model (.pt) or architecture metadata for this file"))
        if m.onnx is not None:
            if dev == "cpu":
                backend_row("edgesr onnxruntime cpu fp32", m.onnx, "onnxruntime", "fp32", "cpu", device="cpu",
                            threads=cfg.threads)
                int8, why = _int8_onnx(m.onnx, workdir)
                if int8 is not None:  # ``why`` here: the quality guard's verdict when it failed
                    backend_row("edgesr onnxruntime cpu int8", int8, "onnxruntime", "int8", "cpu", quality_failed=why,
                                device="cpu", threads=cfg.threads)
                else:
                    missing.append(("edgesr onnxruntime cpu int8", "edgesr", "onnxruntime", "int8", "cpu", why))
            else:
                import onnxruntime as ort

                if "CUDAExecutionProvider" in ort.get_available_providers():
                    backend_row("edgesr onnxruntime cuda fp32", m.onnx, "onnxruntime", "fp32", "cuda", device="cuda")
                else:
                    missing.append(("edgesr onnxruntime cuda", "edgesr", "onnxruntime", "fp32", "cuda",
                                    "onnxruntime has no CUDAExecutionProvider: pip install onnxruntime-gpu"))
        if dev == "cuda":
            from .doctor import tensorrt_installed

            if not tensorrt_installed():
                missing.append(("edgesr tensorrt", "edgesr", "tensorrt", "fp16/int8", "cuda",
                                "TensorRT not installed: pip install 'edgesr[trt]' (JetPack: system python3-libnvinfer)"))
            else:
                for prec in ("fp16", "int8"):
                    engine, why = _trt_engine(m, prec, cfg, workdir)
                    if engine is None:
                        missing.append((f"edgesr tensorrt {prec}", "edgesr", "tensorrt", prec, "cuda", why))
                    else:
                        backend_row(f"edgesr tensorrt {prec}", engine, "tensorrt", prec, "cuda")
    if m.engine is not None and use_cuda:
        backend_row("edgesr tensorrt (given engine)", m.engine, "tensorrt", "engine", "cuda")

    if cfg.peers:
        peer_dir = Path(cfg.peers)
        if not opencv_superres_available():
            for disp, stem, _ in PEERS:
                missing.append((disp, "peer", "opencv-dnn", "fp32", "cpu", f"cv2.dnn_superres missing: {INSTALL_CONTRIB}"))
        else:
            for disp, stem, algo in PEERS:
                pb = peer_dir / f"{stem}_x{scale}.pb"
                if not pb.is_file():
                    missing.append((disp, "peer", "opencv-dnn", "fp32", "cpu", f"{pb} not found"))
                    continue
                specs.append(_RowSpec(disp, "peer", "opencv-dnn", "fp32", "cpu",
                                      functools.partial(_peer_runner, pb, algo, scale)))
    if cfg.rows:
        keep = [r.lower() for r in cfg.rows]
        specs = [s for s in specs if any(k in s.name.lower() for k in keep)]
        missing = [x for x in missing if any(k in x[0].lower() for k in keep)]
    skipped = [Cell(n, k, b, p, d, "-", (0, 0), status="skipped", reason=r) for n, k, b, p, d, r in missing]
    return specs, skipped


def _peer_runner(pb: Path, algo: str, scale: int) -> _Runner:
    import cv2

    sr = getattr(cv2, "dnn_superres").DnnSuperResImpl_create()  # contrib-only module
    sr.readModel(str(pb))
    sr.setModel(algo, scale)
    return _FnRunner(sr.upsample, "peer", "opencv-dnn")


def _int8_onnx(fp32: Path, workdir: Path) -> tuple[Path | None, str]:
    """INT8 (QDQ) ONNX through edgesr.calibration, calibrated on crops of a real photo when available.

    Returns (path, "") when the quality guard passed (or did not run), (path, verdict) when it failed: that
    row is still timed but marked and never ranked; (None, reason) when there is no INT8 model."""
    try:
        from edgesr.calibration import quantize_onnx
    except ImportError as e:
        return None, f"edgesr.calibration.quantize_onnx unavailable ({e})"
    out = workdir / f"{fp32.stem}.int8.onnx"
    try:
        rep = quantize_onnx(fp32, out, calib=_calibration_frames())
    except Exception as e:  # a failed quantization is a row we cannot measure, not a failed benchmark
        return None, f"INT8 quantization failed: {type(e).__name__}: {str(e)[:160]}"
    return out, guard_verdict(rep)


def guard_verdict(rep: Any) -> str:
    """'' when an INT8 model's quality guard passed or was off, else what failed, with the figures."""
    if getattr(rep, "passed", None) is not False:
        return ""
    q = rep.quality or {}
    drop = q.get("drop_db")
    figures = f": drop {drop:.3f} dB > {rep.threshold_db:.2f} dB" if drop is not None else ""
    return f"INT8 quality guard failed{figures}"


def _calibration_frames(n: int = 8, hw: tuple[int, int] = (64, 64)) -> list[dict[str, np.ndarray]]:
    img = _test_image((384, 384))[:, :, ::-1].astype(np.float32) / 255  # RGB
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        y, x = rng.integers(0, 384 - hw[0]), rng.integers(0, 384 - hw[1])
        out.append({"input": np.ascontiguousarray(img[y:y + hw[0], x:x + hw[1]].transpose(2, 0, 1)[None])})
    return out


def _trt_engine(m: _Model, precision: str, cfg: BenchConfig, workdir: Path) -> tuple[Path | None, str]:
    """Build a TensorRT engine with a dynamic profile covering the benchmarked sizes."""
    try:
        from edgesr.export.trt import build_engine
    except ImportError as e:
        return None, f"edgesr.export.trt unavailable ({e})"
    if m.onnx is None:
        return None, "no ONNX model to build an engine from"
    hws = [SIZES[s] for s in cfg.sizes]
    out = workdir / f"{m.onnx.stem}.{precision}.engine"
    kwargs: dict[str, Any] = {"precision": precision, "min_shape": (1, 3, 16, 16),
                              "opt_shape": (1, 3, *hws[0]), "max_shape": (1, 3, max(h for h, _ in hws),
                                                                          max(w for _, w in hws))}
    if precision == "int8":  # build_engine calibrates from an image folder
        import cv2

        calib = workdir / "calib"
        calib.mkdir(exist_ok=True)
        for i, d in enumerate(_calibration_frames(16, (128, 128))):
            rgb = (d["input"][0].transpose(1, 2, 0) * 255).round().astype(np.uint8)
            cv2.imwrite(str(calib / f"c{i:02d}.png"), rgb[:, :, ::-1])
        kwargs["calib"] = calib
    try:
        path = build_engine(m.onnx, out, **kwargs)
    except TypeError as e:  # the builder's keyword names differ from what this module expects
        return None, f"build_engine signature mismatch: {e}"
    except Exception as e:
        return None, f"engine build failed: {type(e).__name__}: {str(e)[:160]}"
    return Path(path), ""


def _test_image(hw: tuple[int, int]) -> np.ndarray:
    """A real photo (scikit-image's astronaut) resized to ``hw`` when available, else smooth noise."""
    import cv2

    try:
        from skimage import data

        img = data.astronaut()[:, :, ::-1]
    except Exception:
        rng = np.random.default_rng(0)
        img = cv2.GaussianBlur(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), (7, 7), 2)
    return np.ascontiguousarray(cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_AREA))
