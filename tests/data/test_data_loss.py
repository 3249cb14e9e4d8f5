import numpy as np
import pytest
import torch

from edgesr.data import SRDataset, list_images, read_rgb, write_image
from edgesr.errors import DataError
from edgesr.data.bicubic import imresize
from edgesr.training.losses import DualRegressionLoss

from conftest import tiny_model


def test_dataset_pairs_are_aligned_matlab_bicubic(image_folder):
    ds = SRDataset(image_folder, scale=2, patch=16, augment=False)
    item = ds.get(0, seed=3)
    assert item["lr"].shape == (3, 16, 16) and item["hr"].shape == (3, 32, 32)
    # LR comes from the whole image, so an interior crop equals imresize of the HR crop
    hr = (item["hr"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    lr = item["lr"].permute(1, 2, 0).numpy() * 255
    diff = np.abs(imresize(hr, 0.5).astype(float)[4:-4, 4:-4] - lr[4:-4, 4:-4])
    assert diff.mean() < 1.0
    assert torch.equal(ds.get(1, 7)["lr"], ds.get(1, 7)["lr"])  # deterministic per seed


def test_dataset_augment_and_unpaired(image_folder):
    ds = SRDataset(image_folder, scale=3, patch=12, paired=False)
    assert set(ds.get(0, 1)) == {"lr"}
    assert len(ds) == 3 * ds.repeat


def test_data_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        list_images(tmp_path / "empty")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read"):
        read_rgb(bad)


def test_grayscale_and_atomic_write(tmp_path, small_photo):
    gray = small_photo.mean(2).astype(np.uint8)
    write_image(tmp_path / "g.png", gray)
    rgb = read_rgb(tmp_path / "g.png")
    assert rgb.shape == (*gray.shape, 3) and np.array_equal(rgb[..., 0], gray)
    assert not list(tmp_path.glob(".*tmp"))


def test_dual_regression_loss_terms():
    torch.manual_seed(0)
    m = tiny_model("edge", 2)
    lr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 16, 16)
    t = DualRegressionLoss(0.1)(m, lr, hr)
    sr = m(lr)
    expect = torch.nn.functional.l1_loss(sr, hr) + 0.1 * torch.nn.functional.l1_loss(m.dual[0](sr), lr)
    assert torch.allclose(t.total, expect)
    assert DualRegressionLoss(0.0)(m, lr, hr).dual == 0
    # unpaired: dual term only, and gradients still reach the primal network
    u = DualRegressionLoss(0.1)(m, lr, None)
    assert u.primal == 0 and u.total > 0
    u.total.backward()
    assert m.head.weight.grad is not None and m.head.weight.grad.abs().sum() > 0


def test_drn_loss_uses_every_level():
    m = tiny_model("drn", 4)
    lr, hr = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 32, 32)
    t = DualRegressionLoss(0.1)(m, lr, hr)
    t.total.backward()
    assert all(d.body[0].weight.grad is not None for d in m.dual)
    assert all(tail.weight.grad is not None for tail in m.tail)
