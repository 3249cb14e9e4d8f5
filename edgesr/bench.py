"""Speed of every backend and precision this machine can run, side by side with the peers.

Why one module: a benchmark is only comparable within one run on one machine (the same load,
the same clocks), so ``run_bench`` measures the edgesr rows (PyTorch, ONNX Runtime FP32/INT8,
and on a CUDA machine PyTorch FP32/FP16, ONNX Runtime CUDA, TensorRT FP16/INT8), bicubic
(``cv2.resize``) and OpenCV ``dnn_superres`` peers, plus the device's own measured peak FLOP/s,
in one call.

Every row is timed frame to frame: BGR uint8 in, BGR uint8 out (edgesr rows: colour/layout
conversion + ``Backend.run``, as a caller of the runtime pays it). Loops are time-budgeted, and
a cell whose predicted time per frame (scaled from the previous size by pixel count) exceeds
``max_frame_s`` is skipped and reported as such, so the defaults finish in about two minutes on
a 2-core CPU.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import logging
import os
import platform
import re
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .errors import ConfigError, EdgeSRError, ModelFormatError

log = logging.getLogger(__name__)

__all__ = ["SIZES", "BenchConfig", "Cell", "BenchResult", "run_bench", "measure_peak", "opencv_superres_available",
           "summarize", "load_result"]

#: name -> input (H, W)
SIZES: dict[str, tuple[int, int]] = {"360p": (360, 640), "540p": (540, 960), "720p": (720, 1280),
                                     "1080p": (1080, 1920)}
#: OpenCV dnn_superres peers: (display name, file stem, setModel algorithm name)
PEERS: tuple[tuple[str, str, str], ...] = (("opencv FSRCNN", "FSRCNN", "fsrcnn"),
                                           ("opencv FSRCNN-small", "FSRCNN-small", "fsrcnn"),
                                           ("opencv ESPCN", "ESPCN", "espcn"))
INSTALL_CONTRIB = "install opencv-contrib-python (pip install 'edgesr[peers]') for cv2.dnn_superres"


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and how long. ``full=True`` lifts the per-frame and total time limits."""

    model: str | None = None  # path (.onnx/.pt/.engine), preset name, or None = bundled model
    scale: int = 2
    sizes: tuple[str, ...] = tuple(SIZES)
    device: str = "auto"  # auto | cpu | cuda
    rows: tuple[str, ...] | None = None  # only rows whose name contains one of these (case-insensitive)
    peers: str | None = None  # folder holding FSRCNN_x2.pb etc.
    threads: int = 2
    budget_s: float = 1.0  # timed seconds per cell (after one warm-up frame)
    min_iters: int = 2
    max_iters: int = 200
    max_frame_s: float = 2.5  # skip a cell predicted slower than this per frame
    time_limit_s: float = 100.0  # skip the remaining cells after this many seconds
    full: bool = False
    peak_s: float = 1.0  # seconds for the peak FLOP/s microbenchmark (per device and dtype)
    trace_memory: bool = True  # tracemalloc peak of the warm-up frame

    def __post_init__(self) -> None:
        bad = [s for s in self.sizes if s not in SIZES]
        if bad:
            raise ConfigError(f"unknown size {bad[0]!r}; use some of {', '.join(SIZES)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.min_iters < 1 or self.budget_s < 0:
            raise ConfigError("min_iters must be >= 1 and budget_s >= 0")


@dataclass
class Cell:
    """One row at one input size. ``status``: ok | skipped | error (``reason`` says why)."""

    row: str
    kind: str  # edgesr | baseline | peer
    backend: str
    precision: str
    device: str
    size: str
    input_hw: tuple[int, int]
    status: str = "ok"
    reason: str = ""
    iters: int = 0
    fps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    warmup_ms: float | None = None
    gflop: float | None = None  # model FLOPs per frame / 1e9 (None when unknown: bicubic, peers)
    gflops: float | None = None  # achieved GFLOP/s at p50
    peak_fraction: float | None = None  # gflops / measured peak of the same device and dtype
    peak_key: str | None = None
    rss_peak_delta_mb: float | None = None  # VmHWM during the cell minus RSS before it
    tracemalloc_peak_mb: float | None = None  # Python/numpy allocations of the warm-up frame
    cuda_peak_mb: float | None = None  # torch.cuda.max_memory_allocated (PyTorch CUDA rows)


@dataclass
class BenchResult:
    config: dict[str, Any]
    machine: dict[str, Any]
    model: dict[str, Any]
    peak_gflops: dict[str, float]
    cells: list[Cell] = field(default_factory=list)
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"format": "edgesr.bench", "format_version": 1, "config": self.config, "machine": self.machine,
                "model": self.model, "peak_gflops": self.peak_gflops, "wall_s": round(self.wall_s, 1),
                "cells": [dataclasses.asdict(c) for c in self.cells]}

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BenchResult":
        cells = [Cell(**{**c, "input_hw": tuple(c["input_hw"])}) for c in d["cells"]]
        return cls(d["config"], d["machine"], d["model"], d["peak_gflops"], cells, d.get("wall_s", 0.0))

    def rows(self) -> list[str]:
        return list(dict.fromkeys(c.row for c in self.cells))

    def cell(self, row: str, size: str) -> Cell | None:
        return next((c for c in self.cells if c.row == row and c.size == size), None)

    def ratios(self, reference: str, metric: str = "fps") -> dict[str, dict[str, float]]:
        """``row -> size -> metric(row) / metric(reference)`` where both were measured in this run."""
        out: dict[str, dict[str, float]] = {}
        for c in self.cells:
            ref = self.cell(reference, c.size)
            a, b = getattr(c, metric), getattr(ref, metric) if ref else None
            if c.row != reference and a and b:
                out.setdefault(c.row, {})[c.size] = a / b
        return out

    def table(self, markdown: bool = False) -> str:
        """One line per cell: the speed, latency, compute efficiency and memory columns."""
        head = ["row", "precision", "device", "size", "fps", "p50 ms", "p99 ms", "n", "GFLOP/s", "% peak",
                "RSS Δ MB", "py MB", "note"]

        def f(v: float | None, nd: int = 1) -> str:
            return "" if v is None else f"{v:.{nd}f}"

        lines = []
        for c in self.cells:
            note = c.reason if c.status != "ok" else ""
            lines.append([c.row, c.precision, c.device, c.size, f(c.fps, 2), f(c.p50_ms), f(c.p99_ms),
                          str(c.iters or ""), f(c.gflops), f(None if c.peak_fraction is None else 100 * c.peak_fraction),
                          f(c.rss_peak_delta_mb), f(c.tracemalloc_peak_mb), note if c.status == "ok" else
                          f"{c.status}: {note}"])
        if markdown:
            out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            out += ["| " + " | ".join(x.replace("|", "/") for x in r) + " |" for r in lines]
            return "\n".join(out)
        widths = [max(len(h), *(len(r[i]) for r in lines)) if lines else len(h) for i, h in enumerate(head[:-1])]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
        return "\n".join([fmt.format(*head), *(fmt.format(*r) for r in lines)])

    def plot(self, fps_path: str | os.PathLike[str], peak_path: str | os.PathLike[str] | None = None) -> list[Path]:
        """Frames/s per input size (log scale) and % of measured peak; needs matplotlib."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            from .errors import MissingDependencyError

            raise MissingDependencyError("matplotlib", "plots", "for benchmark plots") from None
        sizes = [s for s in SIZES if any(c.size == s for c in self.cells)]
        written = []
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for row in self.rows():
            pts = [(i, c.fps) for i, s in enumerate(sizes) if (c := self.cell(row, s)) and c.fps]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=row)
        ax.set_xticks(range(len(sizes)), [f"{s}\n{SIZES[s][1]}x{SIZES[s][0]}" for s in sizes])
        ax.set_yscale("log")
        ax.set_ylabel("frames/s (log)")
        ax.set_xlabel(f"input size (x{self.model.get('scale')} output)")
        ax.set_title(f"{self.model.get('name')} x{self.model.get('scale')} on {self.machine.get('device_name')}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(fps_path, dpi=110)
        plt.close(fig)
        written.append(Path(fps_path))
        if peak_path is not None:
            cells = [c for c in self.cells if c.peak_fraction is not None]
            fig, ax = plt.subplots(figsize=(8, 4))
            labels = [f"{c.row}\n{c.size}" for c in cells]
            ax.bar(range(len(cells)), [100 * (c.peak_fraction or 0) for c in cells])
            ax.set_xticks(range(len(cells)), labels, rotation=60, ha="right", fontsize=7)
            ax.set_ylabel("% of measured peak FLOP/s")
            ax.set_title("compute efficiency (model FLOPs / p50 latency / measured peak)")
            ax.grid(True, axis="y", alpha=0.3)
            fig.tight_layout()
            fig.savefig(peak_path, dpi=110)
            plt.close(fig)
            written.append(Path(peak_path))
        return written


# ------------------------------------------------------------------------------------------------
# memory probes (Linux /proc; None elsewhere)


def _status_kb(key: str) -> int | None:
    try:
        m = re.search(rf"^{key}:\s+(\d+)", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------
# peak FLOP/s


def measure_peak(device: str = "cpu", dtype: str = "fp32", seconds: float = 1.0, threads: int | None = None) -> float:
    """Measured peak GFLOP/s of ``device`` in ``dtype``: the best of a large matmul and a 3x3 conv.

    Why measured, not from a datasheet: the fraction of peak then compares like with like (same
    clocks, same thread count, same load from other processes).
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    dt = {"fp32": torch.float32, "fp16": torch.float16}[dtype]
    if dev.type == "cuda":
        n, conv_shape = 8192, (16, 128, 256, 256)
    else:
        n, conv_shape = 1024, (1, 64, 128, 128)
    best = 0.0
    a = torch.randn(n, n, device=dev, dtype=dt)
    b = torch.randn(n, n, device=dev, dtype=dt)
    x = torch.randn(*conv_shape, device=dev, dtype=dt)
    w = torch.randn(conv_shape[1], conv_shape[1], 3, 3, device=dev, dtype=dt)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    jobs: list[tuple[Callable[[], Any], float]] = [
        (lambda: a @ b, 2.0 * n ** 3),
        (lambda: torch.nn.functional.conv2d(x, w, padding=1),
         2.0 * conv_shape[0] * conv_shape[1] * conv_shape[1] * 9 * conv_shape[2] * conv_shape[3]),
    ]
    with torch.inference_mode():
        for fn, flop in jobs:
            fn()
            sync()
            reps, t0 = 0, time.perf_counter()
            while True:
                fn()
                reps += 1
                sync()
                dt_s = time.perf_counter() - t0
                if dt_s > seconds / len(jobs) or reps >= 1000:
                    break
            best = max(best, flop * reps / dt_s / 1e9)
    return best


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
    p = Path(spec)
    if not p.is_file():
        raise ModelFormatError(f"--model {spec!r} is neither a file nor a preset ({', '.join(list_models())}); "
                               "pass a .onnx/.pt/.engine path or a preset name")
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

    return export_onnx(model, path)


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

    def backend_row(name: str, model: Any, backend: str, precision: str, dev: str, /, **opts: Any) -> None:
        def make() -> _Runner:
            from edgesr.runtimes import open_backend

            return _BackendRunner(open_backend(model, backend, **opts), precision, dev)

        specs.append(_RowSpec(name, "edgesr", backend, precision, dev, make, flops))

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
                if int8 is not None:
                    backend_row("edgesr onnxruntime cpu int8", int8, "onnxruntime", "int8", "cpu", device="cpu",
                                threads=cfg.threads)
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
    """INT8 (QDQ) ONNX through edgesr.calibration, calibrated on crops of a real photo when available."""
    try:
        from edgesr.calibration import quantize_onnx
    except ImportError as e:
        return None, f"edgesr.calibration.quantize_onnx unavailable ({e})"
    out = workdir / f"{fp32.stem}.int8.onnx"
    try:
        quantize_onnx(fp32, out, calib=_calibration_frames())
    except Exception as e:  # a failed quantization is a row we cannot measure, not a failed benchmark
        return None, f"INT8 quantization failed: {type(e).__name__}: {str(e)[:160]}"
    return out, ""


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


