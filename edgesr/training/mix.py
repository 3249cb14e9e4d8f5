"""Which stream each training step draws from: paired and unpaired batches mixed at a ratio.

``TrainConfig.unpaired_ratio`` r is the number of unpaired batches per paired batch. With
f = r / (1 + r) (exact fractions, no float drift), step s (0-based) draws an unpaired batch iff
``floor((s + 1) f) > floor(s f)``: the unpaired batches are spread as evenly as possible
(r = 1: P U P U ..., the classic alternation; r = 2: P U U P U U ...; r = 0.5: P P U P P U ...).

The choice is a pure function of the step, so a resumed run draws from the same stream at every
step as an uninterrupted one, and where each stream's plan resumes (its epoch and position) follows
from how many batches it gave before the checkpoint's step: computed, not stored.
With one stream only (paired only, or unpaired only) every step draws from it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..errors import ConfigError

PAIRED, UNPAIRED = 0, 1  # stream indices when both are present (paired first)


def check_ratio(ratio: float, paired: bool, unpaired: bool) -> None:
    """``unpaired_ratio`` is finite and >= 0, and > 0 when unpaired folders are given with paired ones."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio < math.inf:
        raise ConfigError(f"unpaired_ratio must be a number >= 0 (unpaired batches per paired batch, e.g. 1.0), "
                          f"got {ratio!r}; for unpaired data only, pass no paired data instead")
    if paired and unpaired and ratio == 0:
        raise ConfigError("unpaired_ratio 0 would never use the unpaired folders; pass a ratio > 0 or drop them")


@dataclass(frozen=True)
class StreamMix:
    """The stream of every step, for ``streams`` (1 or 2) streams mixed at ``ratio``."""

    ratio: Fraction
    streams: int

    @classmethod
    def of(cls, ratio: float, streams: int) -> StreamMix:
        if streams not in (1, 2):
            raise ConfigError(f"a run mixes 1 or 2 streams (paired, unpaired), got {streams}")
        return cls(Fraction(ratio).limit_denominator(1000), streams)

    @property
    def unpaired_share(self) -> Fraction:
        return self.ratio / (1 + self.ratio)

    def stream(self, step: int) -> int:
        """Index of the stream that step ``step`` (0-based) draws from."""
        if self.streams == 1:
            return 0
        return UNPAIRED if self.unpaired_before(step + 1) > self.unpaired_before(step) else PAIRED

    def unpaired_before(self, step: int) -> int:
        """Unpaired batches drawn by steps 0 .. step - 1 (both streams present)."""
        return math.floor(step * self.unpaired_share)

    def consumed(self, k: int, step: int) -> int:
        """Batches stream ``k`` gave to steps 0 .. step - 1."""
        if self.streams == 1:
            return step
        n = self.unpaired_before(step)
        return n if k == UNPAIRED else step - n

    def position(self, k: int, step: int, items_per_epoch: int, batch: int) -> tuple[int, int]:
        """(epoch, position) at which stream ``k``'s plan resumes at ``step`` (``train_feed.plan`` order)."""
        return position_after(self.consumed(k, step), items_per_epoch, batch)


def position_after(batches: int, items_per_epoch: int, batch: int) -> tuple[int, int]:
    """(epoch, position) of a plan that has given ``batches`` full batches from epoch 0, position 0."""
    per_epoch = items_per_epoch // batch
    if per_epoch < 1:
        raise ConfigError(f"a stream has {items_per_epoch} crops per epoch (per process), fewer than the batch "
                          f"({batch}); add images or use a smaller --batch")
    return batches // per_epoch, (batches % per_epoch) * batch


__all__ = ["StreamMix", "check_ratio", "position_after", "PAIRED", "UNPAIRED"]
