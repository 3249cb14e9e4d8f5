"""Tile sizes (edgesr/tiling.py): a frame just above the limit is not computed twice over, and the default tile
is the measured one within the memory budget (issue 25)."""
from __future__ import annotations

import math

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


# -- the default tile (issue 25): chosen for speed within the memory budget, a pure function ----------------
from edgesr import budget  # noqa: E402
from edgesr.tiling import DEFAULT_TILE, WHOLE_FRAME_TILES, default_tile  # noqa: E402

GIB = 1 << 30


def _max_pixels(width: int, scale: int, budget_bytes: int) -> int:
    """What :func:`edgesr.budget.default_max_pixels` gives a model of widest map ``width`` on a CPU backend."""
    return budget_bytes // budget.bytes_per_pixel(width, scale, lr_space=True)


@pytest.mark.parametrize("side", [2000, 4000, 6000, 8000])
@pytest.mark.parametrize("width", [8, 16, 48])  # edge_nano, edge_tiny, edge_base (widest feature maps)
def test_large_frames_get_the_measured_tile_not_the_largest_that_fits(side: int, width: int) -> None:
    mp = _max_pixels(width, 2, int(5.5 * GIB))  # 25 % of 22 GB available: room for tiles of 2400..3800
    assert math.isqrt(mp) > 2 * DEFAULT_TILE
    assert default_tile(side, side, mp) == DEFAULT_TILE  # before: the budget's side (3008 tiles at 6000^2)


def test_frames_up_to_three_tiles_of_pixels_run_whole() -> None:
    mp = _max_pixels(16, 2, int(5.5 * GIB))
    assert WHOLE_FRAME_TILES * DEFAULT_TILE ** 2 > 1920 * 1200
    for h, w in [(1080, 1920), (1200, 1920), (720, 1280), (1024, 1024), (64, 64)]:
        assert default_tile(h, w, mp) is None, (h, w)  # video frames: whole is faster once the arena is warm
    assert default_tile(1440, 2560, mp) == DEFAULT_TILE and default_tile(700, 6000, mp) == DEFAULT_TILE


def test_a_small_budget_still_bounds_the_tile() -> None:
    small = _max_pixels(48, 2, 256 << 20)  # edge_base on a machine with 1 GB available
    t = default_tile(8000, 8000, small)
    assert t is not None and t < DEFAULT_TILE and t * t <= small and t == math.isqrt(small)
    assert default_tile(8000, 8000, small, multiple=8) == t // 8 * 8
    tiny_budget = 300 * 300  # a frame over the budget is tiled even below the whole-frame size
    assert default_tile(500, 500, tiny_budget) == 300
    assert default_tile(500, 500, None) is None and default_tile(4000, 4000, None) == DEFAULT_TILE
    assert default_tile(4000, 4000, 0) == DEFAULT_TILE  # 0 = no budget


def test_the_tile_side_follows_the_pad_multiple_and_is_none_when_one_tile_holds_the_frame() -> None:
    assert default_tile(4000, 4000, None, multiple=48) == DEFAULT_TILE // 48 * 48
    assert default_tile(4000, 900, None, tile=1024) == 1024  # tiled along the long side only
    assert default_tile(3000, 1000, None, tile=1000) is None  # exactly three tiles' worth: whole
    assert default_tile(3001, 1000, None, tile=1000) == 1000
    assert default_tile(100, 100, None, tile=8) == 8 and default_tile(20, 20, None, tile=8) == 8


def test_upscaler_uses_the_default_tile_only_when_nothing_was_chosen(tmp_path, photo) -> None:
    import numpy as np

    import edgesr
    from conftest import tiny_model
    from edgesr.export import export_onnx

    onnx = export_onnx(tiny_model("edge", 2), tmp_path / "m.onnx")
    with edgesr.Upscaler(onnx) as up:
        assert up.auto_tile == DEFAULT_TILE and up.info()["auto_tile"] == DEFAULT_TILE
        up.auto_tile = 32  # the same rule at a size a test can run: frames above 3 x 32^2 pixels are tiled
        frame = np.ascontiguousarray(photo[:100, :120, ::-1])
        out = up.run(frame)
        plan = next(iter(up._plans.values()))
        assert out.shape == (200, 240, 3) and plan.tiles is not None and max(plan.tiles.tile_h, plan.tiles.tile_w) <= 32
        small = np.ascontiguousarray(photo[:40, :60, ::-1])  # 2400 px <= 3 x 32^2: whole
        up.run(small)
        assert up._plans[(1, 40, 60, 3, small.dtype)].tiles is None
    for opts in ({"tile": 512}, {"max_pixels": 0}, {"max_pixels": 10 ** 6}):
        with edgesr.Upscaler(onnx, **opts) as up:
            assert up.auto_tile is None, opts  # a choice the caller made is kept
