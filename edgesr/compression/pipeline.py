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
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, DataError
from ..models import build_model, count_flops, count_params, load_model, save_model
from ..models.base import SRModel
from .common import BUDGETS, deploy_form, widths
from .prune import PruneConfig, prune
from .search import SearchConfig, search_channels, search_space
from .space import SearchSpace, nearest_fit

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
    target: dict[str, Any] | None = None  # flops/params budgets: kept vs promised (see :func:`target_check`)

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
        out = "\n".join(rows) + f"\nchannels: {self.channels}"
        t = self.target
        if t:
            out += (f"\ntarget: {t['target']:.1%} of the {t['kind']} kept (within {t['tol']:.0%}), reached "
                    f"{t['kept']:.1%}" + ("" if t["within"] else f": OUTSIDE the tolerance; {t['hint']}"))
        return out


def ort_latency_ms(model: SRModel, onnx_path: str | Path, hw: tuple[int, int], runs: int = 10,
                   threads: int = 1) -> float:
    """Median latency of ONNX Runtime (CPU) on an exported file, fixed input ``hw``."""
    import numpy as np

    from ..export.onnx import export_onnx
    from ..runtimes.ort import ort_session

    path = export_onnx(model, onnx_path, dynamic=False, shape=(1, 3, *hw), overwrite=True)  # a scratch file
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
             channels: Sequence[int] | None = None, overwrite: bool = False) -> CompressReport:
    """Dual regression compression of ``model`` (a module, a ``.pt`` or a bundled name such as
    ``"edge_tiny_x2"``) removing ``ratio`` of its
    FLOPs (or params, ``budget="params"``). Runs search -> prune -> fine-tune (or only ``stage``),
    reusing finished stages in ``work_dir``; writes the fine-tuned small model to ``out``.
    ``channels`` (one width per prunable layer) replaces the search: prune to a known configuration,
    e.g. to compare selection rules at the widths of an earlier compression. ``out`` (a ``.pt`` in a
    writable folder) is checked before any stage runs; an existing file is refused unless ``overwrite``."""
    from ..hub import model_file
    from ..models import read_checkpoint
    from ..overwrite import check_output

    if stage is not None and stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)} (or omit it to run all)")
    if not data:
        raise DataError("compress needs training images: pass data=[folders] (e.g. T91) / --data")
    if out is not None and stage in (None, "finetune"):  # the stages that write it
        check_output(out, "pt", overwrite=overwrite, flag="out", how="overwrite=True (--overwrite)")
    cfg = config or CompressConfig()
    cfg = replace(cfg, search=replace(cfg.search, ratio=ratio, budget=budget))
    if isinstance(model, SRModel):
        src: SRModel = model
    else:
        path = model_file(model, "pt")
        src = load_model(path)
        if not read_checkpoint(path).get("has_dual", True):
            log.warning("%s has no dual network (bundled models ship without it): the dual term of every stage "
                        "starts from untrained dual networks", model)
    src = deploy_form(src.float().cpu())  # DRC prunes the collapsed (plain) network of a rep model
    if work_dir is not None:
        work = Path(work_dir)
    else:
        work = Path(out).parent / f"{Path(out).stem}_drc" if out is not None else Path("runs/compress")
    if channels is None and budget in BUDGETS:  # before anything is written: an unreachable ratio raises here
        _precheck(src, cfg, ratio)
    created = not work.exists()
    try:
        return _compress(src, ratio, data, out, work, budget, stage, cfg, latency, channels)
    except (ConfigError, DataError):  # refused: leave nothing behind that this call made (a resumable
        if created and work.is_dir() and not any(work.rglob("*.pt")):  # checkpoint stays)
            shutil.rmtree(work, ignore_errors=True)
        raise


