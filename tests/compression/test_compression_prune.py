"""Dual-regression channel pruning: the materialised network is what the masked network was,
has the reported size, loads with load_model alone, exports to ONNX, and its channel choice
beats a random one of the same size on real crops (before any fine-tuning)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import edgesr
from edgesr.compression import PruneConfig, cost_model, l1_keep, materialize, prune, random_keep, select_channels
from edgesr.data import SRDataset
from edgesr.errors import ConfigError
from edgesr.models import count_params

FAST = PruneConfig(batches=1, batch=2, patch=12, reopt_steps=1, progress=False)


def test_materialize_equals_masked_full_model(any_tiny_model):
    m = any_tiny_model
    keep = random_keep(m, [max(1, p.producer.out_channels // 2) for p in m.prunable()], seed=3)
    small = materialize(m, keep)
    masks = []
    for p, k in zip(m.prunable(), keep):
        mask = torch.zeros(p.producer.out_channels)
        mask[k] = 1.0
        masks.append(p.consumer.register_forward_pre_hook(lambda mod, i, mask=mask: (i[0] * mask.view(1, -1, 1, 1),)))
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        want = m(x)
    for h in masks:
        h.remove()
    with torch.no_grad():
        got = small(x)
    assert torch.allclose(got, want, atol=1e-5)
    assert [p.producer.out_channels for p in small.prunable()] == [len(k) for k in keep]
    assert count_params(small) == cost_model(m, "params").cost([len(k) for k in keep])


def test_prune_writes_a_loadable_smaller_model_that_exports(tmp_path, image_folder):
    import onnxruntime as ort

    from edgesr.export.onnx import export_onnx

    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=16, n_blocks=2)
    path = prune(m, [8, 4], [image_folder], tmp_path / "p", FAST)
    small = edgesr.load_model(path)  # nothing else needed: the channel list is in the checkpoint
    assert small.config.channels == (8, 4)
    assert [p.producer.out_channels for p in small.prunable()] == [8, 4]
    assert count_params(small) == cost_model(m, "params").cost([8, 4]) < count_params(m)
    x = np.random.default_rng(0).random((1, 3, 16, 20), dtype=np.float32)
    onnx_path = export_onnx(small, tmp_path / "small.onnx")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        want = small.eval()(torch.from_numpy(x)).numpy()
    assert got.shape == (1, 3, 32, 40) and np.allclose(got, want, atol=1e-4)


def test_prune_rejects_a_config_for_another_model(tmp_path, image_folder, edge_x2):
    with pytest.raises(ConfigError, match="re-run the search"):
        prune(edge_x2, [4, 4, 4], [image_folder], tmp_path / "p", FAST)


def _crop_l1(model, crops) -> float:
    with torch.no_grad():
        return float(torch.stack([(model.eval()(c["lr"][None]) - c["hr"][None]).abs().mean() for c in crops]).mean())


@pytest.fixture(scope="module")
def trained_small(t91, tmp_path_factory):
    """edge_tiny widened to 16 channels, trained a few hundred steps on real T91 crops."""
    from edgesr.training import train

    out = tmp_path_factory.mktemp("trained")
    path = train(model="edge_tiny", scale=2, data=(str(t91),), out=str(out), steps=150, batch=8, patch=20,
                 lr=1e-3, model_kwargs={"n_feats": 16, "n_blocks": 2}, ckpt_every=1000, val_every=10**9,
                 progress=False, seed=0)
    return edgesr.load_model(path)


def test_selection_finds_the_live_channels(tmp_path, image_folder):
    """Half of every layer's channels are dead (zero filters): greedy selection must keep exactly
    the live ones; a random choice of the same size almost never does."""
    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=16, n_blocks=2)
    live = []
    with torch.no_grad():
        for i, p in enumerate(m.prunable()):
            dead = torch.randperm(16, generator=torch.Generator().manual_seed(i))[:8]
            p.producer.bias.fill_(0.5)  # live channels active on every pixel
            p.producer.weight[dead] = 0
            p.producer.bias[dead] = 0
            live.append(sorted(set(range(16)) - set(dead.tolist())))
    _, keep = select_channels(m, [8, 8], [image_folder], tmp_path / "p", FAST)
    assert keep == live
    assert random_keep(m, [8, 8], seed=0) != live


@pytest.mark.slow
def test_selection_beats_random_choice_before_finetune(trained_small, t91, set5, tmp_path):
    m = trained_small
    channels = [8, 8]
    net, keep = select_channels(m, channels, [t91], tmp_path / "p",
                                PruneConfig(batches=2, batch=8, patch=20, reopt_steps=1, progress=False))
    drc = materialize(net, keep)
    ds = SRDataset(set5, 2, patch=32, augment=False)  # held-out real images
    crops = [ds.get(i, seed=100 + i) for i in range(len(ds.lr)) for _ in range(2)]
    full = _crop_l1(m, crops)
    ours = _crop_l1(drc, crops)
    rand = [_crop_l1(materialize(m, random_keep(m, channels, seed=s)), crops) for s in range(3)]
    assert full <= ours < min(rand), (full, ours, rand)
    l1 = _crop_l1(materialize(m, l1_keep(m, channels)), crops)
    assert ours < l1 * 1.05, (ours, l1)  # at least as good as magnitude pruning (5% slack)


def test_prune_drn(tmp_path, image_folder):
    from conftest import tiny_model  # type: ignore[import-not-found]

    m = tiny_model("drn", 4)
    ch = [4] * len(m.prunable())
    small = edgesr.load_model(prune(m, ch, [image_folder], tmp_path / "p",
                                    PruneConfig(batches=1, batch=1, patch=12, reopt_steps=0, progress=False)))
    assert [p.producer.out_channels for p in small.prunable()] == ch
    assert count_params(small) == cost_model(m, "params").cost(ch)
    with torch.no_grad():
        assert small(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)
