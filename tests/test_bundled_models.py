"""Every bundled model loads, exports, runs through the default runtime, and clearly beats bicubic
on real photos shipped with scikit-image (not part of the training data)."""
import numpy as np
import pytest

import edgesr
from edgesr.data import modcrop
from edgesr.hub import WEIGHTS, bundled_model, bundled_models, parse_bundled_name
from edgesr.data.bicubic import imresize
from edgesr.metrics import psnr

NAMES = bundled_models()


def test_default_bundle_present():
    assert "edge_tiny_x2" in NAMES
    assert bundled_model().name == "edge_tiny_x2.onnx"


@pytest.mark.parametrize("name", NAMES)
def test_bundled_model_beats_bicubic_on_real_photos(name, tmp_path):
    """Clean models on MATLAB-bicubic LR; "real" variants on a degradation none was trained with
    (held-out protocol (a): blur sigma 1.2 + bicubic + JPEG 50), where they must still gain."""
    from skimage import data

    from edgesr.data.degrade import held_out_protocols

    kind, s, variant = parse_bundled_name(name)
    model = edgesr.load_model(WEIGHTS / f"{name}.pt")
    assert model.scale == s
    limit = {"nano": 5_000, "tiny": 22_000, "base": 300_000}[kind]  # the size classes
    assert edgesr.count_params(model) <= limit
    onnx = edgesr.export.export_onnx(model, tmp_path / f"{name}.onnx")  # parity-checked export
    degrade = held_out_protocols()["blur_bicubic_jpeg50"] if variant == "real" else None
    clean = name.removesuffix(f"_{variant}") if variant else None
    with edgesr.Upscaler(WEIGHTS / f"{name}.onnx", color="rgb") as up:
        assert up.scale == s
        for photo in (data.coffee(), data.chelsea()):
            hr = modcrop(photo[:240, :300], s)
            lr = degrade(hr, s) if degrade else imresize(hr, 1 / s)
            bicubic = psnr(imresize(lr, s), hr, s)
            gain = psnr(up.run(lr), hr, s) - bicubic
            assert gain > (0.05 if degrade else 0.5), f"{name}: only {gain:.2f} dB over bicubic"
            if clean:  # and it must beat the bicubic-trained model of its class on that input
                with edgesr.Upscaler(WEIGHTS / f"{clean}.onnx", color="rgb") as ref:
                    over = gain - (psnr(ref.run(lr), hr, s) - bicubic)
                assert over > 0.05, f"{name}: only {over:.2f} dB over {clean} on degraded input"
    assert onnx.is_file()


def test_upscaler_takes_bundled_names(small_photo):
    name = NAMES[0]
    with edgesr.Upscaler(name, color="rgb") as up:
        assert up.scale == parse_bundled_name(name)[1]
    with pytest.raises(edgesr.errors.ModelFormatError, match="no bundled model edge_huge_x2"):
        edgesr.Upscaler("edge_huge_x2")
    with pytest.raises(edgesr.errors.ConfigError, match="edge_KIND_xSCALE"):
        edgesr.Upscaler("edge_nano")


def test_upscaler_defaults_to_bundled_x2(small_photo):
    with edgesr.Upscaler(color="rgb") as up:
        assert up.scale == 2
        assert up.run(small_photo).shape == (192, 256, 3)


def test_bundled_names_with_a_variant():
    assert parse_bundled_name("edge_tiny_x2_real") == ("tiny", 2, "real")
    assert parse_bundled_name("edge_nano_x2") == ("nano", 2, None)
    with pytest.raises(edgesr.errors.ConfigError, match="edge_KIND_xSCALE_real"):
        parse_bundled_name("edge_tiny_x2_")
    with pytest.raises(edgesr.errors.ModelFormatError, match="no bundled model edge_tiny_x2_foggy.onnx"):
        edgesr.Upscaler("edge_tiny_x2_foggy")
