"""TrainConfig.degrade (degraded LR for the paired data) and unpaired_ratio (stream mix, resume-exact)."""
import json

import cv2
import numpy as np
import pytest
import torch

import edgesr.training.loop as T
from edgesr.cli import main
from edgesr.errors import ConfigError
from edgesr.data.bicubic import imresize
from edgesr.training.mix import StreamMix, position_after
from edgesr.training import TrainConfig, train

COMMON = dict(model="edge_tiny", scale=2, batch=4, patch=16, lr=1e-3, schedule="constant", progress=False,
              model_kwargs={"n_feats": 8, "n_blocks": 2}, seed=1)


def _records(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _weights(out):
    return torch.load(out / "last.pt", weights_only=True)["model"]


@pytest.fixture
def batches(monkeypatch):
    """Every (lr, hr) the training step sees, in order."""
    seen = []
    forward = T.TrainStep.forward

    def spy(self, lr, hr=None):
        seen.append((lr.detach().clone(), None if hr is None else hr.detach().clone()))
        return forward(self, lr, hr)

    monkeypatch.setattr(T.TrainStep, "forward", spy)
    return seen


@pytest.fixture
def lr_folder(tmp_path, photo):
    """Two real-photo crops as an LR-only folder: 32 crops an epoch, 4 batches of 8."""
    d = tmp_path / "lr"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), photo[50:130, 200:300, ::-1])
    cv2.imwrite(str(d / "b.png"), photo[300:380, 50:150, ::-1])
    return d


