"""Dual regression training: resumable, reproducible, single process or ``torchrun`` (DDP).

State lives in ``out/last.pt`` (model + dual nets, optimizer, scheduler, sampler position,
RNG), written atomically every ``ckpt_every`` steps and on Ctrl-C/SIGTERM, so a killed run
continues exactly where it stopped with ``resume=True``. The deployable result is
``out/model.pt`` (``edgesr.load_model``); ``out/best.pt`` keeps the best validation PSNR.
"""
from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from .config import from_dict, to_dict
from .data import SRDataset
from .errors import ConfigError
from .losses import DualRegressionLoss
from .models import atomic_torch_save, build_model, create_model, load_model, save_model
from .models.base import SRModel

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

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "step", "constant"):
            raise ConfigError(f"schedule must be cosine, step or constant, got {self.schedule!r}")
        if not self.data and not self.unpaired:
            raise ConfigError("no training data: pass --data (HR folders) and/or --unpaired (LR folders)")
        if self.unpaired and self.dual_weight <= 0:
            raise ConfigError("unpaired data trains only through the dual loss; set dual_weight > 0")
        if self.steps < 1 or self.batch < 1:
            raise ConfigError("steps and batch must be >= 1")


class TrainStep(torch.nn.Module):
    """Model + loss as one module, so DistributedDataParallel sees the whole forward."""

    def __init__(self, model: SRModel, dual_weight: float) -> None:
        super().__init__()
        self.model = model
        self.loss = DualRegressionLoss(dual_weight)

    def forward(self, lr: torch.Tensor, hr: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        t = self.loss(self.model, lr, hr)
        return t.total, t.primal, t.dual


def _batches(ds: SRDataset, sampler: DistributedSampler, batch: int, epoch: int, pos: int,
             gen: torch.Generator) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:
    """Endless batches; yields (epoch, position-after-batch, batch). Crops seeded from ``gen``."""
    while True:
        sampler.set_epoch(epoch)
        idx = list(sampler)
        while pos + batch <= len(idx):
            items = []
            for i in idx[pos:pos + batch]:
                seed = int(torch.randint(0, 2**31 - 1, (), generator=gen))
                items.append(ds.get(i, seed))
            pos += batch
            yield epoch, pos, {k: torch.stack([it[k] for it in items]) for k in items[0]}
        epoch, pos = epoch + 1, 0


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


def train(cfg: TrainConfig | None = None, resume: bool = False, **kwargs: Any) -> Path:
    """Train with the dual regression loss; returns the path of the final ``model.pt``."""
    cfg = replace(cfg, **kwargs) if cfg else TrainConfig(**kwargs)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    state_path = out / "last.pt"

    torch.manual_seed(cfg.seed)
    model = _build(cfg).to(device)
    if cfg.init and not (resume and state_path.is_file()):
        n = warm_start(model, cfg.init)
        log.info("warm start from %s: %d tensors copied", cfg.init, n)
    step_mod = TrainStep(model, cfg.dual_weight).to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    sched = _make_scheduler(opt, cfg)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    step, epoch, pos, best = 0, 0, 0, -math.inf

    for stale in out.glob(".*.pt.*.tmp"):  # half-written checkpoints of a killed run (the real ones are intact)
        stale.unlink(missing_ok=True)
    if resume and state_path.is_file():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        if st["arch"] != model.arch():
            raise ConfigError(f"{state_path} holds a different architecture ({st['arch']['name']}); "
                              "use a new --out or the same --model/--scale")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        gen.set_state(st["gen"][rank] if rank < len(st["gen"]) else st["gen"][0])
        step, epoch, pos, best = st["step"], st["epoch"], st["pos"], st["best"]
        log.info("resumed from %s at step %d", state_path, step)
    elif resume:
        log.warning("--resume: no %s yet, starting a new run", state_path)

    net: torch.nn.Module = step_mod
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            step_mod, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=cfg.dual_weight == 0)

    paired = SRDataset(cfg.data, model.scale, cfg.patch) if cfg.data else None
    unpaired = SRDataset(cfg.unpaired, model.scale, cfg.patch, paired=False) if cfg.unpaired else None
    streams = []
    for ds in (paired, unpaired):
        if ds is not None:
            sampler: DistributedSampler[int] = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True)
            streams.append(_batches(ds, sampler, cfg.batch, epoch, pos, gen))

    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({**to_dict(cfg), "arch": model.arch()}, indent=2))
    logf = open(out / "log.jsonl", "a") if rank == 0 else None

    def checkpoint() -> None:
        gens = [gen.get_state()]
        if distributed:
            gathered: list[Any] = [None] * world
            dist.all_gather_object(gathered, gen.get_state())
            gens = gathered
        if rank == 0:
            atomic_torch_save({"arch": model.arch(), "model": model.state_dict(), "optimizer": opt.state_dict(),
                               "scheduler": sched.state_dict(), "gen": gens, "step": step, "epoch": epoch,
                               "pos": pos, "best": best, "config": to_dict(cfg)}, state_path)

    stop = {"flag": False}

    def on_term(signum: int, frame: Any) -> None:
        stop["flag"] = True

    old = signal.signal(signal.SIGTERM, on_term) if _main_thread() else None
    bar = tqdm(total=cfg.steps, initial=step, disable=not cfg.progress or rank != 0, desc="train", unit="step")
    t0 = time.perf_counter()
    try:
        model.train()
        while step < cfg.steps and not stop["flag"]:
            k = step % len(streams)  # alternate paired / unpaired batches
            epoch_k, pos_k, batch = next(streams[k])
            if k == 0:
                epoch, pos = epoch_k, pos_k
            lr_t = batch["lr"].to(device)
            hr_t = batch["hr"].to(device) if "hr" in batch else None
            total, primal, dual = net(lr_t, hr_t)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sched.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{total.item():.4f}", primal=f"{primal.item():.4f}", dual=f"{dual.item():.4f}")
            rec: dict[str, Any] = {"step": step, "loss": total.item(), "primal": primal.item(), "dual": dual.item(),
                                   "lr": sched.get_last_lr()[0], "time": time.perf_counter() - t0}
            if cfg.val_data and rank == 0 and (step % cfg.val_every == 0 or step == cfg.steps):
                from .evaluate import evaluate

                r = evaluate(model, cfg.val_data, name=model.name)
                rec["val_psnr"] = r.psnr
                log.info("step %d: val PSNR %.3f dB (bicubic %.3f)", step, r.psnr, r.bicubic_psnr)
                if r.psnr > best:
                    best = r.psnr
                    save_model(model, out / "best.pt", meta={"step": step, "val_psnr": r.psnr, "val_data": cfg.val_data})
                model.train()
            if logf:
                logf.write(json.dumps(rec) + "\n")
                logf.flush()
            if step % cfg.ckpt_every == 0:
                checkpoint()
    except KeyboardInterrupt:
        log.warning("interrupted at step %d: checkpoint saved, continue with --resume", step)
        checkpoint()
        raise
    finally:
        bar.close()
        if logf:
            logf.close()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    checkpoint()
    final = out / "model.pt"
    if rank == 0:
        save_model(model, final, meta={"steps": step, "dual_weight": cfg.dual_weight, "data": list(cfg.data),
                                       "best_val_psnr": best if best > -math.inf else None})
    if stop["flag"]:
        log.warning("stopped by SIGTERM at step %d; continue with --resume", step)
    if distributed:
        dist.barrier()
    return final


