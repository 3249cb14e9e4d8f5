"""Upscaler frame conventions, checks and errors (ONNX Runtime on CPU, tiny models, real photo crops)."""
from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import edgesr
from edgesr.errors import ConfigError, InputError, MissingDependencyError, ModelFormatError


@pytest.fixture(scope="module")
def onnx_x2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import tiny_model
    from edgesr.export import export_onnx

    p = tmp_path_factory.mktemp("rt") / "edge_x2.onnx"
    export_onnx(tiny_model("edge", 2), p)
    return p


@pytest.fixture(scope="module")
def up(onnx_x2: Path) -> edgesr.Upscaler:
    return edgesr.Upscaler(onnx_x2)


@pytest.fixture(scope="module")
def bgr(small_photo: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(small_photo[:, :, ::-1])


def test_bgr_default_and_rgb_option(onnx_x2: Path, up: edgesr.Upscaler, bgr: np.ndarray, small_photo: np.ndarray) -> None:
    out = up.run(bgr)
    assert out.shape == (bgr.shape[0] * 2, bgr.shape[1] * 2, 3) and out.dtype == np.uint8
    with edgesr.Upscaler(onnx_x2, color="rgb") as rgb_up:
        out_rgb = rgb_up.run(small_photo)
    np.testing.assert_array_equal(out_rgb, out[:, :, ::-1])
    # the result is an upscaled photo, not noise: close to bicubic of the same frame
    import cv2

    bic = cv2.resize(bgr, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_CUBIC)
    assert np.abs(out.astype(float) - bic).mean() < 40


def test_float_uint16_gray_bgra(up: edgesr.Upscaler, bgr: np.ndarray) -> None:
    import cv2

    ref = up.run(bgr).astype(np.float64)
    f = up.run(bgr.astype(np.float32) / 255)
    assert f.dtype == np.float32 and 0 <= f.min() and f.max() <= 1
    assert np.abs(f * 255 - ref).max() <= 0.51
    u16 = up.run(bgr.astype(np.uint16) * 257)
    assert u16.dtype == np.uint16 and np.abs(u16 / 257.0 - ref).max() <= 0.51
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    g = up.run(gray)
    assert g.shape == (gray.shape[0] * 2, gray.shape[1] * 2) and g.dtype == np.uint8
    assert up.run(gray[:, :, None]).shape == g.shape + (1,)
    alpha = np.linspace(0, 255, bgr.shape[1], dtype=np.float32)[None].repeat(bgr.shape[0], 0).astype(np.uint8)
    o4 = up.run(np.dstack([bgr, alpha]))
    assert o4.shape[2] == 4
    np.testing.assert_array_equal(o4[:, :, :3], ref.astype(np.uint8))  # colour unaffected by alpha
    bic = cv2.resize(alpha, (o4.shape[1], o4.shape[0]), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(o4[:, :, 3], bic)


def test_odd_sizes_and_padding(onnx_x2: Path, up: edgesr.Upscaler, bgr: np.ndarray) -> None:
    odd = np.ascontiguousarray(bgr[:77, :101])
    ref = up.run(odd)
    assert ref.shape == (154, 202, 3)
    with edgesr.Upscaler(onnx_x2, pad_multiple=16) as padded:  # pads to 80x112, crops back
        out = padded.run(odd)
    assert out.shape == ref.shape
    # replicate-padding only changes pixels within the receptive field of the padded border
    np.testing.assert_array_equal(out[:140, :190], ref[:140, :190])


@pytest.mark.parametrize("pad", [None, 16])
def test_uint8_fast_path_matches_float_path(onnx_x2: Path, bgr: np.ndarray, pad: int | None) -> None:
    """uint8 colour frames take the OpenCV convert+merge path; it must round like the float path."""
    odd = np.ascontiguousarray(bgr[:77, :101])
    with edgesr.Upscaler(onnx_x2, pad_multiple=pad) as u:
        fast = u.run(odd)
        assert any(pl.u8 is not None for pl in u._plans.values())  # the fast path ran
        slow = u.run(odd.astype(np.float32) / 255)  # float in -> float path, float out
    ref = np.floor(slow.astype(np.float64) * 255 + 0.5)
    diff = np.abs(fast.astype(np.float64) - ref)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    assert fast.min() >= 0 and fast.dtype == np.uint8


def test_out_buffer_and_no_per_frame_allocation(up: edgesr.Upscaler, bgr: np.ndarray) -> None:
    res = np.empty((bgr.shape[0] * 2, bgr.shape[1] * 2, 3), np.uint8)
    assert up.run(bgr, out=res) is res
    inp_before = up.backend.buffers((1, 3, *bgr.shape[:2]))[0]
    tracemalloc.start()
    try:
        up.run(bgr, out=res)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert up.backend.buffers((1, 3, *bgr.shape[:2]))[0] is inp_before
    assert peak < 64 * 1024, f"hot path allocated {peak} bytes (frame output is {res.nbytes})"
    with pytest.raises(InputError, match="out= must be"):
        up.run(bgr, out=np.empty((2, 2, 3), np.uint8))


@pytest.mark.parametrize("frame, match", [
    (np.zeros((32, 32, 3), np.int32), "dtype int32"),
    (np.zeros((3, 32, 32), np.uint8), "channels-first"),
    (np.zeros((2, 32, 32, 3), np.uint8), "run_batch"),
    (np.zeros((32, 32, 5), np.uint8), "is not HxW"),
    (np.zeros((0, 32, 3), np.uint8), "empty"),
    ([[1, 2], [3, 4]], "numpy array"),
])
def test_bad_frames_say_how_to_fix(up: edgesr.Upscaler, frame: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        up.run(frame)


def test_bad_files_and_options(tmp_path: Path, onnx_x2: Path) -> None:
    with pytest.raises(ModelFormatError, match="suffix"):
        edgesr.Upscaler(tmp_path / "model.xyz")
    with pytest.raises(ModelFormatError, match="not found"):
        edgesr.Upscaler(tmp_path / "missing.onnx")
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(onnx_x2.read_bytes()[:300])
    with pytest.raises(ModelFormatError, match="corrupt"):
        edgesr.Upscaler(bad)
    badpt = tmp_path / "corrupt.pt"
    badpt.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFormatError, match="checkpoint"):
        edgesr.Upscaler(badpt)
    with pytest.raises(ConfigError, match="do not apply"):
        edgesr.Upscaler(onnx_x2, precision="fp16")
    with pytest.raises(ConfigError, match="upscales x2"):
        edgesr.Upscaler(onnx_x2, scale=4)
    with pytest.raises(ConfigError, match="did you mean"):
        edgesr.Upscaler(onnx_x2, backend="onnxrt")
    with pytest.raises(ConfigError, match="color"):
        edgesr.Upscaler(onnx_x2, color="yuv")


def test_missing_tensorrt_names_the_extra(tmp_path: Path) -> None:
    try:
        import tensorrt

        if hasattr(tensorrt, "Builder"):
            pytest.skip("TensorRT is installed here; the engine tests under the trt marker cover it")
    except ImportError:
        pass
    eng = tmp_path / "model.engine"
    eng.write_bytes(b"\0" * 16)
    with pytest.raises(MissingDependencyError, match=r"edgesr\[trt\]") as e:
        edgesr.Upscaler(eng)
    assert e.value.extra == "trt"


def test_bundled_default(small_photo: np.ndarray) -> None:
    from edgesr.hub import bundled_model

    try:
        bundled_model(2)
    except ModelFormatError:
        with pytest.raises(ModelFormatError, match="no bundled model edge_tiny_x2"):
            edgesr.Upscaler(None)
        return
    with edgesr.Upscaler(None) as up:
        assert up.scale == 2 and up.run(small_photo).shape[:2] == (192, 256)


def test_info_stats_close(onnx_x2: Path, bgr: np.ndarray) -> None:
    up = edgesr.Upscaler(onnx_x2)
    assert up.stats["calls"] == 0
    for _ in range(5):
        up.run(bgr)
    info = up.info()
    assert {k: info[k] for k in ("backend", "precision", "scale", "device")} == \
        {"backend": "onnxruntime", "precision": "fp32", "scale": 2, "device": "cpu"}
    st = up.stats
    assert st["calls"] == 5 and st["frames"] == 5
    assert 0 < st["p50_ms"] <= st["p90_ms"] <= st["p99_ms"] and st["fps"] > 0
    up.close()
    assert up.backend.session is None


def test_run_batch_equals_run(up: edgesr.Upscaler, bgr: np.ndarray) -> None:
    frames = [bgr, np.ascontiguousarray(bgr[::-1]), np.ascontiguousarray(bgr[:, ::-1])]
    batch = up.run_batch(frames, batch_size=2)
    for f, b in zip(frames, batch):
        np.testing.assert_array_equal(b, up.run(f))
    arr = up.run_batch(np.stack(frames))
    assert isinstance(arr, np.ndarray) and arr.shape == (3, *batch[0].shape)
    with pytest.raises(InputError, match="one shape"):
        up.run_batch([bgr, bgr[:10]])


def test_shared_upscaler_is_thread_safe(up: edgesr.Upscaler, bgr: np.ndarray) -> None:
    frames = [np.ascontiguousarray(np.roll(bgr, 7 * i, axis=1)) for i in range(4)]
    expected = [up.run(f) for f in frames]
    got: dict[int, list[np.ndarray]] = {}

    def work(i: int) -> None:
        got[i] = [up.run(frames[i]) for _ in range(3)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        for out in got[i]:
            np.testing.assert_array_equal(out, expected[i])


@pytest.mark.parametrize("bad, what", [(np.nan, "1 NaN"), (np.inf, "1 inf"), (-np.inf, "1 inf")])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_nan_inf_frames_are_refused(up: edgesr.Upscaler, bgr: np.ndarray, bad: float, what: str, dtype: type) -> None:
    f = bgr.astype(dtype) / 255
    f[5, 7, 1] = bad
    with pytest.raises(InputError, match=rf"{what} values.*np\.nan_to_num"):
        up.run(f)
    with pytest.raises(InputError, match=what):
        up.run_batch([f / 1, f], batch_size=2)  # any frame of a batch, not only the first
    with pytest.raises(InputError, match=what):
        up.run(f[:, :, 1])  # gray
    import torch

    with pytest.raises(InputError, match=rf"{what} values.*torch\.nan_to_num"):
        up.run(torch.from_numpy(f))


def test_out_of_range_floats_saturate(up: edgesr.Upscaler, bgr: np.ndarray) -> None:
    f = bgr.astype(np.float64) / 255 * 2.5 - 0.5  # [-0.5, 2]: overshoots up to FLOAT_MAX saturate
    f[0, 0] = -1e300  # beyond float32: would overflow to -inf when staged
    bgra = np.dstack([f, f[:, :, :1]])
    out = up.run(bgra)
    ref = up.run(np.clip(bgra, 0, 1))
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_floats_in_0_255_are_refused_with_the_fix(up: edgesr.Upscaler, bgr: np.ndarray, dtype: type) -> None:
    """Issue 25: a float frame in 0..255 used to come back almost all white, silently."""
    from edgesr.upscaler import FLOAT_MAX

    f = bgr.astype(dtype)  # 0..255, the usual mistake
    with pytest.raises(InputError, match=r"values reach 2\d\d.*\[0, 1\].*frame / 255.*astype\(np\.uint8\)"):
        up.run(f)
    with pytest.raises(InputError, match="frame / 255"):
        up.run(f[:, :, 1])  # gray
    with pytest.raises(InputError, match="frame / 255"):
        up.run_batch([f / 255, f], batch_size=2)  # any frame of a batch
    with pytest.raises(InputError, match="frame / 65535"):
        up.run(bgr.astype(np.float32) * 257)  # 0..65535 data
    import torch

    with pytest.raises(InputError, match=r"x / 255.*x\.to\(torch\.uint8\)"):
        up.run(torch.from_numpy(np.ascontiguousarray(f)))
    ok = (bgr / 255).astype(dtype)
    ok[0, 0] = 1.001  # slight overshoots (HDR-ish highlights, rounding) still saturate, as documented
    ok[1, 1] = FLOAT_MAX
    assert up.run(ok).max() <= 1.0
    assert float(up.run(torch.from_numpy(ok)).max()) <= 1.0


def test_frame_above_the_default_budget_is_tiled(onnx_x2: Path, photo: np.ndarray,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Without tile=/max_pixels=, the budget comes from the machine's free memory: a frame above it
    runs as seamless tiles (here the machine is made to look small)."""
    from edgesr import budget

    per = budget.bytes_per_pixel(8, 2, lr_space=True)  # the tiny model: n_feats 8, x2, LR-space body
    monkeypatch.setattr(budget, "available_ram", lambda: int(per * 200 * 200 / budget.HOST_FRACTION))
    frame = np.ascontiguousarray(photo[:, :, ::-1]).astype(np.float32) / 255
    with edgesr.Upscaler(onnx_x2) as small, edgesr.Upscaler(onnx_x2, max_pixels=0) as untiled:
        assert small.max_pixels == 200 * 200 and "of available RAM" in small.info()["budget"]
        out = small.run(frame)
        tiles = small._plans[(1, 512, 512, 3, frame.dtype)].tiles
        assert tiles is not None and len(tiles) > 4
        full = untiled.run(frame)
        assert untiled._plans[(1, 512, 512, 3, frame.dtype)].tiles is None
    mse = float(np.mean((out.astype(np.float64) - full) ** 2))
    assert 10 * np.log10(1 / mse) >= 50  # the tolerance of test_tiled_equals_untiled_on_real_photo


def test_memory_options_are_checked(onnx_x2: Path) -> None:
    with pytest.raises(ConfigError, match="max_pixels must be >= 0"):
        edgesr.Upscaler(onnx_x2, max_pixels=-1)
    with pytest.raises(ConfigError, match="larger than tile_overlap"):
        edgesr.Upscaler(onnx_x2, tile=8)
    with edgesr.Upscaler(onnx_x2, max_pixels=0) as u:
        assert u.max_pixels is None


def test_frame_just_over_the_budget_costs_no_extra_work(onnx_x2: Path, bgr: np.ndarray) -> None:
    h, w = bgr.shape[:2]
    with edgesr.Upscaler(onnx_x2, max_pixels=h * w - 100) as u:
        u.run(bgr)
        t = u._plans[(1, h, w, 3, bgr.dtype)].tiles
    assert t is not None and len(t) * t.tile_h * t.tile_w < 1.6 * h * w  # as few tiles, each only as large as needed
