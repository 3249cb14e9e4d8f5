"""Dual-regression channel pruning: the materialised network is what the masked network was,
has the reported size, loads with load_model alone, exports to ONNX, and its channel choice
beats a random one of the same size on real crops (before any fine-tuning)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import edgesr
import torch.nn.functional as F

from edgesr.compression import PruneConfig, cost_model, l1_keep, materialize, prune, random_keep, select_channels
from edgesr.compression.common import Batches, widths
from edgesr.compression.prune import prune_objective
from edgesr.data import SRDataset
from edgesr.errors import ConfigError
from edgesr.models import count_params

FAST = PruneConfig(select="drc", batches=1, batch=2, patch=12, reopt_steps=1, progress=False)


def test_materialize_equals_masked_full_model(any_tiny_model):
    m = any_tiny_model
    keep = random_keep(m, [max(1, w // 2) for w in widths(m)], seed=3)
    small = materialize(m, keep)
    masks = []
    for p, k in zip(m.prunable(), keep):
        mask = torch.zeros(p.consumer.in_channels)
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
    assert widths(small) == [len(k) for k in keep]
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


@pytest.mark.parametrize("cfg", [FAST, replace(FAST, select="drc_centered"), replace(FAST, select="drc_omp"),
                                 replace(FAST, select="l1"), PruneConfig.legacy(batches=1, batch=2, patch=12,
                                                                                reopt_steps=1, progress=False)],
                         ids=["drc", "drc_centered", "drc_omp", "l1", "legacy"])
def test_selection_finds_the_live_channels(tmp_path, image_folder, cfg):
    """Half of every layer's channels are dead (zero filters): every rule must keep exactly
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
    _, keep = select_channels(m, [8, 8], [image_folder], tmp_path / "p", cfg)
    assert keep == live
    assert random_keep(m, [8, 8], seed=0) != live


@pytest.mark.slow
def test_selection_beats_random_choice_before_finetune(trained_small, t91, set5, tmp_path):
    m = trained_small
    channels = [8, 8]
    net, keep = select_channels(m, channels, [t91], tmp_path / "p",
                                PruneConfig(select="drc", batches=2, batch=8, patch=20, reopt_steps=1,
                                            progress=False))
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
                                    PruneConfig(select="drc_omp", batches=1, batch=1, patch=12, reopt_steps=0,
                                                progress=False)))
    assert widths(small) == ch
    assert count_params(small) == cost_model(m, "params").cost(ch)
    with torch.no_grad():
        assert small(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)


def test_grouped_upsampler_pruning_keeps_whole_pixel_shuffle_groups():
    """A DRN upsampler conv feeds its 1x1 conv through PixelShuffle(2): keeping channel c means keeping
    conv outputs 4c..4c+3. L1 selection scores whole groups; materialize copies them."""
    from conftest import tiny_model  # type: ignore[import-not-found]

    m = tiny_model("drn", 4)
    i, p = next((i, p) for i, p in enumerate(m.prunable()) if p.group == 4)
    dead = [1, 5, 6, 9]  # consumer channels whose 4 producer filters are zeroed
    with torch.no_grad():
        for c in dead:
            p.producer.weight[4 * c:4 * c + 4] = 0.0
    ch = widths(m)
    ch[i] -= len(dead)
    keep = l1_keep(m, ch)
    assert keep[i] == [c for c in range(widths(m)[i]) if c not in dead]
    small = materialize(m, keep)
    sp = small.prunable()[i]
    rows = [4 * c + j for c in keep[i] for j in range(4)]
    assert torch.equal(sp.producer.weight, p.producer.weight[rows]) and torch.equal(sp.producer.bias, p.producer.bias[rows])
    assert torch.equal(sp.consumer.weight, p.consumer.weight[:, keep[i]])


