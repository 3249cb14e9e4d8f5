"""Dual regression training: resumable, reproducible, single process or ``torchrun`` (DDP).

State lives in ``out/last.pt`` (model + dual nets, optimizer, scheduler, sampler position,
RNG, settings), written atomically every ``ckpt_every`` steps and on Ctrl-C/SIGTERM, so a
killed run continues exactly where it stopped with ``resume=True`` and the settings it was
started with (overrides, ``config.json``, ``config_changes.jsonl``: see :mod:`edgesr.training.state`).
The deployable result is ``out/model.pt`` (``edgesr.load_model``), written only by a run that
reached ``steps``: SIGTERM checkpoints and raises :class:`TrainingInterrupted` instead.
``out/best.pt`` keeps the best validation PSNR.

``train`` composes small parts: ``_Env`` (process group, rank, device) and ``_Signals`` (both in
:mod:`edgesr.training.env`), ``_Parts`` (model, loss module, optimizer, scheduler, crop generator,
precision, EMA), ``_RunState`` (step, epoch, position, best), the batch feed
(:mod:`edgesr.training.feed`), ``_restore``, ``_step``, ``_validate``, ``_log_record``, ``_checkpoint``. Options, each in its own module: ``ema``
(:mod:`edgesr.training.ema`), ``precision`` / ``channels_last`` (:mod:`edgesr.training.amp`), ``teacher``
(:mod:`edgesr.training.distill`), ``workers`` (:mod:`edgesr.training.feed`), ``init`` (:mod:`edgesr.training.warm`).
"""
from __future__ import annotations

import json
import logging
import math
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from . import feed as tf
from . import mix as tm
from . import state as ts
from ..config import from_dict, to_dict
from ..data import SRDataset, level_targets
from ..data.degrade import DegradeConfig
from .distill import MODES as DISTILL_MODES, Distiller, load_teacher
from .ema import ModelEMA
from ..errors import ConfigError, EdgeSRError, ModelFormatError, Stopped
from .losses import DualRegressionLoss, intermediate_scales
from ..models import atomic_torch_save, build_model, create_model, load_model, save_model
from ..models.base import SRModel
from ..signals import EXIT_SIGTERM
from .amp import Amp, TrainPrecision, channels_last, resolve_precision
from .env import Env as _Env, Signals as _Signals
from .warm import warm_start

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    model: str = "edge_tiny"  # preset name, or a .pt checkpoint to start from (fine-tuning)
    scale: int = 2
    data: tuple[str, ...] = ()  # folders of HR images (paired)
    unpaired: tuple[str, ...] = ()  # folders of LR-only images (dual loss only)
    val_data: str | None = None  # e.g. Set5; validation PSNR every val_every steps
    out: str = "runs/train"
    steps: int = 1000
    batch: int = 16
    patch: int = 48  # LR patch size
    lr: float = 5e-4
    schedule: str = "cosine"  # cosine | step | constant
    step_size: int = 0  # for schedule=step (0 -> steps // 3)
    gamma: float = 0.5
    dual_weight: float = 0.1  # lambda; 0 disables the dual term
    val_every: int = 500
    ckpt_every: int = 200
    seed: int = 0
    threads: int = 0  # torch CPU threads (0: leave torch's default)
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # config overrides, e.g. channels
    init: str | None = None  # warm start: copy every same-named, same-shaped tensor (e.g. x2 body -> x4)
    progress: bool = True
    ema: float = 0.0  # EMA decay of the weights (e.g. 0.999; 0 = off): validated and saved as model.pt
    precision: str = "fp32"  # auto | fp32 | bf16 | fp16 (CUDA only): edgesr.training.amp
    channels_last: bool = False  # NHWC memory format for the model and its input
    teacher: str | None = None  # distillation teacher: a .pt or a bundled name (edge_base_x2)
    teacher_weight: float = 1.0
    distill: str = "output"  # output (L1 on SR outputs) | feature (MSE on the body output): edgesr.training.distill
    workers: int = 0  # data-loading processes (0: load in the training process); same batches either way
    degrade: str | None = None  # LR of the paired data: a preset (real, bicubic) or JSON file (edgesr.data.degrade)
    unpaired_ratio: float = 1.0  # unpaired batches per paired batch (1.0 alternates): edgesr.training.mix

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "step", "constant"):
            raise ConfigError(f"schedule must be cosine, step or constant, got {self.schedule!r}")
        if not self.data and not self.unpaired:
            raise ConfigError("no training data: pass --data (HR folders) and/or --unpaired (LR folders)")
        if self.unpaired and self.dual_weight <= 0:
            raise ConfigError("unpaired data trains only through the dual loss; set dual_weight > 0")
        if self.scale < 2:
            raise ConfigError(f"scale must be 2 or more (x2, x3, x4), got {self.scale}")
        if self.steps < 1 or self.batch < 1:
            raise ConfigError("steps and batch must be >= 1")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema must be in [0, 1) (e.g. 0.999; 0 = off), got {self.ema}")
        TrainPrecision.parse(self.precision)
        tm.check_ratio(self.unpaired_ratio, bool(self.data), bool(self.unpaired))
        if self.degrade is not None:
            if not self.data:
                raise ConfigError("degrade makes the LR of the paired --data (HR) folders; pass --data or drop it")
            DegradeConfig.load(self.degrade)  # an unknown preset or a bad file fails here, not at the first batch
        if self.distill not in DISTILL_MODES:
            raise ConfigError(f"distill must be one of {', '.join(DISTILL_MODES)}, got {self.distill!r}")
        if self.teacher_weight < 0 or self.workers < 0:
            raise ConfigError("teacher_weight and workers must be >= 0")


