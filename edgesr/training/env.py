"""Where a training run executes: its process group, rank and device, and its SIGTERM handling."""
from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Env:
    distributed: bool
    rank: int
    world: int
    device: torch.device

    @classmethod
    def setup(cls) -> Env:
        distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        cuda = torch.cuda.is_available()
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
        if not distributed:
            return cls(False, 0, 1, device)
        return cls(True, dist.get_rank(), dist.get_world_size(), device)


class Signals:
    """SIGTERM and a first Ctrl-C set a flag, checked between steps, instead of stopping mid-step.

    Why between steps: a stop inside a step (batch drawn, weights half-updated) would checkpoint a
    state that ``--resume`` cannot continue exactly. A second Ctrl-C interrupts at once (the
    default handler is back after the first), keeping the last periodic checkpoint.
    """

    def __init__(self, env: Env) -> None:
        self.env, self.received, self._installed = env, False, False
        self.signal_name = ""
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        if main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._on_signal)
            self._installed = True
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._installed:
            for sig, old in self._old.items():
                signal.signal(sig, old if old is not None else signal.SIG_DFL)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.received = True
        self.signal_name = signal.Signals(signum).name
        if signum == signal.SIGINT:  # a second Ctrl-C: KeyboardInterrupt now
            signal.signal(signal.SIGINT, self._old.get(signal.SIGINT) or signal.default_int_handler)

    def stop(self) -> bool:
        if self.env.distributed:  # every rank stops at the same step, or the collectives would hang
            flag = torch.tensor([float(self.received)], device=self.env.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            self.received = bool(flag.item())
        return self.received


def main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


__all__ = ["Env", "Signals"]