def test_official_loss_balance_is_the_0_255_network_s():
    """Item 1: the official network computes MSE(feature) + L1 primal + lambda L1 dual in [0, 255];
    the default feat_weight reproduces that balance in [0, 1] (the same loss up to a factor of 255)."""
    g = torch.Generator().manual_seed(0)
    y, y_ref, sr, hr = (torch.rand(2, 8, 6, 6, generator=g) for _ in range(4))
    official = F.mse_loss(255 * y, 255 * y_ref) + F.l1_loss(255 * sr, 255 * hr)
    ours = prune_objective(F.l1_loss(sr, hr), y, y_ref, PruneConfig().feat_weight)
    assert torch.allclose(255 * ours, official, rtol=1e-5)
    legacy = prune_objective(F.l1_loss(sr, hr), y, y_ref, PruneConfig.legacy().feat_weight)
    assert not torch.allclose(255 * legacy, official, rtol=1e-2)


def _count_batches(monkeypatch) -> list[int]:
    calls = [0]
    orig = Batches.next

    def counted(self):
        calls[0] += 1
        return orig(self)

    monkeypatch.setattr(Batches, "next", counted)
    return calls


@pytest.mark.parametrize("fresh", [True, False])
def test_scoring_and_refit_draw_fresh_batches_by_default(tmp_path, image_folder, monkeypatch, fresh):
    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=8, n_blocks=2)
    calls = _count_batches(monkeypatch)
    cfg = replace(FAST, batches=2, reopt_steps=3, fresh=fresh)
    assert PruneConfig().fresh
    select_channels(m, [2, 3], [image_folder], tmp_path / "p", cfg)
    # fresh: every greedy step scores on 2 new batches, refits on 3 more and checks the refit on one more
    # (divergence guard); fixed: 2 batches, drawn once
    assert calls[0] == ((2 + 3) * (2 + 3 + 1) if fresh else 2)


def test_omp_keeps_one_of_two_duplicate_channels_in_a_network(tmp_path, image_folder):
    """Filter 5 of each producer duplicates filter 3 (strongest): identical inputs to the consumer.
    The least-squares rule never keeps both."""
    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=8, n_blocks=2)
    with torch.no_grad():
        for p in m.prunable():
            p.producer.weight[3] *= 3.0
            p.producer.weight[5] = p.producer.weight[3]
            p.producer.bias[5] = p.producer.bias[3]
            p.consumer.weight[:, 5] = p.consumer.weight[:, 3]
    _, keep = select_channels(m, [4, 4], [image_folder], tmp_path / "p", replace(FAST, select="drc_omp"))
    assert all(not {3, 5} <= set(k) for k in keep), keep


def test_greedy_prune_resumes_after_an_interrupted_layer(tmp_path, image_folder, monkeypatch):
    """Fresh batches: a run stopped during layer 2 and resumed draws the same crops as a straight run."""
    import importlib

    prune_mod = importlib.import_module("edgesr.compression.prune")

    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=8, n_blocks=2)
    cfg = replace(FAST, batches=1, reopt_steps=1, select="drc_omp")
    net_a, keep_a = select_channels(m, [3, 2], [image_folder], tmp_path / "a", cfg)
    orig = prune_mod._Layer.run

    def stop_at_layer_1(self, n, tick):
        if self.li == 1:
            raise KeyboardInterrupt
        return orig(self, n, tick)

    monkeypatch.setattr(prune_mod._Layer, "run", stop_at_layer_1)
    with pytest.raises(KeyboardInterrupt):
        select_channels(m, [3, 2], [image_folder], tmp_path / "b", cfg)
    monkeypatch.setattr(prune_mod._Layer, "run", orig)
    net_b, keep_b = select_channels(m, [3, 2], [image_folder], tmp_path / "b", cfg)
    assert keep_a == keep_b
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(net_a.state_dict().values(),
                                                               net_b.state_dict().values()))


def test_prune_config_rejects_unknown_rules_with_a_hint():
    with pytest.raises(ConfigError, match="did you mean 'drc_omp'"):
        PruneConfig(select="drc_opm")
    with pytest.raises(ConfigError, match="drc_omp"):
        PruneConfig(select="drc_omp", feat_weight=0)
