"""Training batches: the same items, loaded in the training process or in worker processes.

A *plan* decides each batch: the sampler's order for the epoch and one crop seed per item drawn
from the run's generator, paired and unpaired streams mixed step by step (``order``: the stream of each
step, :class:`edgesr.training.mix.StreamMix`; default: alternating). Loading an item is
``dataset.get(index, seed)``, a pure function of the pair, so where it runs cannot change the data.
With ``workers > 0`` (``TrainConfig.workers``) a ``torch.utils.data.DataLoader`` loads the planned
batches in that many processes (pinned memory on CUDA) while the step runs; the plan runs ahead of
training, so the generator state a checkpoint stores is the one recorded after the last *consumed*
batch, which is exactly what the in-process feed stores: a run resumes bit-exactly either way.
"""
from __future__ import annotations

import collections
from typing import Any, Callable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..data import SRDataset

Batch = dict[str, torch.Tensor]
Plan = Iterator[tuple[int, int, list[tuple[int, int]]]]


def plan(sampler: DistributedSampler, batch: int, epoch: int, pos: int, gen: torch.Generator) -> Plan:
    """Endless (epoch, position-after-batch, [(index, seed)]) for one stream; seeds drawn from ``gen``."""
    while True:
        sampler.set_epoch(epoch)
        idx = list(sampler)
        while pos + batch <= len(idx):
            items = [(i, int(torch.randint(0, 2**31 - 1, (), generator=gen))) for i in idx[pos:pos + batch]]
            pos += batch
            yield epoch, pos, items
        epoch, pos = epoch + 1, 0


def collate(items: Sequence[Batch]) -> Batch:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


class _Planner:
    """Draws from the streams' plans (stream ``order(step)``, default alternating) from step ``step`` on,
    recording the generator after each batch."""

    def __init__(self, plans: list[Plan], gen: torch.Generator, step: int,
                 order: Callable[[int], int] | None = None) -> None:
        self.plans, self.gen, self.step, self.order = plans, gen, step, order

    def next(self) -> tuple[int, int, int, list[tuple[int, int]], torch.Tensor]:
        k = self.order(self.step) if self.order is not None else self.step % len(self.plans)
        epoch, pos, items = next(self.plans[k])
        self.step += 1
        return k, epoch, pos, items, self.gen.get_state()


class Feed:
    """In-process loading: ``next()`` gives (stream, epoch, position, batch) for the next step."""

    def __init__(self, datasets: list[SRDataset], plans: list[Plan], gen: torch.Generator, step: int,
                 order: Callable[[int], int] | None = None) -> None:
        self.datasets, self.planner = datasets, _Planner(plans, gen, step, order)
        self.gen_state = gen.get_state()  # the generator after the last consumed batch (what last.pt stores)

    def next(self) -> tuple[int, int, int, Batch]:
        k, epoch, pos, items, self.gen_state = self.planner.next()
        return k, epoch, pos, collate([self.datasets[k].get(i, s) for i, s in items])

    def close(self) -> None:
        pass


class _Items(Dataset):
    def __init__(self, datasets: list[SRDataset]) -> None:
        self.datasets = datasets

    def __getitem__(self, key: tuple[int, int, int]) -> Batch:
        k, i, seed = key
        return self.datasets[k].get(i, seed)

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


class _PlannedBatches:
    """The DataLoader's batch sampler: iterated in the training process, ahead of the step."""

    def __init__(self, planner: _Planner, pending: collections.deque[Any]) -> None:
        self.planner, self.pending = planner, pending

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        while True:
            k, epoch, pos, items, state = self.planner.next()
            self.pending.append((k, epoch, pos, state))
            yield [(k, i, s) for i, s in items]


class WorkerFeed(Feed):
    """Loading in ``workers`` processes; batches arrive in plan order (the DataLoader keeps it)."""

    def __init__(self, datasets: list[SRDataset], plans: list[Plan], gen: torch.Generator, step: int,
                 workers: int, pin_memory: bool = False, order: Callable[[int], int] | None = None) -> None:
        super().__init__(datasets, plans, gen, step, order)
        self._pending: collections.deque[Any] = collections.deque()
        loader = DataLoader(_Items(datasets), batch_sampler=_PlannedBatches(self.planner, self._pending),
                            num_workers=workers, pin_memory=pin_memory)
        self._it: Iterator[Batch] | None = iter(loader)

    def next(self) -> tuple[int, int, int, Batch]:
        if self._it is None:
            raise RuntimeError("WorkerFeed used after close()")
        batch = next(self._it)
        k, epoch, pos, self.gen_state = self._pending.popleft()
        return k, epoch, pos, batch

    def close(self) -> None:
        it, self._it = self._it, None
        shutdown = getattr(it, "_shutdown_workers", None)  # what the iterator's finalizer calls
        if shutdown is not None:
            shutdown()


def make_feed(datasets: list[SRDataset], plans: list[Plan], gen: torch.Generator, step: int, workers: int,
              pin_memory: bool, order: Callable[[int], int] | None = None) -> Feed:
    if workers > 0:
        return WorkerFeed(datasets, plans, gen, step, workers, pin_memory, order)
    return Feed(datasets, plans, gen, step, order)


__all__ = ["Feed", "WorkerFeed", "make_feed", "plan", "collate"]
