"""Tile sizes (edgesr/tiling.py): a frame just above the limit is not computed twice over."""
from __future__ import annotations

import pytest

from edgesr.tiling import balanced_tile, starts


@pytest.mark.parametrize("length, limit, overlap, multiple", [
    (4000, 3968, 16, 1), (4000, 1024, 16, 1), (512, 160, 24, 1), (512, 200, 16, 8), (100, 8, 7, 1), (33, 32, 4, 4),
])
def test_balanced_tile_same_count_least_work(length: int, limit: int, overlap: int, multiple: int) -> None:
    t = balanced_tile(length, limit, overlap, multiple)
    assert t <= limit and (t % multiple == 0 or t == limit)
    n = len(starts(length, limit, overlap))
    assert len(starts(length, t, overlap)) == n  # as few tiles as the limit allows
    assert n * t <= length + (n - 1) * overlap + n * multiple  # and no larger than that count needs
    assert balanced_tile(100, 128, 16) == 100


def test_just_over_the_limit_is_two_halves() -> None:
    assert balanced_tile(4000, 3968, 16) == 2008  # not 2 tiles of 3968: twice the work
