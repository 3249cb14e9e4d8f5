"""Benchmark configuration and results: what ``edgesr bench`` measures and how it is reported.

Split from ``edgesr.bench.run`` so that the result format (JSON, tables, plots, ratios) can be read
without the timing machinery (``edgesr.bench.run`` re-exports everything here).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError

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
    quality_failed: str = ""  # the model failed its quality guard (INT8): timed, marked, never ranked


@dataclass
class BenchResult:
    config: dict[str, Any]
    machine: dict[str, Any]
    model: dict[str, Any]
    peak_gflops: dict[str, float]
    cells: list[Cell] = field(default_factory=list)
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"format": "edgesr.bench.run", "format_version": 1, "config": self.config, "machine": self.machine,
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
            note = c.reason if c.status != "ok" else (f"NOT RANKED: {c.quality_failed}" if c.quality_failed else "")
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
            from ..errors import MissingDependencyError

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


def summarize(result: BenchResult, references: Sequence[str] = ("opencv FSRCNN", "opencv ESPCN")) -> str:
    """Ratio lines ``row / reference`` (fps) for the references measured in this run."""
    lines = []
    failed = {c.row for c in result.cells if c.quality_failed}
    for ref in references:
        for row, by_size in result.ratios(ref).items():
            if result.cells and next(c for c in result.cells if c.row == row).kind == "edgesr" and row not in failed:
                lines.append(f"{row} vs {ref}: " + ", ".join(f"{s} {v:.2f}x" for s, v in by_size.items()))
    return "\n".join(lines)


def load_result(path: str | os.PathLike[str]) -> BenchResult:
    return BenchResult.from_dict(json.loads(Path(path).read_text()))


def fastest_precision(result: BenchResult) -> dict[str, dict[str, tuple[str, float]]]:
    """``"backend device" -> size -> (fastest precision, its fps / fp32 fps)`` for the edgesr rows of this run.

    Why measured, not looked up: whether INT8 pays on a CPU depends on its kernels (measured here:
    0.64-0.93x FP32 on an AVX2-only EPYC, 1.6x on an AVX-512 VNNI one), so only a run on the
    machine at hand can say.
    """
    out: dict[str, dict[str, tuple[str, float]]] = {}
    groups: dict[tuple[str, str, str], dict[str, float]] = {}
    for c in result.cells:
        if c.kind == "edgesr" and c.status == "ok" and c.fps and not c.quality_failed:  # failed guard: not ranked
            groups.setdefault((c.backend, c.device, c.size), {})[c.precision] = c.fps
    for (backend, device, size), fps in groups.items():
        if "fp32" not in fps or len(fps) < 2:
            continue
        best = max(fps, key=fps.__getitem__)
        out.setdefault(f"{backend} {device}", {})[size] = (best, fps[best] / fps["fp32"])
    return out


def fastest_lines(result: BenchResult) -> str:
    """``fastest_precision`` as one line per backend, e.g. ``onnxruntime cpu: 360p int8 (1.62x fp32)``, plus
    one line per row left out of the ranking because its model failed its quality guard."""
    lines = [f"{k}: " + ", ".join(f"{s} {p} ({r:.2f}x fp32)" for s, (p, r) in v.items())
             for k, v in fastest_precision(result).items()]
    failed = dict.fromkeys((c.row, c.quality_failed) for c in result.cells if c.quality_failed)
    lines += [f"not ranked: {row} ({why}; its frames/s are in the table, its output is not what FP32 gives)"
              for row, why in failed]
    return "\n".join(lines)