class TrainStep(torch.nn.Module):
    """Model + loss (+ distillation term) as one module, so DistributedDataParallel sees the whole forward.

    Returns (total, primal, dual, distill); distill is 0 without a teacher."""

    def __init__(self, model: SRModel, dual_weight: float, distiller: Distiller | None = None) -> None:
        super().__init__()
        self.model = model
        self.loss = DualRegressionLoss(dual_weight)
        self.distill = distiller

    def forward(self, lr: torch.Tensor, hr: torch.Tensor | None = None,
                levels: dict[int, torch.Tensor] | None = None) -> tuple[torch.Tensor, ...]:
        if self.distill is None:
            t = self.loss(self.model, lr, hr, levels)
            return t.total, t.primal, t.dual, lr.new_zeros(())
        with self.distill.capture(self.model) as feats:
            t = self.loss(self.model, lr, hr, levels)
        d = self.distill(lr, t.outputs[-1], feats)
        return t.total + self.distill.weight * d, t.primal, t.dual, d.detach()


def _make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps, eta_min=cfg.lr * 1e-2)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size or max(1, cfg.steps // 3), gamma=cfg.gamma)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def _build(cfg: TrainConfig) -> SRModel:
    if cfg.model.endswith(".pt") and Path(cfg.model).is_file():
        return load_model(cfg.model)
    return create_model(cfg.model, scale=cfg.scale, **cfg.model_kwargs)


class TrainingInterrupted(Stopped):
    """Training stopped by SIGTERM or Ctrl-C: ``last.pt`` is saved, ``model.pt`` is not written."""

    exit_code = EXIT_SIGTERM  # 143, what a shell reports for a terminated process (130 for Ctrl-C)

    def __init__(self, step: int, steps: int, out: Path, signal_name: str = "SIGTERM") -> None:
        super().__init__(f"stopped by {signal_name} at step {step}/{steps}: checkpoint saved in {out / 'last.pt'}, "
                         f"no model.pt written; continue with: edgesr train --resume --out {out}")
        self.step, self.out = step, out
        self.signal_name = signal_name  # a caller rewording the message names the right signal (edgesr adapt)
        if signal_name == "SIGINT":
            self.exit_code = 128 + signal.SIGINT


class TrainingFailed(EdgeSRError):
    """An error part-way through a run (a validation image that cannot be read, a full disk): the message
    says what failed, at which step, where the last checkpoint is and how to continue once it is fixed."""

    def __init__(self, error: BaseException, step: int, steps: int, out: Path, saved: int | None) -> None:
        reason = str(error)
        if isinstance(error, OSError) and error.strerror:  # "No space left on device: runs/x2/last.pt"
            reason = error.strerror + (f": {error.filename}" if error.filename else "")
        if saved is not None:
            where = (f"checkpoint {out / 'last.pt'} is at step {saved}, no model.pt written; fix that and continue "
                     f"with: edgesr train --resume --out {out}")
        else:
            where = "no checkpoint was written yet; fix that and run again"
        super().__init__(f"{reason} (stopped at step {step}/{steps}); {where}")
        self.reason, self.step, self.steps, self.out, self.saved = reason, step, steps, out, saved


@dataclass
class _RunState:
    step: int = 0
    epoch: int = 0  # epoch and position of the paired stream, where a resumed run picks up
    pos: int = 0
    best: float = -math.inf  # best validation PSNR
    saved: int | None = None  # the step last.pt holds (None: no checkpoint yet)


@dataclass
class _Parts:
    """What one training step uses; ``net`` is ``step_mod`` or its DDP wrapper."""

    model: SRModel
    step_mod: TrainStep
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    gen: torch.Generator
    amp: Amp
    ema: ModelEMA | None = None
    memory_format: torch.memory_format = torch.contiguous_format
    net: torch.nn.Module = field(init=False)

    def __post_init__(self) -> None:
        self.net = self.step_mod

    @property
    def eval_model(self) -> SRModel:
        """What is validated and saved: the EMA weights when on, else the trained ones."""
        return self.ema.module if self.ema is not None else self.model


def train(cfg: TrainConfig | None = None, resume: bool = False, *, overrides_from: str = "the train() arguments",
          overwrite: bool = False, **kwargs: Any) -> Path:
    """Train with the dual regression loss; returns the path of the final ``model.pt``.

    With ``resume=True`` the run in ``out`` continues with its saved settings; ``cfg`` fields and
    ``kwargs`` override them (logged as ``resume: NAME OLD -> NEW (from OVERRIDES_FROM)``). An ``out``
    that already holds a run (``last.pt`` / ``model.pt``) is refused unless ``resume`` or ``overwrite``
    (start over: its checkpoints are removed first). ``out`` and ``val_data`` are checked before any step.
    Raises :class:`TrainingInterrupted` after checkpointing when stopped by SIGTERM, and
    :class:`TrainingFailed` (naming ``last.pt`` and the resume command) for an error part-way.
    """
    env = _Env.setup()
    explicit = {**(to_dict(cfg) if cfg else {}), **kwargs}
    run_cfg, state, changes = ts.resolve(explicit, resume, config_from_dict, TrainConfig.out, overrides_from,
                                         report=env.rank == 0)
    _check_start(run_cfg, resume, overwrite, env)
    return _run(run_cfg, state, changes, overrides_from, env)


def _check_start(cfg: TrainConfig, resume: bool, overwrite: bool, env: _Env) -> None:
    """What would otherwise fail part-way (or lose a run): the output folder and the validation data."""
    from ..data import list_images
    from ..overwrite import RUN_FILES, check_run_folder

    out = Path(cfg.out)
    check_run_folder(out, resume=resume, overwrite=overwrite)
    if cfg.val_data:
        val = Path(cfg.val_data)
        if not val.is_dir():
            raise ConfigError(f"--val-data {val}: no such folder; pass a folder of HR images (e.g. Set5), or drop "
                              "--val-data")
        try:
            list_images(val)
        except EdgeSRError:
            raise ConfigError(f"--val-data {val}: no images in it; pass a folder of HR images (e.g. Set5)") from None
    if overwrite and not resume and env.rank == 0:  # start over: nothing of the old run may pass for this one
        for name in (*RUN_FILES, "best.pt", "config_changes.jsonl"):
            (out / name).unlink(missing_ok=True)


def _run(cfg: TrainConfig, state: dict[str, Any] | None, changes: ts.Changes, source: str, env: _Env) -> Path:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    parts = _build_parts(cfg, env, warm=state is None)
    for stale in out.glob(".*.pt.*.tmp"):  # half-written checkpoints of a killed run (the real ones are intact)
        stale.unlink(missing_ok=True)
    rs = _restore(state, parts, cfg, changes, env, out / "last.pt") if state is not None else _RunState()
    if env.distributed:
        parts.net = torch.nn.parallel.DistributedDataParallel(
            parts.step_mod, device_ids=[env.device.index] if env.device.type == "cuda" else None,
            find_unused_parameters=cfg.dual_weight == 0)
    feed = _feed(cfg, parts.model, env, rs, parts.gen)
    try:
        if env.rank == 0:
            _start_records(out, cfg, parts, rs, state is not None, changes, source, env)
        with _Signals(env) as sig:
            _loop(cfg, parts, feed, rs, env, out, sig)
    except (EdgeSRError, OSError) as e:  # part-way: say where the run is and how to continue it
        if rs.step == 0 or isinstance(e, TrainingFailed):
            raise
        raise TrainingFailed(e, rs.step, cfg.steps, out, rs.saved) from e
    finally:
        feed.close()
    if sig.received:
        raise TrainingInterrupted(rs.step, cfg.steps, out, sig.signal_name or "SIGTERM")
    return _finish(parts, cfg, out, rs, env)


def _build_parts(cfg: TrainConfig, env: _Env, warm: bool) -> _Parts:
    amp = Amp(resolve_precision(cfg.precision, env.device), env.device)  # an impossible precision fails first
    torch.manual_seed(cfg.seed)
    model = _build(cfg).to(env.device)
    if cfg.init and warm:
        n = warm_start(model, cfg.init)
        log.info("warm start from %s: %d tensors copied", cfg.init, n)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    if cfg.channels_last:
        model = channels_last(model)
    distiller = _distiller(cfg, model, env.device) if cfg.teacher else None
    step_mod = TrainStep(model, cfg.dual_weight, distiller).to(env.device)
    opt = torch.optim.Adam([p for p in step_mod.parameters() if p.requires_grad], lr=cfg.lr)
    sched = _make_scheduler(opt, cfg)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + env.rank)
    ema = ModelEMA(model, cfg.ema) if cfg.ema > 0 else None
    return _Parts(model, step_mod, opt, sched, gen, amp, ema, fmt)


