"""Done-criteria of the runtime: ORT == PyTorch on a real photo (PSNR >= 50 dB, FP32), tiled ==
untiled on a real photo, torch tensors in/out; TensorRT against ORT under the gpu/trt markers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgesr
from edgesr.tiling import tiled_apply


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def _export(model: torch.nn.Module, path: Path) -> Path:
    from edgesr.export import export_onnx

    return export_onnx(model, path)


def test_ort_matches_pytorch_on_real_photo(any_tiny_model: torch.nn.Module, small_photo: np.ndarray,
                                           tmp_path: Path) -> None:
    onnx = _export(any_tiny_model, tmp_path / "m.onnx")
    frame = small_photo.astype(np.float32) / 255
    with edgesr.Upscaler(onnx, color="rgb") as a, edgesr.Upscaler(any_tiny_model, color="rgb") as b:
        assert a.info()["backend"] == "onnxruntime" and b.info()["backend"] == "pytorch"
        assert b.info()["precision"] == "fp32" and a.scale == b.scale == any_tiny_model.scale
        ya, yb = a.run(frame), b.run(frame)
    assert ya.shape == (frame.shape[0] * a.scale, frame.shape[1] * a.scale, 3)
    assert psnr(ya, yb) >= 50


def test_ort_matches_pytorch_full_photo_uint8(edge_x2: torch.nn.Module, photo: np.ndarray, tmp_path: Path) -> None:
    onnx = _export(edge_x2, tmp_path / "m.onnx")
    bgr = np.ascontiguousarray(photo[:, :, ::-1])
    ya = edgesr.Upscaler(onnx).run(bgr)
    yb = edgesr.Upscaler(edge_x2).run(bgr)
    assert psnr(ya, yb, 255) >= 50


def test_pt_checkpoint_runs_on_pytorch_backend(edge_x2: torch.nn.Module, small_photo: np.ndarray,
                                               tmp_path: Path) -> None:
    p = edgesr.save_model(edge_x2, tmp_path / "m.pt")
    with edgesr.Upscaler(p) as up:
        assert up.info()["backend"] == "pytorch" and up.info()["device"] == ("cuda" if torch.cuda.is_available()
                                                                           else "cpu")
        assert up.run(small_photo).shape == (192, 256, 3)
    assert next(edge_x2.parameters()).device.type == "cpu"  # caller's module untouched


def test_tiled_equals_untiled_on_real_photo(edge_x2: torch.nn.Module, photo: np.ndarray, tmp_path: Path) -> None:
    onnx = _export(edge_x2, tmp_path / "m.onnx")
    bgr = np.ascontiguousarray(photo[:, :, ::-1])
    full = edgesr.Upscaler(onnx).run(bgr.astype(np.float32) / 255)
    with edgesr.Upscaler(onnx, tile=160, tile_overlap=24) as tiled:
        out = tiled.run(bgr.astype(np.float32) / 255)
        assert tiled.backend.buffers((1, 3, 160, 160))  # one tile shape for every tile
    assert psnr(out, full) >= 50
    # no seams: the error is not concentrated on tile borders
    assert np.abs(out - full).max() < 2 / 255
    # a memory budget triggers tiling too
    with edgesr.Upscaler(onnx, max_pixels=200 * 200) as budget:
        out2 = budget.run(bgr.astype(np.float32) / 255)
    assert psnr(out2, full) >= 50


def test_tiling_blend_is_seamless_pure_numpy(photo: np.ndarray) -> None:
    """A 5x5 box filter (receptive radius 2) tiled with overlap 16: equal to the untiled result."""
    import cv2

    img = photo.transpose(2, 0, 1).astype(np.float32) / 255

    def fn(x: np.ndarray) -> np.ndarray:  # zero-padded 5x5 box blur then x2 nearest (an "SR model")
        y = np.stack([cv2.blur(c, (5, 5), borderType=cv2.BORDER_CONSTANT) for c in x])
        return y.repeat(2, 1).repeat(2, 2)

    ref = fn(img)
    out = tiled_apply(img, fn, (100, 90), 16, 2)
    # borders of tiles see zero padding; the blend gives them zero weight (margin 4 >= radius 2)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    naive = tiled_apply(img, fn, (100, 90), 1, 2)  # overlap too small to hide the padding: seams
    assert np.abs(naive - ref).max() > 0.01


def test_torch_tensor_in_and_out(edge_x2: torch.nn.Module, small_photo: np.ndarray, tmp_path: Path) -> None:
    up = edgesr.Upscaler(edge_x2)
    t = torch.from_numpy(small_photo)
    y = up.run(t)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.uint8 and y.device == t.device
    assert np.abs(y.numpy().astype(int) - up.run(small_photo)).max() <= 1  # /255 vs *(1/255) rounding
    yf = up.run(t.float() / 255)
    assert yf.dtype == torch.float32 and (yf * 255 - y.float()).abs().max() <= 0.51


@pytest.mark.gpu
def test_pytorch_backend_fp16_on_cuda(edge_x2: torch.nn.Module, small_photo: np.ndarray) -> None:
    with edgesr.Upscaler(edge_x2) as up:
        assert up.info()["precision"] == "fp16" and up.info()["device"].startswith("cuda")
        ref = edgesr.Upscaler(edge_x2, device="cpu").run(small_photo)
        out = up.run(small_photo)
        assert psnr(out, ref, 255) >= 40
        t = torch.from_numpy(small_photo).to("cuda")
        y = up.run(t)
        assert y.is_cuda
        np.testing.assert_array_equal(y.cpu().numpy(), out)


@pytest.mark.gpu
@pytest.mark.trt
def test_tensorrt_matches_ort(edge_x2: torch.nn.Module, photo: np.ndarray, tmp_path: Path) -> None:
    from edgesr.export.trt import build_engine

    onnx = _export(edge_x2, tmp_path / "m.onnx")
    engine = build_engine(onnx, tmp_path / "m.engine", precision="fp32", min_shape="1x3x16x16",
                          opt_shape="1x3x256x256", max_shape="4x3x256x256")
    bgr = np.ascontiguousarray(photo[:, :, ::-1]).astype(np.float32) / 255
    ref = edgesr.Upscaler(onnx).run(bgr)
    with edgesr.Upscaler(engine) as up:
        assert up.info()["backend"] == "tensorrt" and up.scale == 2
        out = up.run(bgr)  # 512x512 > profile max 256: tiled automatically
        assert psnr(out, ref) >= 45  # TF32 tactics may be chosen for "fp32"
        small = np.ascontiguousarray(bgr[:200, :180])
        assert psnr(up.run(small), edgesr.Upscaler(onnx).run(small)) >= 45
        t = torch.from_numpy(small).to("cuda")
        assert up.run(t).is_cuda


@pytest.mark.gpu
@pytest.mark.trt
def test_engine_from_another_machine_is_refused(edge_x2: torch.nn.Module, tmp_path: Path) -> None:
    import json

    from edgesr.errors import EngineMismatchError
    from edgesr.export.trt import build_engine, sidecar_path

    onnx = _export(edge_x2, tmp_path / "m.onnx")
    engine = build_engine(onnx, tmp_path / "m.engine", precision="fp32", max_shape="1x3x64x64",
                          opt_shape="1x3x64x64")
    side = json.loads(sidecar_path(engine).read_text())
    side["tensorrt"] = "0.0.1"
    sidecar_path(engine).write_text(json.dumps(side))
    with pytest.raises(EngineMismatchError, match="rebuild"):
        edgesr.Upscaler(engine)