def _compress(src: SRModel, ratio: float, data: Sequence[str | Path], out: str | Path | None, work: Path,
              budget: str, stage: str | None, cfg: CompressConfig, latency: bool,
              channels: Sequence[int] | None) -> CompressReport:
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
    found = json.loads(channels_file.read_text())
    channels, searched = list(found["channels"]), found.get("source") != "given"  # given widths promise no ratio
    if stage == "search":
        arch = src.arch()
        shape = build_model(arch["family"], {**arch["config"], **src.channel_config(channels)}, name=arch["name"])
        return _report(src, shape, channels, cfg, work, None, ran, latency=False, check_target=searched)

    pruned = work / "prune" / "pruned.pt"
    if need("prune", pruned):
        if not pruned.is_file():
            ran.append("prune")
        prune(src, channels, data, work / "prune", replace(cfg.prune, dual_weight=cfg.search.dual_weight))
    if stage == "prune":
        return _report(src, load_model(pruned), channels, cfg, work, None, ran, latency=False,
                       check_target=searched)

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
    return _report(src, small, channels, cfg, work, out, ran, latency=latency, check_target=searched)


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
            out: str | Path | None, ran: list[str], latency: bool, check_target: bool = True) -> CompressReport:
    onnx_dir = work / "onnx"
    before = model_stats(src, cfg, onnx_dir / "before.onnx" if latency else None)
    after = model_stats(small, cfg, onnx_dir / "after.onnx" if latency else None)
    target = target_check(src, cfg, before, after) if check_target else None
    rep = CompressReport(channels, before, after, cfg.report_hw, cfg.latency_hw, str(out) if out else None, ran,
                         target)
    (work / "report.json").write_text(json.dumps(rep.to_dict(), indent=2))
    if target and not target["within"]:
        log.warning("compress: %s kept %.1f%% of its %s, outside the promised %.1f%% +- %.0f%%; %s",
                    Path(str(out)).name if out else "the model", 100 * target["kept"], target["kind"],
                    100 * target["target"], 100 * target["tol"], target["hint"])
    log.info("compress report written to %s", work / "report.json")  # the table itself: rep.table()
    return rep


_KIND = {"flops": "FLOPs", "params": "parameters"}


def _space(src: SRModel, cfg: CompressConfig, multiple: int | None = None) -> SearchSpace:
    sc = cfg.search if multiple is None else replace(cfg.search, multiple=multiple)
    return search_space(src, sc)


def _grid_hint(src: SRModel, cfg: CompressConfig) -> str:
    """What reaches the target when the width grid of ``--multiple`` does not (measured on the finer grid)."""
    sc = cfg.search
    if sc.multiple > 1:
        try:
            sp = _space(src, cfg, 1)
        except ConfigError:
            sp = None
        if sp is not None and sp.budget:
            kept = sp.cost.cost(nearest_fit(sp, sc.budget_tol)) / sp.cost.cost(widths(src))
            return f"--multiple 1 (widths in steps of 1, not {sc.multiple}) gets {kept:.1%}"
    return "the width grid has no config closer; a --ratio the grid reaches, or a wider model, does"


def _precheck(src: SRModel, cfg: CompressConfig, ratio: float) -> None:
    """Refuse an unreachable ratio before anything is written (with the setting that reaches it), and warn
    before the search when the width grid has no config within the tolerance of the budget."""
    sp = _space(src, cfg)  # raises ConfigError naming --multiple 1 / the largest reachable ratio
    if sp.budget is None or cfg.search.mode != "official":
        return
    tol = cfg.search.budget_tol
    kept = sp.cost.cost(nearest_fit(sp, tol)) / sp.cost.cost(widths(src))
    if abs(kept / (1 - ratio) - 1) > tol + 1e-9:
        log.warning("--ratio %g at --multiple %d: the nearest channel config keeps %.1f%% of the %s, not %.1f%% "
                    "+- %.0f%%; %s", ratio, cfg.search.multiple, 100 * kept, _KIND[cfg.search.budget],
                    100 * (1 - ratio), 100 * tol, _grid_hint(src, cfg))


def target_check(src: SRModel, cfg: CompressConfig, before: ModelStats, after: ModelStats) -> dict[str, Any] | None:
    """``{kind, target, kept, tol, within, hint}`` for a flops/params budget (None for ``channels``)."""
    kind = cfg.search.budget
    if kind not in BUDGETS:
        return None
    kept = (after.flops / before.flops) if kind == "flops" else (after.params / before.params)
    target, tol = 1.0 - cfg.search.ratio, cfg.search.budget_tol
    within = abs(kept / target - 1) <= tol + 1e-9
    return {"kind": _KIND[kind], "target": target, "kept": kept, "tol": tol, "within": within,
            "hint": "" if within else _grid_hint(src, cfg)}
