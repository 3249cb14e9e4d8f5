import numpy as np
import pytest

from edgesr.metrics import psnr, rgb_to_y, ssim


def test_y_channel_bt601():
    white = np.full((2, 2, 3), 255, np.uint8)
    black = np.zeros((2, 2, 3), np.uint8)
    assert np.allclose(rgb_to_y(white), 235) and np.allclose(rgb_to_y(black), 16)
    assert rgb_to_y(np.zeros((2, 2), np.uint8)).shape == (2, 2)  # grayscale accepted


def test_psnr_known_value_and_shave():
    a = np.zeros((10, 10, 3), np.float64)
    b = a.copy()
    b[..., :] = 255 * 0.1  # constant error on every channel
    # Y error = 0.1 * (65.481+128.553+24.966) = 21.9 -> PSNR = 20 log10(255/21.9)
    assert psnr(a, b) == pytest.approx(20 * np.log10(255 / 21.9), abs=1e-9)
    c = a.copy()
    c[0, 0] = 255  # only on the border
    assert psnr(a, c, shave=1) == float("inf")


def test_ssim_bounds(photo):
    assert ssim(photo, photo) == pytest.approx(1.0)
    noisy = np.clip(photo + np.random.default_rng(0).normal(0, 20, photo.shape), 0, 255).astype(np.uint8)
    assert 0.2 < ssim(photo, noisy) < 0.95