# ------------------------------------------------------------------------------------------------
# timing


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


def _time_cell(runner: _Runner, frame: np.ndarray, cfg: BenchConfig, cell: Cell) -> None:
    import torch

    cuda = runner.cuda and torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss0 = _status_kb("VmRSS")
    hwm_ok = _reset_peak_rss()
    # warm-up frame (allocations, kernel selection), traced by tracemalloc when asked
    if cfg.trace_memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    out = runner(frame)
    cell.warmup_ms = 1000 * (time.perf_counter() - t0)
    if cfg.trace_memory:
        cell.tracemalloc_peak_mb = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    h, w = frame.shape[:2]
    s = round(out.shape[0] / h)
    if s < 1 or out.shape[:2] != (h * s, w * s) or out.dtype != np.uint8:
        raise EdgeSRError(f"{cell.row}: output {out.shape} {out.dtype} is not an upscaled uint8 frame of {frame.shape}")
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < cfg.min_iters or (time.perf_counter() - start < cfg.budget_s and len(times) < cfg.max_iters):
        t0 = time.perf_counter()
        runner(frame)
        times.append(time.perf_counter() - t0)
    t = np.asarray(times)
    cell.iters = len(times)
    cell.p50_ms = 1000 * float(np.percentile(t, 50))
    cell.p99_ms = 1000 * float(np.percentile(t, 99))
    cell.mean_ms = 1000 * float(t.mean())
    cell.fps = 1000 / cell.p50_ms
    hwm = _status_kb("VmHWM")
    if hwm_ok and rss0 is not None and hwm is not None:
        cell.rss_peak_delta_mb = max(0, hwm - rss0) / 1024
    if cuda:
        cell.cuda_peak_mb = torch.cuda.max_memory_allocated() / 2 ** 20


