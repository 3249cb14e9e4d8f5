"""Luma-only EdgeSR (``luma=True``): RGB in and out, the body sees Y, chroma is bicubic."""
from __future__ import annotations

import collections

import numpy as np
import pytest
import torch

import edgesr
from edgesr.errors import ConfigError
from edgesr.models import count_params, load_model, save_model
from edgesr.models.luma import LumaIO, upsample_chroma


def test_colour_transform_is_matlab_bt601_and_inverts():
    io = LumaIO(2)
    rgb = torch.tensor([1.0, 1.0, 1.0]).reshape(1, 3, 1, 1)
    y, cbcr = io.split(rgb)
    assert float(y) == pytest.approx(235 / 255, abs=1e-6)  # white: Y 235, Cb = Cr = 128 (studio range)
    assert cbcr.flatten().tolist() == pytest.approx([128 / 255, 128 / 255], abs=1e-6)
    x = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    y, cbcr = io.split(x)
    back = io.to_rgb(torch.cat([y, cbcr], 1))
    assert (back - x).abs().max() < 1e-5


def test_the_body_changes_only_luma_and_chroma_is_bicubic():
    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, luma=True).eval()
    assert m.head.in_channels == 1 and m.tail.out_channels == 4  # Y in, s*s Y sub-pixels out
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        out = m(x)
        _, cbcr_out = m.luma.split(out)
        _, cbcr_in = m.luma.split(x)
    assert out.shape == (1, 3, 24, 20)
    assert (cbcr_out - upsample_chroma(cbcr_in, 2)).abs().max() < 1e-5
    for s in (2, 3, 4):  # the polyphase form is PyTorch's bicubic, borders included
        c = torch.rand(1, 2, 9, 11)
        ref = torch.nn.functional.interpolate(c, scale_factor=s, mode="bicubic", align_corners=False)
        assert (upsample_chroma(c, s) - ref).abs().max() < 1e-5
    # a grey input (no chroma) gives a grey output: the colour handling cannot tint
    grey = x[:, :1].expand(1, 3, 12, 10).contiguous()
    with torch.no_grad():
        g = m(grey)
    assert (g[:, 0] - g[:, 1]).abs().max() < 1e-5 and (g[:, 1] - g[:, 2]).abs().max() < 1e-5


def test_luma_models_save_train_and_export(tmp_path, image_folder, small_photo):
    import onnx

    from edgesr.export import export_onnx

    m = edgesr.create_model("edge_tiny", 2, luma=True, n_feats=8, n_blocks=1)
    back = load_model(save_model(m, tmp_path / "l.pt"))
    assert back.config.luma and count_params(back) == count_params(m)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(back(x), m(x))
    path = export_onnx(m, tmp_path / "l.onnx", image=small_photo)  # parity vs PyTorch is checked inside
    ops = collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    assert ops["Resize"] == 0 and "Conv" in ops  # chroma as a polyphase conv: ORT's cubic Resize was slower
    up = edgesr.Upscaler(str(path))
    frame = (np.random.default_rng(0).random((10, 12, 3)) * 255).astype(np.uint8)
    assert up.run(frame).shape == (20, 24, 3)
    # a short training run: the dual loss and the pruning set work unchanged
    from edgesr.training import TrainConfig, train

    final = train(TrainConfig(model="edge_tiny", model_kwargs={"luma": True, "n_feats": 8, "n_blocks": 1},
                              data=(str(image_folder),), out=str(tmp_path / "run"), steps=2, batch=2, patch=12,
                              val_every=10**9, progress=False))
    assert load_model(final).config.luma and len(load_model(final).prunable()) == 1


def test_luma_needs_rgb():
    with pytest.raises(ConfigError, match="luma=True needs RGB"):
        edgesr.create_model("edge_tiny", 2, luma=True, n_colors=1)
