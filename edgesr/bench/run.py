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
import logging
import re
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .result import (PEERS, SIZES, BenchConfig, BenchResult, Cell, fastest_lines, fastest_precision,
                           load_result, summarize)
from .rows import (_cuda_available, _flops_fn, _resolve_model, _row_specs, _RowSpec, _Runner, _test_image,
                         opencv_superres_available)
from ..errors import EdgeSRError

log = logging.getLogger(__name__)

__all__ = ["SIZES", "PEERS", "BenchConfig", "Cell", "BenchResult", "run_bench", "measure_peak",
           "opencv_superres_available", "summarize", "fastest_precision", "fastest_lines", "load_result"]


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
# timing


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
    """:func:`edgesr.machine.describe_machine` plus what the bench rows depend on (OpenCV, the device name)."""
    import cv2
    import torch  # noqa: F401  (loaded, so its version and GPU are described)

    from ..machine import describe_machine

    info = describe_machine(threads)
    info.update({"opencv": cv2.__version__, "opencv_dnn_superres": opencv_superres_available(),
                 "device_name": info.get("gpu", f"CPU ({threads} threads)")})
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
                        cell = Cell(spec.name, spec.kind, spec.backend, spec.precision, spec.device, size, hw,
                                    quality_failed=spec.quality_failed)
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


