"""DRC end to end: search -> prune -> fine-tune, each stage resumable in a work dir.

Layout of ``work_dir``: ``search/`` (last.pt, log.jsonl, channels.json = stage done),
``prune/`` (last.pt after each layer, pruned.pt = stage done), ``finetune/`` (the standard
``edgesr.training`` run directory; model.pt = stage done), ``onnx/`` (latency measurements).
Re-running the same command continues from where a killed run stopped.
"""
from __future__ import annotations

import json
import logging
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, DataError
from ..models import build_model, count_flops, count_params, load_model, save_model
from ..models.base import SRModel
from .common import deploy_form
from .prune import PruneConfig, prune
from .search import SearchConfig, search_channels

log = logging.getLogger(__name__)

STAGES = ("search", "prune", "finetune")


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 500
    batch: int = 16
    patch: int = 32
    lr: float = 2e-4
    dual_weight: float = 0.1
    ckpt_every: int = 100
    seed: int = 0
    teacher: str | None = None  # distillation teacher of the fine-tune (.pt or bundled name): edgesr.training.distill
    teacher_weight: float = 1.0
    distill: str = "output"


@dataclass(frozen=True)
class CompressConfig:
    search: SearchConfig = field(default_factory=SearchConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    report_hw: tuple[int, int] = (360, 640)  # input size at which FLOPs are reported
    latency_hw: tuple[int, int] = (180, 320)  # input size of the ONNX Runtime latency measurement
    latency_runs: int = 10
    threads: int = 1  # torch and ONNX Runtime intra-op threads


@dataclass
class ModelStats:
    params: int
    flops: int
    latency_ms: float | None


@dataclass
class CompressReport:
    channels: list[int]
    before: ModelStats
    after: ModelStats
    report_hw: tuple[int, int]
    latency_hw: tuple[int, int]
    output: str | None
    stages_run: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        h, w = self.report_hw
        lh, lw = self.latency_hw

        def lat(s: ModelStats) -> str:
            return f"{s.latency_ms:.1f}" if s.latency_ms is not None else "-"

        rows = [f"{'':<8}{'params':>10}{f'GFLOPs@{w}x{h}':>16}{f'ORT ms@{lw}x{lh}':>16}",
                f"{'before':<8}{self.before.params:>10,}{self.before.flops / 1e9:>16.3f}{lat(self.before):>16}",
                f"{'after':<8}{self.after.params:>10,}{self.after.flops / 1e9:>16.3f}{lat(self.after):>16}",
                f"{'ratio':<8}{self.after.params / self.before.params:>10.1%}"
                f"{self.after.flops / self.before.flops:>16.1%}"
                + (f"{self.after.latency_ms / self.before.latency_ms:>16.1%}"
                   if self.after.latency_ms and self.before.latency_ms else "")]
        return "\n".join(rows) + f"\nchannels: {self.channels}"


def ort_latency_ms(model: SRModel, onnx_path: str | Path, hw: tuple[int, int], runs: int = 10,
                   threads: int = 1) -> float:
    """Median latency of ONNX Runtime (CPU) on an exported file, fixed input ``hw``."""
    import numpy as np

    from ..export.onnx import export_onnx
    from ..runtimes.ort import ort_session

    path = export_onnx(model, onnx_path, dynamic=False, shape=(1, 3, *hw))
    sess = ort_session(path, threads=threads, log_severity=None)
    x = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x})  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1e3)
    return float(statistics.median(times))


def model_stats(model: SRModel, cfg: CompressConfig, onnx_path: Path | None) -> ModelStats:
    lat = ort_latency_ms(model, onnx_path, cfg.latency_hw, cfg.latency_runs, cfg.threads) if onnx_path else None
    return ModelStats(count_params(model), count_flops(model, cfg.report_hw), lat)


