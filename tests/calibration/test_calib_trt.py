"""Legacy TensorRT calibrator: batch feeding and cache logic run without TensorRT; the class itself with it."""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from edgesr.calibration import CalibrationFeeder, TRTCalibrator, frame_to_nchw
from edgesr.calibration.trt import tensorrt_available
from edgesr.errors import MissingDependencyError


def host_copy(a: np.ndarray) -> int:
    return a.ctypes.data  # a "device" pointer into host memory: lets the test read what TensorRT would


def _frames(photo: np.ndarray, n: int) -> list[dict[str, np.ndarray]]:
    return [{"input": frame_to_nchw(photo[i * 8:i * 8 + 32, :48])} for i in range(n)]


def test_batches_pointers_and_end(small_photo: np.ndarray, tmp_path: Path) -> None:
    items = _frames(small_photo, 5)
    f = CalibrationFeeder(items, tmp_path / "c.cache", batch_size=2, device_copy=host_copy)
    seen = []
    while (ptrs := f.get_batch(["input"])) is not None:
        (p,) = ptrs
        buf = (ctypes.c_float * (2 * 3 * 32 * 48)).from_address(p)
        seen.append(np.frombuffer(buf, np.float32).reshape(2, 3, 32, 48).copy())
    assert len(seen) == 2 and f.batches_served == 2  # 5 frames, batch 2: trailing frame dropped
    np.testing.assert_array_equal(seen[1][1], items[3]["input"][0])
    assert f.get_batch(["input"]) is None


def test_input_name_mismatch(small_photo: np.ndarray, tmp_path: Path) -> None:
    f = CalibrationFeeder(_frames(small_photo, 2), tmp_path / "c", device_copy=host_copy)
    assert f.get_batch(["images"]) is not None  # single input: the network's name is used
    g = CalibrationFeeder(_frames(small_photo, 2), tmp_path / "c", device_copy=host_copy)
    with pytest.raises(Exception, match="pass input_name"):
        g.get_batch(["a", "b"])


def test_cache_keyed_by_model_and_data(small_photo: np.ndarray, tmp_path: Path) -> None:
    cache = tmp_path / "calib.cache"
    a = CalibrationFeeder(_frames(small_photo, 3), cache, model_hash="m1", device_copy=host_copy)
    assert a.read_cache() is None
    a.write_cache(memoryview(b"TRT-8601-EntropyCalibration2\ninput: 3c010a14\n"))
    same = CalibrationFeeder(_frames(small_photo, 3), cache, model_hash="m1", device_copy=host_copy)
    assert same.read_cache() == b"TRT-8601-EntropyCalibration2\ninput: 3c010a14\n"
    other_model = CalibrationFeeder(_frames(small_photo, 3), cache, model_hash="m2", device_copy=host_copy)
    other_data = CalibrationFeeder(_frames(small_photo, 2), cache, model_hash="m1", device_copy=host_copy)
    assert other_model.read_cache() is None and other_data.read_cache() is None


def test_without_tensorrt_says_how_to_install(small_photo: np.ndarray, tmp_path: Path) -> None:
    if tensorrt_available():
        pytest.skip("tensorrt is installed; covered by the trt-marked test")
    with pytest.raises(MissingDependencyError, match=r"edgesr\[trt\]"):
        TRTCalibrator(_frames(small_photo, 2), cache_file=tmp_path / "c", device_copy=host_copy)


@pytest.mark.trt
def test_real_tensorrt_calibrator(small_photo: np.ndarray, tmp_path: Path) -> None:
    if not tensorrt_available():
        pytest.skip("only tensorrt-stubs (an empty namespace package) is installed, not TensorRT")
    import tensorrt as trt

    for algo, base in (("entropy", "IInt8EntropyCalibrator2"), ("minmax", "IInt8MinMaxCalibrator")):
        c = TRTCalibrator(_frames(small_photo, 2), cache_file=tmp_path / f"{algo}.cache", algorithm=algo,
                          device_copy=host_copy)
        assert isinstance(c, getattr(trt, base)) and c.get_batch_size() == 1
        assert c.get_batch(["input"]) is not None and c.read_calibration_cache() is None
