"""EMA of the weights: the analytic average, saved as model.pt, continued exactly by a resume."""
import json
import logging

import pytest
import torch

import edgesr.training.loop as T
from edgesr.training.ema import ModelEMA, warmup_decay
from edgesr.errors import ConfigError
from edgesr.training import TrainConfig, train

SETTINGS = dict(model="edge_tiny", scale=2, batch=4, patch=16, lr=1e-3, schedule="constant", seed=1,
                model_kwargs={"n_feats": 8, "n_blocks": 2}, ckpt_every=3, progress=False)


def _analytic(history, decay):
    e = {k: v.clone() for k, v in history[0].items()}
    for t, w in enumerate(history[1:], start=1):
        d = min(decay, (1 + t) / (10 + t))
        e = {k: d * e[k] + (1 - d) * w[k] for k in e}
    return e


def test_decay_warms_up_so_the_initial_weights_fade():
    assert warmup_decay(0.999, 1) == pytest.approx(2 / 11) and warmup_decay(0.999, 10**6) == 0.999
    # the weight left on the starting point after 1,500 updates: 22 % without warm-up, ~0 with it
    left = 1.0
    for t in range(1, 1501):
        left *= warmup_decay(0.999, t)
    assert 0.999 ** 1500 > 0.2 and left < 1e-3


def test_ema_is_the_analytic_average(edge_x2):
    ema = ModelEMA(edge_x2, 0.8)
    history = [{k: v.detach().clone() for k, v in edge_x2.named_parameters()}]
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        with torch.no_grad():
            for p in edge_x2.parameters():
                p.add_(torch.randn(p.shape, generator=g))
        ema.update(edge_x2)
        history.append({k: v.detach().clone() for k, v in edge_x2.named_parameters()})
    want = _analytic(history, 0.8)
    got = dict(ema.module.named_parameters())
    assert ema.updates == 5
    for k in want:
        assert torch.allclose(got[k], want[k], rtol=1e-5, atol=1e-6), k
    assert not torch.allclose(got["head.weight"], edge_x2.head.weight)  # an average, not a copy
    assert not any(p.requires_grad for p in ema.module.parameters())
    with pytest.raises(ConfigError, match="ema"):
        TrainConfig(data=("x",), ema=1.0)


def test_model_pt_holds_the_ema_of_the_trained_weights(tmp_path, image_folder, monkeypatch):
    history = []
    orig = T._step

    def record(parts, feed, rs, device):
        if not history:
            history.append({k: v.detach().clone() for k, v in parts.model.named_parameters()})
        r = orig(parts, feed, rs, device)
        history.append({k: v.detach().clone() for k, v in parts.model.named_parameters()})
        return r

    monkeypatch.setattr(T, "_step", record)
    out = tmp_path / "e"
    final = train(TrainConfig(data=(str(image_folder),), out=str(out), steps=5, ema=0.6, **SETTINGS))
    saved = torch.load(final, weights_only=True)
    want = _analytic(history, 0.6)
    for k in want:
        assert torch.allclose(saved["state_dict"][k], want[k], rtol=1e-5, atol=1e-6), k
    trained = torch.load(out / "last.pt", weights_only=True)["model"]
    assert torch.equal(trained["head.weight"], history[-1]["head.weight"])  # last.pt: the trained weights
    assert not torch.allclose(saved["state_dict"]["head.weight"], trained["head.weight"])
    assert saved["meta"]["ema"] == 0.6


def test_resume_with_ema_is_bit_exact(tmp_path, image_folder):
    ref, res = tmp_path / "ref", tmp_path / "res"
    train(TrainConfig(data=(str(image_folder),), out=str(ref), steps=6, ema=0.7, **SETTINGS))
    train(TrainConfig(data=(str(image_folder),), out=str(res), steps=3, ema=0.7, **SETTINGS))
    train(TrainConfig(data=(str(image_folder),), out=str(res), steps=6, ema=0.7, **SETTINGS), resume=True)
    a, b = (torch.load(d / "last.pt", weights_only=True) for d in (ref, res))
    assert a["step"] == b["step"] == 6 and int(a["ema"]["n_averaged"]) == 7
    for part in ("model", "ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    ma, mb = (torch.load(d / "model.pt", weights_only=True)["state_dict"] for d in (ref, res))
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    losses = [[json.loads(line)["loss"] for line in (d / "log.jsonl").read_text().splitlines()] for d in (ref, res)]
    assert losses[0] == losses[1]


def test_ema_switched_on_at_resume_starts_from_the_resumed_weights(tmp_path, image_folder, caplog):
    out = tmp_path / "on"
    train(TrainConfig(data=(str(image_folder),), out=str(out), steps=3, **SETTINGS))
    with caplog.at_level(logging.WARNING, logger="edgesr"):
        train(resume=True, out=str(out), steps=5, ema=0.5, progress=False)
    assert "no EMA weights" in caplog.text and "resume: ema 0.0 -> 0.5" in caplog.text
    st = torch.load(out / "last.pt", weights_only=True)
    assert int(st["ema"]["n_averaged"]) == 3  # the step-3 copy + 2 updates
