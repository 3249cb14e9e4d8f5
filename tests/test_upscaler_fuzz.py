"""Fuzzing the frame API: any array or tensor gives a correct frame or an ``EdgeSRError``, nothing else.

Deterministic (``derandomize``): dtypes, shapes (ndim 1..4, tiny, odd and empty), strides
(steps, negative steps, transposes), channel counts 1..5 and values (out-of-range floats, float64
beyond float32, NaN, inf, floats in 0..255) through ``Upscaler.run`` on a tiny ONNX model, untiled and
tiled. A frame is valid exactly when the documented contract says so (floats: finite, at most ``FLOAT_MAX``); a valid frame must give the same output as
its contiguous, clipped-to-[0, 1] copy (strides and saturation are handled, not mangled).
"""
from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import edgesr
from edgesr.errors import EdgeSRError
from edgesr.upscaler import FLOAT_MAX

SUPPORTED = {np.dtype(t) for t in (np.uint8, np.uint16, np.float16, np.float32, np.float64)}
DTYPES = [np.uint8, np.uint16, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64,
          np.bool_, np.complex64]
# EDGESR_FUZZ_EXAMPLES=5000 EDGESR_FUZZ_RANDOM=1 for a longer, randomised hunt
FUZZ = settings(max_examples=int(os.environ.get("EDGESR_FUZZ_EXAMPLES", 150)), deadline=None,
                derandomize=not os.environ.get("EDGESR_FUZZ_RANDOM"), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def ups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[bool, edgesr.Upscaler]]:
    """Untiled, and tiled into 8x8 tiles (every frame above 8x8 crosses tile borders)."""
    from conftest import tiny_model
    from edgesr.export import export_onnx

    onnx = export_onnx(tiny_model("edge", 2), tmp_path_factory.mktemp("fuzz") / "m.onnx")
    with edgesr.Upscaler(onnx, max_pixels=0) as full, edgesr.Upscaler(onnx, max_pixels=8 * 8, tile_overlap=4) as tiled:
        yield {False: full, True: tiled}


def _values(draw: Any, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype.kind in "fc":
        lo, hi = draw(st.sampled_from([(0.0, 1.0), (-3.0, 1.9), (-3.0, 4.0), (-1e30, 1e30), (0.0, 255.0)]))
        a = rng.uniform(lo, hi, shape)
        if dtype == np.float64 and draw(st.booleans()):
            a[..., :1] = draw(st.sampled_from([-1e300, 1e300]))  # beyond float32: overflows to inf when staged
        special = draw(st.sampled_from([None, None, None, np.nan, np.inf, -np.inf]))
        if special is not None and a.size:
            a.flat[rng.integers(a.size)] = special
        with np.errstate(over="ignore", invalid="ignore"):
            return a.astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype)


def _dims(draw: Any, largest: int) -> list[int]:
    """ndim 1..4 (mostly 2 or 3), sizes 1..largest, a channel count 1..5 last; sometimes a 0 anywhere."""
    ndim = draw(st.sampled_from([3, 2, 3, 2, 1, 4]))
    dims = [draw(st.integers(1, largest)) for _ in range(ndim)]
    if ndim >= 3:
        dims[-1] = draw(st.sampled_from([3, 1, 4, 3, 2, 5, 3, 4]))
    if draw(st.sampled_from([False] * 9 + [True])):
        dims[draw(st.integers(0, ndim - 1))] = 0
    return dims


@st.composite
def frames(draw: Any) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(DTYPES + sorted(SUPPORTED, key=str) * 2)))  # supported ones 3x
    dims = _dims(draw, 13)
    ndim = len(dims)
    steps = [draw(st.sampled_from([1, 1, 2, -1, -2])) for _ in range(ndim)]
    base = _values(draw, dtype, tuple(d * abs(k) for d, k in zip(dims, steps)))
    a = base[tuple(slice(None, None, k) for k in steps)]
    if ndim >= 2 and draw(st.booleans()):
        a = np.swapaxes(np.swapaxes(a, 0, 1).copy(), 0, 1)  # Fortran-like layout over H, W
    return a


