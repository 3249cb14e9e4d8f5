"""The LR pyramid of multi-level models (x4 DRN): intermediate targets are MATLAB-bicubic images of
the whole HR image, made once per image and rounded to uint8 like the LR, then cropped with the LR."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgesr.data import SRDataset, level_key, level_targets, read_rgb, modcrop
from edgesr.errors import ConfigError
from edgesr.data.bicubic import imresize
from edgesr.training.losses import DualRegressionLoss, intermediate_scales

from conftest import tiny_model


def _u8(t: torch.Tensor) -> np.ndarray:
    return (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def test_level_targets_are_crops_of_the_whole_image_resize(image_folder):
    ds = SRDataset(image_folder, scale=4, patch=8, augment=False, levels=(2,))
    item = ds.get(1, seed=5)
    mid = item[level_key(2)]
    assert mid.shape == (3, 16, 16) and set(level_targets({k: v[None] for k, v in item.items()})) == {2}
    # find the crop position from the LR crop, then compare with imresize of the whole HR image
    hr_img = modcrop(read_rgb(sorted(image_folder.iterdir())[1]), 4)
    full_mid = imresize(hr_img, 0.5)
    lr_img = ds.lr[1]
    lr = _u8(item["lr"])
    ys, xs = np.nonzero([[np.array_equal(lr_img[y:y + 8, x:x + 8], lr) for x in range(lr_img.shape[1] - 7)]
                         for y in range(lr_img.shape[0] - 7)])
    y, x = int(ys[0]), int(xs[0])
    assert np.array_equal(_u8(mid), full_mid[2 * y:2 * y + 16, 2 * x:2 * x + 16])  # uint8-exact
    # ... which is not what resizing the float HR crop gives (the previous behaviour): borders and rounding
    old = imresize(item["hr"], 0.5)
    assert not torch.equal(old, mid) and (old - mid).abs().max() > 1 / 255


def test_level_crops_follow_the_augmentation(image_folder):
    ds = SRDataset(image_folder, scale=4, patch=12, levels=(2,))
    for seed in range(4):
        item = ds.get(0, seed)
        # interior of the level crop ~ bicubic of the (augmented) HR crop: same flips and rotations
        d = (imresize(item["hr"], 0.5) - item[level_key(2)]).abs()[:, 4:-4, 4:-4]
        assert d.mean() < 2 / 255, (seed, float(d.mean()))


def test_levels_are_validated():
    with pytest.raises(ConfigError, match="levels"):
        SRDataset([], scale=4, levels=(3,))
    assert intermediate_scales(tiny_model("drn", 4)) == (2,) and intermediate_scales(tiny_model("edge", 2)) == ()


def test_the_loss_uses_the_given_level_targets():
    torch.manual_seed(0)
    m = tiny_model("drn", 4)
    lr, hr, mid = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 16, 16)
    t = DualRegressionLoss(0.1)(m, lr, hr, {2: mid})
    outs = m.forward_levels(lr)
    l1 = torch.nn.functional.l1_loss
    primal = l1(outs[0], lr) + l1(outs[1], mid) + l1(outs[2], hr)
    dual = l1(m.dual[0](outs[1]), lr) + l1(m.dual[1](outs[2]), mid)
    assert torch.allclose(t.total, primal + 0.1 * dual)
    assert not torch.allclose(DualRegressionLoss(0.1)(m, lr, hr).total, t.total)


def test_training_feeds_the_level_targets(tmp_path, image_folder, monkeypatch):
    from edgesr.training import train

    seen = []
    orig = DualRegressionLoss.forward

    def spy(self, model, lr, hr=None, levels=None):
        seen.append(sorted(levels or {}))
        return orig(self, model, lr, hr, levels)

    monkeypatch.setattr(DualRegressionLoss, "forward", spy)
    train(model="drn_s", scale=4, data=(str(image_folder),), out=str(tmp_path / "t"), steps=2, batch=1, patch=8,
          model_kwargs={"n_feats": 4, "n_blocks": 1}, ckpt_every=100, val_every=10**9, progress=False)
    assert seen and all(s == [2] for s in seen)


def test_degraded_items_carry_the_clean_level_targets(image_folder):
    from edgesr.data.degrade import DegradeConfig

    ds = SRDataset(image_folder, scale=4, patch=8, augment=False, levels=(2,), degrade=DegradeConfig())
    plain = SRDataset(image_folder, scale=4, patch=8, augment=False, levels=(2,))
    a, b = ds.get(2, 9), plain.get(2, 9)
    assert torch.equal(a["hr"], b["hr"]) and torch.equal(a[level_key(2)], b[level_key(2)])