def test_degrade_real_makes_other_lr_from_the_same_hr_crops(tmp_path, image_folder, batches):
    train(TrainConfig(data=(str(image_folder),), out=str(tmp_path / "b"), steps=2, **COMMON))
    bicubic = list(batches)
    batches.clear()
    train(TrainConfig(data=(str(image_folder),), out=str(tmp_path / "r"), steps=2, degrade="real", **COMMON))
    real = list(batches)
    assert len(real) == len(bicubic) == 2
    for (lr_b, hr_b), (lr_r, hr_r) in zip(bicubic, real):
        assert torch.equal(hr_b, hr_r)  # the same crops and flips ...
        assert lr_r.shape == lr_b.shape == (4, 3, 16, 16)
        assert (lr_r - lr_b).abs().mean() > 2 / 255  # ... but a degraded LR, not the bicubic one
    # and not the bicubic of the crop either (that would be the "bicubic" preset)
    hr0 = (hr_r[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.abs(imresize(hr0, 0.5).astype(float) - lr_r[0].permute(1, 2, 0).numpy() * 255).mean() > 2
    assert json.loads((tmp_path / "r" / "config.json").read_text())["degrade"] == "real"


def test_degrade_is_deterministic(tmp_path, image_folder, batches):
    for name in ("a", "b"):
        train(TrainConfig(data=(str(image_folder),), out=str(tmp_path / name), steps=2, degrade="real", **COMMON))
    a, b = batches[:2], batches[2:]
    assert all(torch.equal(x[0], y[0]) for x, y in zip(a, b))


def test_degrade_config_errors(tmp_path, image_folder):
    with pytest.raises(ConfigError, match=r"not found: rael; .*preset \(real, bicubic\)"):
        TrainConfig(data=(str(image_folder),), degrade="rael")
    with pytest.raises(ConfigError, match="degradation config not found"):
        TrainConfig(data=(str(image_folder),), degrade=str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="paired --data"):
        TrainConfig(unpaired=(str(image_folder),), degrade="real")


@pytest.mark.parametrize("ratio, want", [(1.0, "PUPUPUPU"), (2.0, "PUUPUUPU"), (0.5, "PPUPPUPP"), (3.0, "PUUUPUUU"),
                                         (0.0, "PPPPPPPP")])
def test_stream_order_is_a_function_of_the_step(ratio, want):
    mix = StreamMix.of(ratio, 2)
    assert "".join("PU"[mix.stream(s)] for s in range(8)) == want
    # what each stream gave before a step is the count of its letters: where a resumed plan picks up
    for s in range(9):
        assert mix.consumed(1, s) == want[:s].count("U") and mix.consumed(0, s) == want[:s].count("P")
    assert StreamMix.of(ratio, 1).stream(5) == 0


def test_position_after():
    assert position_after(0, 16, 8) == (0, 0)
    assert position_after(3, 16, 8) == (1, 8)  # two batches an epoch
    assert position_after(4, 48, 8) == (0, 32)
    with pytest.raises(ConfigError, match="fewer than the batch"):
        position_after(0, 6, 8)


def test_unpaired_ratio_orders_the_batches(tmp_path, image_folder, lr_folder):
    train(TrainConfig(data=(str(image_folder),), unpaired=(str(lr_folder),), out=str(tmp_path / "m"), steps=6,
                      unpaired_ratio=2.0, **COMMON))
    kinds = "".join("U" if r["primal"] == 0 else "P" for r in _records(tmp_path / "m"))
    assert kinds == "PUUPUU"


def test_unpaired_ratio_resume_is_exact(tmp_path, image_folder, lr_folder, batches):
    """Stopped at step 3 (P U U: the unpaired stream has given 2 batches, the paired one 1), resumed to 9
    (the unpaired stream wraps into its second epoch): the batches and weights of an uninterrupted run.
    Where the unpaired stream resumes follows from its own count, not from the paired stream's position."""
    cfg = dict(data=(str(image_folder),), unpaired=(str(lr_folder),), unpaired_ratio=2.0, **{**COMMON, "batch": 8})
    train(TrainConfig(out=str(tmp_path / "ref"), steps=9, **cfg))
    ref = list(batches)
    batches.clear()
    train(TrainConfig(out=str(tmp_path / "r"), steps=3, **cfg))
    train(TrainConfig(out=str(tmp_path / "r"), steps=9, **cfg), resume=True)
    assert len(batches) == len(ref) == 9
    for (lr_a, hr_a), (lr_b, hr_b) in zip(ref, batches):
        assert torch.equal(lr_a, lr_b) and (hr_a is None) == (hr_b is None)
    a, b = _weights(tmp_path / "ref"), _weights(tmp_path / "r")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_unpaired_ratio_with_a_worker_process_gives_the_same_batches(tmp_path, image_folder, lr_folder, batches):
    cfg = dict(data=(str(image_folder),), unpaired=(str(lr_folder),), unpaired_ratio=0.5, steps=4, **COMMON)
    train(TrainConfig(out=str(tmp_path / "w0"), **cfg))
    train(TrainConfig(out=str(tmp_path / "w1"), workers=1, **cfg))
    assert [hr is None for _, hr in batches] == [False, False, True, False] * 2
    assert all(torch.equal(x[0], y[0]) for x, y in zip(batches[:4], batches[4:]))


def test_unpaired_ratio_errors(image_folder):
    with pytest.raises(ConfigError, match="never use the unpaired"):
        TrainConfig(data=(str(image_folder),), unpaired=(str(image_folder),), unpaired_ratio=0)
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="unpaired_ratio must be"):
            TrainConfig(data=(str(image_folder),), unpaired=(str(image_folder),), unpaired_ratio=bad)
    TrainConfig(unpaired=(str(image_folder),), unpaired_ratio=0)  # unpaired only: the ratio has nothing to mix


def test_cli_flags(tmp_path, image_folder, lr_folder):
    out = tmp_path / "cli"
    assert main(["train", "--data", str(image_folder), "--unpaired", str(lr_folder), "--unpaired-ratio", "2",
                 "--degrade", "real", "--steps", "3", "--batch", "4", "--patch", "16", "--out", str(out),
                 "--model-kwargs", '{"n_feats": 8, "n_blocks": 2}', "--no-progress"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["degrade"] == "real" and cfg["unpaired_ratio"] == 2.0
    assert [r["primal"] == 0 for r in _records(out)] == [False, True, True]