def _machine(threads: int) -> dict[str, Any]:
    import cv2
    import torch

    from . import __version__

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"edgesr": __version__, "python": platform.python_version(), "platform": platform.platform(),
                            "cpu": cpu, "cpu_count": os.cpu_count(), "threads": threads, "torch": torch.__version__,
                            "opencv": cv2.__version__, "opencv_dnn_superres": opencv_superres_available(),
                            "device_name": f"CPU ({threads} threads)"}
    try:
        info["loadavg_1m"] = os.getloadavg()[0]
    except OSError:
        pass
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    if _cuda_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["device_name"] = info["gpu"]
    return info


def run_bench(config: BenchConfig | None = None, *, progress: Callable[[Cell], None] | None = None) -> BenchResult:
    """Measure every available row at every size of ``config`` (see the module docstring)."""
    import cv2
    import torch

    cfg = config or BenchConfig()
    t_start = time.perf_counter()
    old_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    cv2.setNumThreads(cfg.threads)
    try:
        with tempfile.TemporaryDirectory(prefix="edgesr-bench-") as tmp:
            workdir = Path(tmp)
            m = _resolve_model(cfg.model, cfg.scale, workdir)
            specs, skipped = _row_specs(cfg, m, workdir)
            peaks = {"cpu_fp32": round(measure_peak("cpu", "fp32", cfg.peak_s, cfg.threads), 2)}
            if any(s.device == "cuda" for s in specs):
                for dt in ("fp32", "fp16"):
                    peaks[f"cuda_{dt}"] = round(measure_peak("cuda", dt, cfg.peak_s), 1)
            log.info("peak GFLOP/s: %s", peaks)
            model_info = {"name": m.name, "scale": m.scale, "onnx": str(m.onnx) if m.onnx else None,
                          "notes": m.notes}
            if m.torch_model is not None:
                from edgesr.models import count_params

                model_info["params"] = count_params(m.torch_model)
                model_info["gflop_per_frame"] = {s: round((_flops_fn(m.torch_model)(SIZES[s]) or 0) / 1e9, 3)
                                                 for s in cfg.sizes}
            result = BenchResult(config={k: v for k, v in dataclasses.asdict(cfg).items()},
                                 machine=_machine(cfg.threads), model=model_info, peak_gflops=peaks)
            result.cells.extend(skipped)
            runners: dict[str, _Runner | Exception] = {}
            last: dict[str, tuple[int, float]] = {}  # row -> (pixels, seconds per frame) of its last cell
            try:
                for size in sorted(cfg.sizes, key=lambda s: SIZES[s][0]):
                    hw = SIZES[size]
                    frame = _test_image(hw)
                    for spec in specs:
                        cell = Cell(spec.name, spec.kind, spec.backend, spec.precision, spec.device, size, hw)
                        result.cells.append(cell)
                        f = spec.flops_at(hw)
                        cell.gflop = None if f is None else f / 1e9
                        _run_cell(cfg, spec, runners, last, frame, cell, t_start)
                        if progress is not None:
                            progress(cell)
                        if cell.status == "ok" and cell.gflop and cell.p50_ms:
                            cell.gflops = cell.gflop / (cell.p50_ms / 1000)
                            r = runners.get(spec.name)
                            key = r.peak_key if isinstance(r, _Runner) else None
                            if key and key in peaks and peaks[key] > 0:
                                cell.peak_key = key
                                cell.peak_fraction = cell.gflops / peaks[key]
            finally:
                for r in runners.values():
                    if isinstance(r, _Runner):
                        r.close()
            result.wall_s = time.perf_counter() - t_start
            return result
    finally:
        torch.set_num_threads(old_threads)


