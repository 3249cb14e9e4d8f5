import numpy as np
import pytest
import torch

from edgesr.data.bicubic import imresize, resize_matrix


def test_upscale_follows_matlab_coordinates():
    # MATLAB maps output pixel x (1-based) to input u = x/s + 0.5(1 - 1/s); cubic (a=-0.5)
    # reproduces linear functions exactly, so a ramp must land on those coordinates.
    ramp = np.arange(20, dtype=np.float64)[:, None] * np.ones((1, 3))
    up = imresize(ramp, 2)[:, 0]
    x = np.arange(1, 41)
    expect = x / 2 + 0.25 - 1
    np.testing.assert_allclose(up[3:-3], expect[3:-3], atol=1e-12)


def test_downscale_antialiased_and_aligned():
    ramp = np.arange(40, dtype=np.float64)[:, None] * np.ones((1, 4))
    down = imresize(ramp, 0.5)[:, 0]
    x = np.arange(1, 21)
    np.testing.assert_allclose(down[3:-3], (2 * x - 1.5)[3:-3], atol=1e-12)
    # antialiasing: a pixel-level checkerboard averages out instead of aliasing
    cb = (np.indices((36, 36)).sum(0) % 2).astype(np.float64)
    assert np.ptp(imresize(cb, 1 / 3)[3:-3, 3:-3]) < 0.05
    # without antialiasing (cv2-style) x1/3 samples single pixels: the pattern aliases at full contrast
    assert np.ptp(imresize(cb, 1 / 3, antialias=False)[3:-3, 3:-3]) > 0.9


def test_rows_sum_to_one_and_symmetric_border():
    m = resize_matrix(10, 5, 0.5)
    np.testing.assert_allclose(m.sum(1), 1.0)
    flipped = resize_matrix(10, 5, 0.5)[::-1, ::-1]
    np.testing.assert_allclose(m, flipped, atol=1e-12)


def test_uint8_rounds_and_clips_and_shapes():
    img = np.random.default_rng(0).integers(0, 256, (33, 27, 3), dtype=np.uint8)
    out = imresize(img, 1 / 3)
    assert out.dtype == np.uint8 and out.shape == (11, 9, 3)
    assert imresize(img, output_shape=(66, 54)).shape == (66, 54, 3)


def test_torch_matches_numpy():
    img = np.random.default_rng(1).random((24, 30, 3))
    t = torch.from_numpy(img.transpose(2, 0, 1))[None]
    for s in (0.5, 1 / 3, 0.25, 2):
        a = imresize(img, s)
        b = imresize(t, s)[0].numpy().transpose(1, 2, 0)
        np.testing.assert_allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("scale,ref", [(2, 33.66), (3, 30.39), (4, 28.42)])
def test_set5_bicubic_reference(set5, scale, ref):
    """The documented MATLAB bicubic figures on Set5 (Y channel, shave = scale)."""
    from edgesr.evaluation import bicubic_fn, evaluate

    r = evaluate(bicubic_fn(scale), set5, scale)
    assert abs(r.psnr - ref) <= 0.02, r.psnr