def compress(model: SRModel | str | os.PathLike[str], ratio: float = 0.3, data: Sequence[str | Path] = (),
             out: str | Path | None = None, *, work_dir: str | Path | None = None, budget: str = "flops",
             stage: str | None = None, config: CompressConfig | None = None, latency: bool = True,
             channels: Sequence[int] | None = None) -> CompressReport:
    """Dual regression compression of ``model`` (a module or a ``.pt``) removing ``ratio`` of its
    FLOPs (or params, ``budget="params"``). Runs search -> prune -> fine-tune (or only ``stage``),
    reusing finished stages in ``work_dir``; writes the fine-tuned small model to ``out``.
    ``channels`` (one width per prunable layer) replaces the search: prune to a known configuration,
    e.g. to compare selection rules at the widths of an earlier compression."""
    from dataclasses import replace

    if stage is not None and stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)} (or omit it to run all)")
    if not data:
        raise DataError("compress needs training images: pass data=[folders] (e.g. T91) / --data")
    cfg = config or CompressConfig()
    cfg = replace(cfg, search=replace(cfg.search, ratio=ratio, budget=budget))
    if isinstance(model, SRModel):
        src: SRModel = model
    else:
        src = load_model(model)
    src = deploy_form(src.float().cpu())  # DRC prunes the collapsed (plain) network of a rep model
    if work_dir is not None:
        work = Path(work_dir)
    else:
        work = Path(out).parent / f"{Path(out).stem}_drc" if out is not None else Path("runs/compress")
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.json").write_text(json.dumps({"ratio": ratio, "budget": budget, "data": [str(d) for d in data],
                                                  "config": asdict(cfg), "arch": src.arch()}, indent=2, default=str))
    ran: list[str] = []
    want = [stage] if stage else list(STAGES)

    def need(name: str, done: Path) -> bool:
        if name in want:
            return True
        if not done.is_file():
            raise ConfigError(f"stage {name!r} has not been run in {work} ({done} is missing); run it first with "
                              f"--stage {name} or run all stages")
        return False

    channels_file = work / "search" / "channels.json"
    if channels is not None:
        _write_given_channels(src, list(channels), channels_file)
    elif need("search", channels_file):
        if not channels_file.is_file():
            ran.append("search")
        search_channels(src, data, work / "search", cfg.search)
    channels = list(json.loads(channels_file.read_text())["channels"])
    if stage == "search":
        arch = src.arch()
        shape = build_model(arch["family"], {**arch["config"], **src.channel_config(channels)}, name=arch["name"])
        return _report(src, shape, channels, cfg, work, None, ran, latency=False)

    pruned = work / "prune" / "pruned.pt"
    if need("prune", pruned):
        if not pruned.is_file():
            ran.append("prune")
        prune(src, channels, data, work / "prune", replace(cfg.prune, dual_weight=cfg.search.dual_weight))
    if stage == "prune":
        return _report(src, load_model(pruned), channels, cfg, work, None, ran, latency=False)

    from ..training import TrainConfig, train

    ft = cfg.finetune
    ft_dir = work / "finetune"  # resume only what exists: a first run has nothing to resume (and no warning)
    final = train(TrainConfig(model=str(pruned), scale=src.scale, data=tuple(str(d) for d in data),
                              out=str(ft_dir), steps=ft.steps, batch=ft.batch, patch=ft.patch, lr=ft.lr,
                              dual_weight=ft.dual_weight, ckpt_every=ft.ckpt_every, seed=ft.seed,
                              threads=cfg.threads, val_every=10**9, progress=cfg.search.progress,
                              teacher=ft.teacher, teacher_weight=ft.teacher_weight, distill=ft.distill),
                  resume=(ft_dir / "last.pt").is_file(), overrides_from="the compress settings")
    ran.append("finetune")
    small = load_model(final)
    if out is not None:
        save_model(small, out, meta={"drc": {"ratio": ratio, "budget": budget, "channels": channels,
                                             "source": src.arch()}})
    return _report(src, small, channels, cfg, work, out, ran, latency=latency)


def _write_given_channels(src: SRModel, channels: list[int], channels_file: Path) -> None:
    """Validate user-given widths against ``src`` and record them as the search result (``source: given``)."""
    from .common import widths

    full = widths(src)
    if len(channels) != len(full):
        raise ConfigError(f"--channels has {len(channels)} widths but {src.arch()['name']} has {len(full)} prunable "
                          f"layers (full widths {','.join(map(str, full))}); give one width per layer")
    bad = [i for i, (c, f) in enumerate(zip(channels, full)) if not 1 <= c <= f]
    if bad:
        raise ConfigError(f"--channels: layer {bad[0]} width {channels[bad[0]]} is outside 1..{full[bad[0]]}; "
                          "a layer keeps at least one and at most all of its channels")
    if channels_file.is_file():
        old = list(json.loads(channels_file.read_text())["channels"])
        if old != channels:
            raise ConfigError(f"{channels_file} holds other channels ({','.join(map(str, old))}); "
                              "use a new --work-dir for new widths")
        return
    channels_file.parent.mkdir(parents=True, exist_ok=True)
    channels_file.write_text(json.dumps({"channels": channels, "source": "given"}, indent=2))


def _report(src: SRModel, small: SRModel, channels: list[int], cfg: CompressConfig, work: Path,
            out: str | Path | None, ran: list[str], latency: bool) -> CompressReport:
    onnx_dir = work / "onnx"
    before = model_stats(src, cfg, onnx_dir / "before.onnx" if latency else None)
    after = model_stats(small, cfg, onnx_dir / "after.onnx" if latency else None)
    rep = CompressReport(channels, before, after, cfg.report_hw, cfg.latency_hw, str(out) if out else None, ran)
    (work / "report.json").write_text(json.dumps(rep.to_dict(), indent=2))
    log.info("compress report:\n%s", rep.table())
    return rep