def _run_cell(cfg: BenchConfig, spec: _RowSpec, runners: dict[str, _Runner | Exception],
              last: dict[str, tuple[int, float]], frame: np.ndarray, cell: Cell, t_start: float) -> None:
    pixels = frame.shape[0] * frame.shape[1]
    if not cfg.full:
        if spec.name in last:
            px, sec = last[spec.name]
            predicted = sec * pixels / px
            if predicted > cfg.max_frame_s:
                cell.status, cell.reason = "skipped", (f"predicted {predicted:.1f} s/frame > max_frame_s "
                                                        f"{cfg.max_frame_s:g} (use --full)")
                return
        if time.perf_counter() - t_start > cfg.time_limit_s:
            cell.status, cell.reason = "skipped", f"time limit {cfg.time_limit_s:g} s reached (use --full)"
            return
    r = runners.get(spec.name)
    if r is None:
        try:
            r = runners[spec.name] = spec.make()
        except Exception as e:  # one row that cannot open must not stop the others
            log.warning("%s: cannot open: %s", spec.name, e)
            r = runners[spec.name] = e
    if isinstance(r, Exception):
        cell.status, cell.reason = "error", f"cannot open: {type(r).__name__}: {str(r)[:200]}"
        return
    cell.backend = r.backend or cell.backend
    try:
        _time_cell(r, frame, cfg, cell)
    except Exception as e:
        log.warning("%s at %s failed: %s", spec.name, cell.size, e)
        cell.status, cell.reason = "error", f"{type(e).__name__}: {str(e)[:200]}"
        return
    assert cell.p50_ms is not None
    last[spec.name] = (pixels, cell.p50_ms / 1000)


def summarize(result: BenchResult, references: Sequence[str] = ("opencv FSRCNN", "opencv ESPCN")) -> str:
    """Ratio lines ``row / reference`` (fps) for the references measured in this run."""
    lines = []
    for ref in references:
        for row, by_size in result.ratios(ref).items():
            if result.cells and next(c for c in result.cells if c.row == row).kind == "edgesr":
                lines.append(f"{row} vs {ref}: " + ", ".join(f"{s} {v:.2f}x" for s, v in by_size.items()))
    return "\n".join(lines)


def load_result(path: str | os.PathLike[str]) -> BenchResult:
    return BenchResult.from_dict(json.loads(Path(path).read_text()))