def _distiller(cfg: TrainConfig, model: SRModel, device: torch.device) -> Distiller:
    assert cfg.teacher is not None
    teacher = load_teacher(cfg.teacher, device)
    d = Distiller(channels_last(teacher) if cfg.channels_last else teacher, model, cfg.distill, cfg.teacher_weight)
    d = channels_last(d) if cfg.channels_last else d
    log.info("distillation from %s (%s, weight %g)", cfg.teacher, cfg.distill, cfg.teacher_weight)
    return d


def _restore(st: dict[str, Any], parts: _Parts, cfg: TrainConfig, changes: ts.Changes, env: _Env,
             path: Path) -> _RunState:
    if st["arch"] != parts.model.arch():
        name = st["arch"].get("name") if isinstance(st["arch"], dict) else "?"
        raise ConfigError(f"{path} holds a different architecture ({name}); "
                          "use a new --out or the same --model/--scale")
    try:
        parts.model.load_state_dict(st["model"])
        parts.opt.load_state_dict(st["optimizer"])
        if ts.SCHEDULE_FIELDS & changes.keys():
            parts.sched = _reschedule(parts.opt, cfg, int(st["step"]))
        else:
            parts.sched.load_state_dict(st["scheduler"])
        parts.gen.set_state(st["gen"][env.rank] if env.rank < len(st["gen"]) else st["gen"][0])
        _restore_options(st, parts, cfg)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as e:
        raise ModelFormatError(f"{path} does not fit this run ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                               "start over without --resume (or with a new --out)") from None
    rs = _RunState(int(st["step"]), int(st["epoch"]), int(st["pos"]), float(st["best"]), saved=int(st["step"]))
    log.info("resumed from %s at step %d", path, rs.step)
    return rs


def _restore_options(st: dict[str, Any], parts: _Parts, cfg: TrainConfig) -> None:
    """EMA weights, fp16 loss scale and distillation adapter, where the run has them."""
    if parts.ema is not None:
        if "ema" in st:
            parts.ema.load_state_dict(st["ema"])
        else:
            parts.ema = ModelEMA(parts.model, cfg.ema)
            log.warning("resume: the run had no EMA weights; the average starts from the step-%d weights", st["step"])
    parts.amp.load_state_dict(st.get("scaler"))
    if parts.step_mod.distill is not None and "distill" in st:
        parts.step_mod.distill.load_state_dict(st["distill"])


def _reschedule(opt: torch.optim.Optimizer, cfg: TrainConfig, step: int) -> torch.optim.lr_scheduler.LRScheduler:
    """A fresh schedule for the changed settings, advanced to ``step`` (as if the run had used them from the start)."""
    for g in opt.param_groups:
        g["lr"] = g["initial_lr"] = cfg.lr
    sched = _make_scheduler(opt, cfg)
    with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": intended here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(step):
            sched.step()
    return sched


def _feed(cfg: TrainConfig, model: SRModel, env: _Env, rs: _RunState, gen: torch.Generator) -> tf.Feed:
    deg = DegradeConfig.load(cfg.degrade) if cfg.degrade else None
    paired = (SRDataset(cfg.data, model.scale, cfg.patch, degrade=deg, levels=intermediate_scales(model))
              if cfg.data else None)
    unpaired = SRDataset(cfg.unpaired, model.scale, cfg.patch, paired=False) if cfg.unpaired else None
    datasets = [ds for ds in (paired, unpaired) if ds is not None]
    plans: list[tf.Plan] = []
    mix = tm.StreamMix.of(cfg.unpaired_ratio, len(datasets))
    for k, ds in enumerate(datasets):
        sampler: DistributedSampler[int] = DistributedSampler(ds, num_replicas=env.world, rank=env.rank,
                                                              shuffle=True, seed=cfg.seed, drop_last=True)
        # stream 0 resumes where last.pt says, the other where its batch count puts it (fewer crops than a batch: error)
        at = mix.position(k, rs.step, len(sampler), cfg.batch)
        epoch, pos = (rs.epoch, rs.pos) if k == 0 else at
        plans.append(tf.plan(sampler, cfg.batch, epoch, pos, gen))
    return tf.make_feed(datasets, plans, gen, rs.step, cfg.workers, pin_memory=env.device.type == "cuda",
                        order=mix.stream)


def _start_records(out: Path, cfg: TrainConfig, parts: _Parts, rs: _RunState, resumed: bool,
                   changes: ts.Changes, source: str, env: _Env) -> None:
    """config.json for a new run; on resume it stays, changes go to config_changes.jsonl."""
    out.mkdir(parents=True, exist_ok=True)
    run = {"precision": str(parts.amp.precision), "device": str(env.device), "torch": torch.__version__}
    log.info("training on %s in %s%s", env.device, parts.amp.precision,
             " (channels_last)" if cfg.channels_last else "")
    if resumed:
        ts.record_changes(out, rs.step, changes, source)
    else:
        (out / "config.json").write_text(json.dumps({**to_dict(cfg), "arch": parts.model.arch(), "run": run},
                                                    indent=2))
    ts.truncate_log(out / "log.jsonl", rs.step)  # a new run starts a new log; a resumed one loses no step twice


def _loop(cfg: TrainConfig, parts: _Parts, feed: tf.Feed, rs: _RunState, env: _Env, out: Path,
          sig: _Signals) -> None:
    bar = tqdm(total=cfg.steps, initial=rs.step, disable=not cfg.progress or env.rank != 0, desc="train", unit="step")
    logf = open(out / "log.jsonl", "a") if env.rank == 0 else None
    t0 = time.perf_counter()
    try:
        parts.model.train()
        while rs.step < cfg.steps and not sig.stop():
            losses = _step(parts, feed, rs, env.device)
            bar.update(1)
            bar.set_postfix(loss=f"{losses[0].item():.4f}", primal=f"{losses[1].item():.4f}",
                            dual=f"{losses[2].item():.4f}")
            rec = _log_record(rs, losses, parts.sched, t0, distill=cfg.teacher is not None)
            try:
                psnr = _validate(cfg, parts.eval_model, out, rs, env)
            except EdgeSRError:
                if not env.distributed:  # the step is complete: keep it, so --resume loses nothing
                    try:
                        _checkpoint(out / "last.pt", parts, feed, cfg, rs, env)
                    except OSError as e:  # never in place of the error on its way up
                        log.warning("could not checkpoint step %d: %s", rs.step, e)
                raise
            if psnr is not None:
                rec["val_psnr"] = psnr
            if logf:
                logf.write(json.dumps(rec) + "\n")
                logf.flush()
            if rs.step % cfg.ckpt_every == 0:
                _checkpoint(out / "last.pt", parts, feed, cfg, rs, env)
    except KeyboardInterrupt:  # a second Ctrl-C, mid-step: the state now is not resumable exactly
        log.warning("interrupted mid-step at step %d: the last periodic checkpoint (every %d steps) is kept; "
                    "continue with --resume", rs.step, cfg.ckpt_every)
        raise
    finally:
        bar.close()
        if logf:
            logf.close()
    _checkpoint(out / "last.pt", parts, feed, cfg, rs, env)


def _step(parts: _Parts, feed: tf.Feed, rs: _RunState, device: torch.device) -> tuple[torch.Tensor, ...]:
    """One optimizer step on the next batch (stream: train_mix.StreamMix); (total, primal, dual, distill)."""
    k, epoch_k, pos_k, batch = feed.next()
    if k == 0:
        rs.epoch, rs.pos = epoch_k, pos_k
    lr_t = batch["lr"].to(device, non_blocking=True, memory_format=parts.memory_format)
    hr_t = batch["hr"].to(device, non_blocking=True) if "hr" in batch else None
    levels = {v: t.to(device, non_blocking=True) for v, t in level_targets(batch).items()}  # x4 DRN: the x2 level
    with parts.amp.autocast():
        losses = parts.net(lr_t, hr_t, levels) if levels else parts.net(lr_t, hr_t)
    parts.opt.zero_grad(set_to_none=True)
    parts.amp.backward_step(losses[0], parts.opt)
    parts.sched.step()
    if parts.ema is not None:
        parts.ema.update(parts.model)
    rs.step += 1
    return losses


def _log_record(rs: _RunState, losses: tuple[torch.Tensor, ...], sched: torch.optim.lr_scheduler.LRScheduler,
                t0: float, distill: bool = False) -> dict[str, Any]:
    total, primal, dual, dist_term = losses
    rec = {"step": rs.step, "loss": total.item(), "primal": primal.item(), "dual": dual.item()}
    if distill:
        rec["distill"] = dist_term.item()
    return {**rec, "lr": sched.get_last_lr()[0], "time": time.perf_counter() - t0}


def _validate(cfg: TrainConfig, model: SRModel, out: Path, rs: _RunState, env: _Env) -> float | None:
    """Validation PSNR when due (rank 0); a new best is saved as best.pt."""
    if not cfg.val_data or env.rank != 0 or not (rs.step % cfg.val_every == 0 or rs.step == cfg.steps):
        return None
    from ..evaluation import evaluate

    r = evaluate(model, cfg.val_data, name=model.name)
    log.info("step %d: val PSNR %.3f dB (bicubic %.3f)", rs.step, r.psnr, r.bicubic_psnr)
    if r.psnr > rs.best:
        rs.best = r.psnr
        save_model(model, out / "best.pt", meta={"step": rs.step, "val_psnr": r.psnr, "val_data": cfg.val_data})
    model.train()
    return r.psnr


def _checkpoint(path: Path, parts: _Parts, feed: tf.Feed, cfg: TrainConfig, rs: _RunState, env: _Env) -> None:
    gens = [feed.gen_state]  # the generator after the last consumed batch (a worker feed plans ahead)
    if env.distributed:
        gathered: list[Any] = [None] * env.world
        dist.all_gather_object(gathered, feed.gen_state)
        gens = gathered
    if env.rank == 0:
        st = {"arch": parts.model.arch(), "model": parts.model.state_dict(), "optimizer": parts.opt.state_dict(),
              "scheduler": parts.sched.state_dict(), "gen": gens, "step": rs.step, "epoch": rs.epoch,
              "pos": rs.pos, "best": rs.best, "config": to_dict(cfg)}
        if parts.ema is not None:
            st["ema"] = parts.ema.state_dict()
        if parts.amp.scaler is not None:
            st["scaler"] = parts.amp.state_dict()
        if parts.step_mod.distill is not None:
            st["distill"] = parts.step_mod.distill.state_dict()
        atomic_torch_save(st, path)
    rs.saved = rs.step


def _finish(parts: _Parts, cfg: TrainConfig, out: Path, rs: _RunState, env: _Env) -> Path:
    final = out / "model.pt"
    if env.rank == 0:
        meta = {"steps": rs.step, "dual_weight": cfg.dual_weight, "data": list(cfg.data),
                "best_val_psnr": rs.best if rs.best > -math.inf else None, "precision": str(parts.amp.precision)}
        if cfg.ema:
            meta["ema"] = cfg.ema
        if cfg.teacher:
            meta["teacher"] = {"model": cfg.teacher, "weight": cfg.teacher_weight, "distill": cfg.distill}
        save_model(parts.eval_model, final, meta=meta)
    if env.distributed:
        dist.barrier()
    return final


def config_from_dict(d: dict[str, Any]) -> TrainConfig:
    return from_dict(TrainConfig, d, what="train config")


__all__ = ["TrainConfig", "TrainingFailed", "TrainingInterrupted", "train", "TrainStep", "build_model", "config_from_dict", "warm_start"]