def valid(f: np.ndarray) -> bool:
    """The documented contract of Upscaler.run."""
    if f.dtype not in SUPPORTED:
        return False
    if not (f.ndim == 2 or (f.ndim == 3 and f.shape[2] in (1, 3, 4))) or 0 in f.shape[:2]:
        return False
    if f.dtype.kind != "f":
        return True
    with np.errstate(over="ignore"):  # float16 sums
        return bool(np.isfinite(f).all()) and float(f.max()) <= FLOAT_MAX  # above: 0..255 data, refused


@FUZZ
@given(frame=frames(), tiled=st.booleans())
def test_run_gives_a_frame_or_an_edgesr_error(ups: dict[bool, edgesr.Upscaler], frame: np.ndarray,
                                             tiled: bool) -> None:
    up = ups[tiled]
    try:
        out = up.run(frame)
    except EdgeSRError as e:
        event("refused")  # --hypothesis-show-statistics: the accepted/refused mix
        assert not valid(frame), f"valid frame {frame.shape} {frame.dtype} refused: {e}"
        assert str(e) and "\n" not in str(e)
        return
    event("accepted")
    assert valid(frame), f"invalid frame {frame.shape} {frame.dtype} accepted"
    s = up.scale
    assert isinstance(out, np.ndarray) and out.dtype == frame.dtype
    assert out.shape == (s * frame.shape[0], s * frame.shape[1]) + frame.shape[2:]
    if out.dtype.kind == "f":
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    ref_in = np.clip(frame, 0, 1) if frame.dtype.kind == "f" else frame
    np.testing.assert_array_equal(out, up.run(np.ascontiguousarray(ref_in)))


TORCH_DTYPES = [torch.uint8, torch.int16, torch.int32, torch.bool, torch.float16, torch.float32, torch.float64,
                torch.bfloat16]


@st.composite
def tensors(draw: Any) -> torch.Tensor:
    dims = _dims(draw, 11)
    ndim = len(dims)
    steps = [draw(st.sampled_from([1, 2])) for _ in range(ndim)]
    x = torch.from_numpy(_values(draw, np.dtype(np.float64), tuple(d * k for d, k in zip(dims, steps))))
    x = x[tuple(slice(None, None, k) for k in steps)]
    dtype = draw(st.sampled_from(TORCH_DTYPES + [torch.uint8, torch.float32, torch.float16]))
    if not dtype.is_floating_point:
        x = torch.nan_to_num(x, 0.0, 0.0, 0.0).clamp(0, 1) * (1 if dtype == torch.bool else 200)
    return x.to(dtype)


@settings(FUZZ, max_examples=max(FUZZ.max_examples * 2 // 5, 1))
@given(x=tensors(), tiled=st.booleans())
def test_run_tensor_gives_a_tensor_or_an_edgesr_error(ups: dict[bool, edgesr.Upscaler], x: torch.Tensor,
                                                     tiled: bool) -> None:
    up = ups[tiled]
    try:
        y = up.run(x)
    except EdgeSRError as e:
        event("refused")
        ok_shape = x.ndim == 2 or (x.ndim == 3 and x.shape[2] in (1, 3, 4))
        ok_dtype = x.dtype.is_floating_point or x.dtype == torch.uint8
        finite = not x.dtype.is_floating_point or (bool(torch.isfinite(x).all())
                                                   and (x.numel() == 0 or float(x.max()) <= FLOAT_MAX))
        assert not (ok_shape and ok_dtype and finite and 0 not in x.shape[:2])
        return
    event("accepted")
    s = up.scale
    assert isinstance(y, torch.Tensor) and y.dtype == x.dtype and y.device == x.device
    assert tuple(y.shape) == (s * x.shape[0], s * x.shape[1]) + tuple(x.shape[2:])
    if y.dtype.is_floating_point:
        assert bool(torch.isfinite(y).all()) and float(y.min()) >= 0 and float(y.max()) <= 1
