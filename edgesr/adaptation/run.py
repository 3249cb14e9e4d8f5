"""Unpaired adaptation (``edgesr adapt``): fine-tune a model on LR frames of its target source, no HR needed.

The dual regression loss trains on LR-only images through its dual term alone: the primal P
(LR -> HR) and the dual D (HR -> LR) are fitted so that D(P(x)) gives back x (the paper's
semi-supervised setting). :func:`adapt`

1. collects LR frames of a source (video file, camera index, RTSP/HTTP URL, GStreamer pipeline
   or folder of images; evenly spaced, at most ``max_frames``) as PNG into a work folder next to
   the output, and holds out a share of them (``holdout`` 0.2: every 5th frame);
2. fine-tunes with :func:`edgesr.train` on the other frames, mixed with paired batches from HR
   folders (``data``, e.g. T91 / BSDS200) at ``ratio`` frame batches per paired batch when given,
   as a regulariser against drifting away from real detail. A model saved without its dual network
   (the bundled ones) first gets one fitted, the primal frozen (:func:`fit_dual`): against a random
   D the dual loss would drag P anywhere;
3. reports before and after, on the held-out and on the training frames, the no-reference
   measures of :mod:`edgesr.adaptation.metrics` (dual consistency, sharpness, 8x8 blockiness).

Frame selection and capture: :mod:`edgesr.adaptation.frames`.

Work folder ``OUT.work/``: ``adapt.json`` (marks it as ours), ``frames/train/*.png``,
``frames/holdout/*.png``, ``frames.json`` (once the frames are complete), ``base.pt`` (the
starting model), ``before.json`` and ``train/`` (the :func:`edgesr.train` run: ``last.pt``,
``log.jsonl``, ``model.pt``). ``resume=True`` reuses the frames and continues ``train/last.pt``
exactly. The outputs are ``OUT`` (the adapted model) and ``OUT``'s stem + ``.report.json``;
nothing is written inside the source, and existing outputs are kept unless ``overwrite``.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import Comparison, FrameMetrics, frame_metrics
from .frames import iter_frames
from ..video.sources import source_kind
from ..config import from_dict, to_dict
from ..data import write_image
from ..errors import ConfigError, DataError
from ..fileio import atomic_write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdaptConfig:
    data: tuple[str, ...] = ()  # HR folders mixed in as paired batches (e.g. T91, BSDS200); () = frames only
    ratio: float = 1.0  # frame (unpaired) batches per paired batch, when data is given
    steps: int = 300
    batch: int = 8
    patch: int = 48  # LR patch side; frames must be at least this large
    lr: float = 1e-4  # small: a fine-tune, not a new training
    dual_weight: float = 1.0  # lambda: frame batches vs paired L1 (frames only: see docs/real-world.md)
    max_frames: int = 200
    duration: float | None = None  # seconds to capture from a live source (None: until max_frames)
    holdout: float = 0.2  # share of the frames held out for the report (every 1/holdout-th frame)
    degrade: str | None = None  # LR of the paired data: edgesr.data.degrade preset or JSON (e.g. "real")
    seed: int = 0
    ckpt_every: int = 100
    threads: int = 0
    frame_timeout: float = 10.0  # seconds to wait for a frame of a live source
    dual_steps: int = 300  # a model saved without its dual (the bundled ones): fit D alone first, P frozen
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1 or self.ckpt_every < 1 or self.dual_steps < 0:
            raise ConfigError("steps, batch and ckpt_every must be >= 1, dual_steps >= 0")
        if self.patch < 4:
            raise ConfigError(f"patch must be >= 4 (LR pixels), got {self.patch}")
        if not self.lr > 0 or not self.dual_weight > 0:
            raise ConfigError("lr and dual_weight must be > 0: the frames train only through the dual loss")
        if self.max_frames < 2:
            raise ConfigError(f"max_frames must be >= 2, got {self.max_frames}")
        if self.duration is not None and not self.duration > 0:
            raise ConfigError(f"duration must be > 0 seconds (or None), got {self.duration}")
        if not 0.0 <= self.holdout < 1.0:
            raise ConfigError(f"holdout must be in [0, 1) (e.g. 0.2: every 5th frame), got {self.holdout}")
        if not (self.ratio > 0 and math.isfinite(self.ratio)):
            raise ConfigError(f"ratio must be > 0 (frame batches per paired batch, e.g. 1.0), got {self.ratio}")
        if not self.frame_timeout > 0:
            raise ConfigError(f"frame_timeout must be > 0 seconds, got {self.frame_timeout}")


@dataclass
class AdaptReport:
    """What :func:`adapt` did and measured; ``holdout`` is None with ``holdout=0``."""

    model: str
    source: str
    output: str
    report: str
    scale: int
    steps: int
    frames_train: int
    frames_holdout: int
    frame_size: tuple[int, int]  # (width, height) of the smallest frame
    train: Comparison
    holdout: Comparison | None
    dual_loss: tuple[float, float] | None = None  # mean dual L1 of the first / last tenth of the frame batches
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["frame_size"] = list(self.frame_size)
        d["dual_loss"] = None if self.dual_loss is None else {"first": self.dual_loss[0], "last": self.dual_loss[1]}
        return d

    def table(self) -> str:
        head = (f"{self.model} x{self.scale} adapted to {self.source}: {self.frames_train} training + "
                f"{self.frames_holdout} held-out frames ({self.frame_size[0]}x{self.frame_size[1]}), {self.steps} steps")
        rows = [head, f"{'':<32}{'held-out frames':>20}{'training frames':>20}",
                f"{'metric':<32}{'before':>10}{'after':>10}{'before':>10}{'after':>10}"]
        for key, label in FrameMetrics.LABELS.items():
            cells = []
            for c in (self.holdout, self.train):
                cells += [f"{getattr(c.before, key):10.3f}", f"{getattr(c.after, key):10.3f}"] if c else [f"{'-':>10}"] * 2
            rows.append(f"{label:<32}{''.join(cells)}")
        if self.dual_loss:
            rows.append(f"frame-batch dual L1 (training): {self.dual_loss[0]:.5f} -> {self.dual_loss[1]:.5f}"
                        + loss_comment(*self.dual_loss))
        return "\n".join(rows)


#: a training loss that ends this much above where it started has not been fitted: the report says so
LOSS_ROSE = 0.01


def loss_comment(first: float, last: float) -> str:
    """What a first -> last training loss means, for the report line ('' when it fell or held)."""
    if not (first > 0 and last > first * (1 + LOSS_ROSE)):
        return ""
    return (f"  ROSE by {last / first - 1:.0%}: the fine-tune did not fit the frames (the paired --data batches "
            "or a too high --lr pulled it away); try a lower --lr or a higher --ratio, and compare the "
            "held-out columns before keeping the output")


@dataclass(frozen=True)
class _Paths:
    out: Path
    work: Path
    report: Path

    @classmethod
    def of(cls, out: Path) -> _Paths:
        return cls(out, out.with_name(out.name + ".work"), out.with_name(out.stem + ".report.json"))

    @property
    def frames(self) -> Path:
        return self.work / "frames"

    @property
    def train_run(self) -> Path:
        return self.work / "train"

    @property
    def base(self) -> Path:
        return self.work / "base.pt"


@dataclass
class _FrameSet:
    train: list[Path] = field(default_factory=list)
    holdout: list[Path] = field(default_factory=list)


def adapt(model: Any, frames: str | int | os.PathLike[str], out: str | os.PathLike[str],
          cfg: AdaptConfig | None = None, *, resume: bool = False, overwrite: bool = False,
          **options: Any) -> AdaptReport:
    """Adapt ``model`` (a ``.pt``, a bundled name such as ``edge_tiny_x2``, or an SRModel) to the frames of
    ``frames`` (video file, camera index, stream URL, GStreamer pipeline or image folder); write the
    adapted model to ``out`` and its report next to it. ``options`` are :class:`AdaptConfig` fields."""
    cfg = from_dict(AdaptConfig, {**(to_dict(cfg) if cfg else {}), **options}, what="adapt")
    t0 = time.perf_counter()
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    paths, kind = _Paths.of(Path(out)), source_kind(frames)
    _check_destinations(frames, kind, paths, overwrite)
    fresh = _prepare_work(paths, frames, cfg, resume, overwrite)
    try:
        fs, size = _frame_set(paths, frames, kind, cfg, resume)
    except BaseException:
        if fresh:  # a source that fails leaves nothing behind (and no work folder blocking the next try)
            shutil.rmtree(paths.work, ignore_errors=True)
        raise
    base, name = _base_model(model, paths, cfg, resume)
    before = _before(paths, base, fs, cfg.progress)
    from ..models import load_model, save_model

    adapted = load_model(_fine_tune(paths, base.scale, cfg, resume))
    after = {k: frame_metrics(adapted, v, f"after ({k})", cfg.progress) for k, v in _sets(fs).items()}
    report = _report(name, str(frames), paths, base.scale, cfg, fs, size, before, after)
    _warn_drift(report, cfg)
    meta = {**getattr(base, "meta", {}), **getattr(adapted, "meta", {}),  # e.g. the base's pad multiple stays
            "adapt": {"from": name, "source": str(frames), "config": to_dict(cfg)}}
    save_model(adapted, paths.out, meta=meta)
    report.seconds = time.perf_counter() - t0
    atomic_write_text(paths.report, json.dumps(report.to_dict(), indent=2))
    log.info("wrote %s and %s", paths.out, paths.report)
    return report


def _report(name: str, source: str, paths: _Paths, scale: int, cfg: AdaptConfig, fs: _FrameSet,
            size: tuple[int, int], before: dict[str, FrameMetrics | None],
            after: dict[str, FrameMetrics | None]) -> AdaptReport:
    train_cmp = _compare(before["train"], after["train"])
    assert train_cmp is not None  # _check_counts: at least 2 training frames
    return AdaptReport(name, source, str(paths.out), str(paths.report), scale, cfg.steps, len(fs.train),
                       len(fs.holdout), size, train_cmp, _compare(before["holdout"], after["holdout"]),
                       _dual_loss(paths.train_run / "log.jsonl"))


# ------------------------------------------------------------------------------- where it writes
def _inside(path: Path, folder: Path) -> bool:
    p, f = path.resolve(), folder.resolve()
    return p == f or f in p.parents


def _check_destinations(frames: Any, kind: str, paths: _Paths, overwrite: bool) -> None:
    """The outputs never replace the source, never land inside it, and replace earlier outputs only with ``overwrite``."""
    from ..overwrite import check_output_file

    src = Path(os.fspath(frames)) if kind in ("folder", "image", "video") else None
    if src is not None:
        for p in (paths.out, paths.work, paths.report):
            if _inside(p, src) if kind == "folder" else p.resolve() == src.resolve():
                raise ConfigError(f"{p} would be written inside or over the source {src}; edgesr adapt never writes "
                                  "there: choose an -o outside it")
        if _inside(src, paths.work):
            raise ConfigError(f"the source {src} is inside the work folder {paths.work}; pass the original frames")
    check_output_file(None, paths.out, overwrite, kind="pt")
    check_output_file(None, paths.report, overwrite, kind="json")


def _prepare_work(paths: _Paths, frames: Any, cfg: AdaptConfig, resume: bool, overwrite: bool) -> bool:
    """Create (or, with ``overwrite``, empty) the work folder; True if it is new."""
    work = paths.work
    if work.exists() and not resume:
        if not overwrite:
            raise ConfigError(f"work folder {work} exists (an earlier adapt run): pass --resume to continue it, "
                              "or --overwrite to start over")
        if not (work / "adapt.json").is_file() and any(work.iterdir()):
            raise ConfigError(f"{work} exists but was not made by edgesr adapt (no adapt.json); move or remove it")
        shutil.rmtree(work)
    elif resume and not work.exists():
        log.warning("--resume: no work folder %s yet; starting a new adaptation", work)
    fresh = not work.exists()
    work.mkdir(parents=True, exist_ok=True)
    marker = work / "adapt.json"
    if not marker.is_file():
        atomic_write_text(marker, json.dumps({"source": str(frames), "config": to_dict(cfg)}, indent=2))
    return fresh


# ------------------------------------------------------------------------------------ frames
def held_out(n: int, share: float) -> list[bool]:
    """Which of ``n`` frames are held out: spread evenly (0.2: every 5th, the 5th, 10th, ...)."""
    h = Fraction(share).limit_denominator(100)
    return [math.floor((j + 1) * h) > math.floor(j * h) for j in range(n)]


def _frame_set(paths: _Paths, frames: Any, kind: str, cfg: AdaptConfig, resume: bool) -> tuple[_FrameSet, tuple[int, int]]:
    """The split frames on disk and the smallest frame's (width, height): reused on resume (and checked
    against the settings again), else collected, checked and written."""
    index = paths.work / "frames.json"
    if resume and index.is_file():
        saved = json.loads(index.read_text())
        if saved["source"] != str(frames):
            raise ConfigError(f"{paths.work} holds frames of {saved['source']}, not {frames}; pass the same --frames "
                              "to resume, or start over with --overwrite")
        log.info("resume: reusing the %d frames in %s", len(saved["train"]) + len(saved["holdout"]), paths.frames)
        fs = _FrameSet([paths.frames / "train" / n for n in saved["train"]],
                       [paths.frames / "holdout" / n for n in saved["holdout"]])
        return fs, _check_frames(fs, frames, cfg)
    if paths.frames.exists():
        shutil.rmtree(paths.frames)  # frames of a run killed while collecting them
    staging, names, shapes = paths.frames / ".collecting", [], []
    try:
        for i, img in iter_frames(frames, cfg.max_frames, cfg.duration, cfg.frame_timeout, cfg.progress):  # written as they come: memory stays flat on long sources
            names.append(f"{i:06d}.png")
            shapes.append(img.shape)
            write_image(staging / names[-1], img)
        hold = held_out(len(names), cfg.holdout)
        _check_counts(frames, len(names) - sum(hold), sum(hold), cfg)
        size = _check_sizes(frames, shapes, cfg.patch)
    except BaseException:
        shutil.rmtree(paths.frames, ignore_errors=True)
        raise
    fs = _FrameSet()
    for name, h in zip(names, hold):
        dst = paths.frames / ("holdout" if h else "train") / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (staging / name).rename(dst)
        (fs.holdout if h else fs.train).append(dst)
    staging.rmdir()
    atomic_write_text(index, json.dumps({"source": str(frames), "kind": kind, "train": [p.name for p in fs.train],
                                         "holdout": [p.name for p in fs.holdout]}, indent=2))
    return fs, size


def _check_counts(frames: Any, n_train: int, n_hold: int, cfg: AdaptConfig) -> None:
    if n_train < 2 or (cfg.holdout > 0 and n_hold < 1):
        need = "2 for training" + (" and 1 held out" if cfg.holdout > 0 else "")
        raise DataError(f"too few frames: {n_train + n_hold} usable from {frames} ({n_train} for training, {n_hold} "
                        f"held out); need at least {need}: use a longer source, more --max-frames, a longer "
                        "--duration, or --holdout 0")


def _check_sizes(frames: Any, shapes: list[tuple[int, ...]], patch: int) -> tuple[int, int]:
    h, w = min(shapes, key=lambda s: min(s[0], s[1]))[:2]
    if min(h, w) < patch:
        raise DataError(f"frames of {frames} are {w}x{h}, smaller than the LR patch {patch}; pass --patch {min(h, w)}")
    return w, h


def _check_frames(fs: _FrameSet, frames: Any, cfg: AdaptConfig) -> tuple[int, int]:
    """(width, height) of the smallest frame on disk, after the count and size checks."""
    import cv2

    shapes = []
    for p in fs.train + fs.holdout:
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise DataError(f"frame {p} is missing or unreadable; start over with --overwrite")
        shapes.append(img.shape)
    _check_counts(frames, len(fs.train), len(fs.holdout), cfg)
    return _check_sizes(frames, shapes, cfg.patch)


def _warn_drift(report: AdaptReport, cfg: AdaptConfig, limit: float = 1.5) -> None:
    """The dual loss alone can be gamed: P adds high frequencies that D learns to undo. Say so when P(x)
    became much sharper (Laplacian variance) than before on the frames measured."""
    c = report.holdout or report.train
    grown = c.after.sharpness / max(c.before.sharpness, 1e-12)
    if grown > limit:
        hint = "fewer --steps or a lower --lr" if cfg.data else "pass --data (HR folders, e.g. T91 BSDS200)"
        log.warning("P(x) is %.1fx as sharp as before (Laplacian variance %.2f -> %.2f x bicubic): likely "
                    "high-frequency artefacts that the dual network learned to undo; check the output, and %s",
                    grown, c.before.sharpness, c.after.sharpness, hint)


def _compare(before: FrameMetrics | None, after: FrameMetrics | None) -> Comparison | None:
    return Comparison(before, after) if before is not None and after is not None else None


def _sets(fs: _FrameSet) -> dict[str, list[Path]]:
    return {"train": fs.train, "holdout": fs.holdout}


# ---------------------------------------------------------------------------------- training
def _base_model(model: Any, paths: _Paths, cfg: AdaptConfig, resume: bool) -> tuple[Any, str]:
    """The starting model, and its name; saved once as ``base.pt`` (what the training run starts from),
    its dual fitted first (:func:`fit_dual`) when the file has none."""
    from ..hub import bundled_model_by_name, is_bundled_name
    from ..models import load_model, read_checkpoint, save_model
    from ..models.base import SRModel

    import torch

    if resume and paths.base.is_file():  # the model the run started from, whatever MODEL is now
        return load_model(paths.base).eval(), getattr(model, "name", str(model))
    torch.manual_seed(cfg.seed)  # a dual missing from the file is initialised the same way every time
    if isinstance(model, SRModel):
        name, m, has_dual = getattr(model, "name", "model"), model, True
    else:
        path = bundled_model_by_name(model, format="pt") if is_bundled_name(model) else Path(os.fspath(model))
        name, m = str(model), load_model(path)
        has_dual = bool(read_checkpoint(path).get("has_dual", True))
    meta = dict(getattr(m, "meta", {}))
    if not has_dual and cfg.dual_steps:
        m = copy.deepcopy(m)
        loss = fit_dual(m, paths.frames / "train", cfg)
        log.info("%s has no dual network: fitted one in %d steps on the frames, the primal frozen (L1 %.4f)",
                 name, cfg.dual_steps, loss)
        meta["adapt_dual_fit"] = {"steps": cfg.dual_steps, "l1": loss}
    elif not has_dual:
        log.warning("%s has no dual network and dual_steps is 0: the dual starts untrained, so the 'before' dual "
                    "consistency means nothing and the first steps push the primal anywhere", name)
    save_model(m, paths.base, meta=meta, collapse=False)
    return load_model(paths.base).eval(), name  # a copy: the caller's model is left as it was


def fit_dual(model: Any, frames_dir: Path, cfg: AdaptConfig, lr: float = 3e-3) -> float:
    """Fit the dual network alone, the primal frozen, so that D(P(x)) gives back x on random crops of the
    frames (``cfg.dual_steps`` Adam steps of ``cfg.batch`` crops); returns the last L1. Without it a model
    saved without its dual would be fine-tuned against a random D, which drags P anywhere."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from .metrics import dual_chain
    from ..data import SRDataset

    ds = SRDataset([frames_dir], model.scale, cfg.patch, paired=False)
    rng = np.random.default_rng([cfg.seed, 0xD0A1])
    opt = torch.optim.Adam(model.dual.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.dual_steps), eta_min=lr * 1e-2)
    model.eval()
    loss = torch.zeros(())
    for _ in tqdm(range(cfg.dual_steps), unit="step", desc="fitting the dual", disable=not cfg.progress):
        picks = zip(rng.integers(0, len(ds), cfg.batch), rng.integers(0, 2**31 - 1, cfg.batch))
        x = torch.stack([ds.get(int(i), int(seed))["lr"] for i, seed in picks])
        with torch.no_grad():
            sr = model(x)
        loss = F.l1_loss(dual_chain(model, sr), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return loss.item()


def _before(paths: _Paths, base: Any, fs: _FrameSet, progress: bool) -> dict[str, FrameMetrics | None]:
    cache = paths.work / "before.json"
    if cache.is_file():
        return {k: FrameMetrics(**v) if v else None for k, v in json.loads(cache.read_text()).items()}
    before = {k: frame_metrics(base, v, f"before ({k})", progress) for k, v in _sets(fs).items()}
    atomic_write_text(cache, json.dumps({k: asdict(v) if v else None for k, v in before.items()}, indent=2))
    return before


def _fine_tune(paths: _Paths, scale: int, cfg: AdaptConfig, resume: bool) -> Path:
    from ..signals import signal_label
    from ..training import TrainConfig, TrainingFailed, TrainingInterrupted, train

    tc = TrainConfig(model=str(paths.base), scale=scale, data=tuple(cfg.data), unpaired=(str(paths.frames / "train"),),
                     unpaired_ratio=cfg.ratio, degrade=cfg.degrade, out=str(paths.train_run), steps=cfg.steps,
                     batch=cfg.batch, patch=cfg.patch, lr=cfg.lr, dual_weight=cfg.dual_weight,
                     ckpt_every=min(cfg.ckpt_every, cfg.steps), seed=cfg.seed, threads=cfg.threads,
                     progress=cfg.progress)
    try:
        return train(tc, resume=resume, overrides_from="the adapt settings")
    except TrainingInterrupted as e:  # the hint of edgesr train would be the wrong command here
        e.args = (f"stopped by {signal_label(getattr(e, 'signal_name', None))} at step {e.step}/{cfg.steps}: state "
                  f"saved in {paths.train_run / 'last.pt'}, no output written; continue with the same command plus "
                  "--resume",)
        raise
    except TrainingFailed as e:
        where = (f"state saved in {paths.train_run / 'last.pt'} (step {e.saved}), no output written; fix that and "
                 "continue with the same command plus --resume") if e.saved is not None else \
            "no checkpoint yet, no output written; fix that and run again"
        e.args = (f"{e.reason} (stopped at step {e.step}/{cfg.steps}); {where}",)
        raise


def _dual_loss(log_path: Path) -> tuple[float, float] | None:
    """Mean dual L1 of the first and the last tenth of the frame (unpaired: primal 0) batches."""
    from ..training.log import read_log

    dual = [r["dual"] for r in read_log(log_path, missing_ok=True) if r.get("primal") == 0]
    if not dual:
        return None
    k = max(1, len(dual) // 10)
    return float(np.mean(dual[:k])), float(np.mean(dual[-k:]))


__all__ = ["AdaptConfig", "AdaptReport", "adapt", "fit_dual", "held_out"]