def warm_start(model: SRModel, path: str | Path, new_scale: float = 1e-2) -> int:
    """Start from another checkpoint: copy same-named tensors, widening where the target is larger.

    Same shape: copied (e.g. the x2 body into x4). Same scale and every dimension at least as
    large (tiny -> base): the source fills the leading slice and the rest keeps its random init
    scaled by ``new_scale``; residual blocks the source lacks get their second conv scaled the
    same way, so they start as near-identities. The widened model then computes almost the same
    function as the source (a Net2Net-style start), and fine-tuning only has to add to it, which
    is what makes a 300K-parameter model trainable from a 16K one in CPU hours. Tensors whose
    shape means something else at another scale (the tail before the pixel shuffle) are skipped.
    """
    src_model = load_model(path)
    src = src_model.state_dict()
    same_scale = src_model.scale == model.scale
    dst = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for k, d in dst.items():
        v = src.get(k)
        if v is not None and v.shape == d.shape:
            out[k] = v
        elif (v is not None and same_scale and v.dim() == d.dim() and v.dim() > 0
              and all(a <= b for a, b in zip(v.shape, d.shape))):
            w = d.clone() * new_scale
            w[tuple(slice(0, n) for n in v.shape)] = v
            out[k] = w
        elif v is None and same_scale and _is_new_block_output(k):
            out[k] = d.clone() * new_scale
    if not any(k in src for k in out):
        raise ConfigError(f"--init {path}: no tensor matches this architecture; use a checkpoint of the same family")
    model.load_state_dict(out, strict=False)
    return sum(1 for k in out if k in src)


def _is_new_block_output(key: str) -> bool:
    # the last conv of a residual block: zero-ish makes the block an identity at the start
    return key.startswith("blocks.") and ".conv2." in key


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def config_from_dict(d: dict[str, Any]) -> TrainConfig:
    return from_dict(TrainConfig, d, what="train config")


__all__ = ["TrainConfig", "train", "TrainStep", "build_model", "config_from_dict"]
