"""Every bundled model loads, exports, runs through the default runtime, and clearly beats bicubic
on real photos shipped with scikit-image (not part of the training data)."""
import numpy as np
import pytest

import edgesr
from edgesr.data import modcrop
from edgesr.hub import WEIGHTS, bundled_model, bundled_models
from edgesr.imresize import imresize
from edgesr.metrics import psnr

NAMES = bundled_models()


def test_default_bundle_present():
    assert "edge_tiny_x2" in NAMES
    assert bundled_model().name == "edge_tiny_x2.onnx"


@pytest.mark.parametrize("name", NAMES)
def test_bundled_model_beats_bicubic_on_real_photos(name, tmp_path):
    from skimage import data

    model = edgesr.load_model(WEIGHTS / f"{name}.pt")
    s = model.scale
    assert name.endswith(f"_x{s}")
    limit = {"nano": 5_000, "tiny": 22_000, "base": 300_000}[name.split("_")[1]]  # the size classes
    assert edgesr.count_params(model) <= limit
    onnx = edgesr.export.export_onnx(model, tmp_path / f"{name}.onnx")  # parity-checked export
    with edgesr.Upscaler(WEIGHTS / f"{name}.onnx", color="rgb") as up:
        assert up.scale == s
        for photo in (data.coffee(), data.chelsea()):
            hr = modcrop(photo[:240, :300], s)
            lr = imresize(hr, 1 / s)
            gain = psnr(up.run(lr), hr, s) - psnr(imresize(lr, s), hr, s)
            assert gain > 0.5, f"{name}: only {gain:.2f} dB over bicubic"
    assert onnx.is_file()


def test_upscaler_takes_bundled_names(small_photo):
    name = NAMES[0]
    with edgesr.Upscaler(name, color="rgb") as up:
        assert up.scale == int(name.rpartition("_x")[2])
    with pytest.raises(edgesr.errors.ModelFormatError, match="no bundled model edge_huge_x2"):
        edgesr.Upscaler("edge_huge_x2")
    with pytest.raises(edgesr.errors.ConfigError, match="edge_KIND_xSCALE"):
        edgesr.Upscaler("edge_nano")


def test_upscaler_defaults_to_bundled_x2(small_photo):
    with edgesr.Upscaler(color="rgb") as up:
        assert up.scale == 2
        assert up.run(small_photo).shape == (192, 256, 3)
