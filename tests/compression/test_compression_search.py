"""Channel number search: budget and multiple-of-4 rules, every family, resume after a kill."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

import edgesr
from edgesr.compression import SearchConfig, cost_model, fit_budget, project, search_channels, search_space
from edgesr.compression.common import widths
from edgesr.errors import ConfigError
from edgesr.models import count_flops, count_params

FAST = dict(steps=2, batch=2, patch=16, progress=False)


def _wide_edge(seed: int = 0):
    torch.manual_seed(seed)
    return edgesr.create_model("edge_tiny", 2, n_feats=16, n_blocks=2)


def _shape(model, channels):
    arch = model.arch()
    return edgesr.models.build_model(arch["family"], {**arch["config"], **model.channel_config(channels)},
                                     name=arch["name"])


@pytest.mark.parametrize("kind", ["flops", "params"])
def test_cost_model_is_exact(kind, any_tiny_model):
    m = any_tiny_model
    cm = cost_model(m, kind, (24, 24))
    ch = [max(1, w // 2) for w in widths(m)]
    small = _shape(m, ch)
    want = count_flops(small, (24, 24)) if kind == "flops" else count_params(small)
    assert cm.cost(ch) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("kind", ["flops", "params"])
def test_legacy_search_respects_budget_and_multiple_of_4(kind, tmp_path, image_folder):
    m = _wide_edge()
    cfg = SearchConfig(ratio=0.3, budget=kind, mode="legacy", **FAST)
    space = search_space(m, cfg)
    assert all(c % 4 == 0 for cands in space.candidates for c in cands)
    ch = search_channels(m, [image_folder], tmp_path / "s", cfg)
    assert all(c % 4 == 0 and c in cands for c, cands in zip(ch, space.candidates))
    small = _shape(m, ch)
    full = count_flops(m, cfg.cost_hw) if kind == "flops" else count_params(m)
    got = count_flops(small, cfg.cost_hw) if kind == "flops" else count_params(small)
    assert got <= (1 - cfg.ratio) * full
    info = json.loads((tmp_path / "s" / "channels.json").read_text())
    assert info["channels"] == ch and info["steps"] == cfg.steps


def test_search_drn(tmp_path, image_folder):
    from conftest import tiny_model  # type: ignore[import-not-found]

    m = tiny_model("drn", 4)
    cfg = SearchConfig(ratio=0.25, **{**FAST, "steps": 2, "patch": 12})
    ch = search_channels(m, [image_folder], tmp_path / "s", cfg)
    space = search_space(m, cfg)
    assert len(ch) == len(m.prunable()) and space.cost.cost(ch) <= space.budget


def test_projection_enforces_budget():
    m = _wide_edge()
    space = search_space(m, SearchConfig(ratio=0.3))
    over = [16, 16]  # full width: above any 30% budget
    probs = [[0.1] * (len(c) - 1) + [0.9] for c in space.candidates]
    space2 = type(space)(tuple(c + (16,) for c in space.candidates), space.budget, space.cost)
    ch = project(over, [p + [0.5] for p in probs], space2)
    assert space.cost.cost(ch) <= space.budget and ch != over


def test_candidates_follow_the_channel_multiple():
    m = edgesr.create_model("edge_tiny", scale=2)  # mids 16
    space = search_space(m, SearchConfig(ratio=0.3, multiple=8))
    assert all(c % 8 == 0 and c >= 8 for cands in space.candidates for c in cands)
    assert space.candidates == ((8,), (8,), (8,))  # the uniform width that fits is 9.6: only 8 below it
    space = search_space(m, SearchConfig(ratio=0.3, multiple=8, redistribute=True))
    assert space.candidates == ((8, 16),) * 3  # full-width grid: the search may keep a block at 16
    with pytest.raises(ConfigError, match="--multiple 8"):
        SearchConfig(multiple=0)


def test_unreachable_ratio_says_what_to_do():
    with pytest.raises(ConfigError, match=r"at most \d+\.\d% can be removed.*--ratio 0\.\d+ or less"):
        search_space(_wide_edge(), SearchConfig(ratio=0.97))
    with pytest.raises(ConfigError, match="ratio"):
        SearchConfig(ratio=1.5)


SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    torch.set_num_threads(1)
    import edgesr
    import edgesr.compression.search as S
    from edgesr.compression import SearchConfig, search_channels
    real_save, saves = S.atomic_torch_save, []

    def save(obj, path):  # SIGKILL as the N-th checkpoint is due: the logged steps since the last one are lost
        saves.append(path)
        if len(saves) == int(sys.argv[4]):
            os.kill(os.getpid(), signal.SIGKILL)
        real_save(obj, path)

    S.atomic_torch_save = save
    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=8, n_blocks=2)
    search_channels(m, [sys.argv[1]], sys.argv[2], SearchConfig(ratio=0.3, steps=int(sys.argv[3]), batch=1,
                    patch=12, ckpt_every=2, progress=False))
""")


def test_search_resumes_after_kill(tmp_path, image_folder):
    """Killed (SIGKILL, no clean-up) at a known point, not at a race with a timer: as the 4th checkpoint
    (step 8) is due, so last.pt holds step 6 and log.jsonl has records 7 and 8 that the resume must redo."""
    steps = 16
    script = tmp_path / "run_search.py"
    script.write_text(SCRIPT)
    work = tmp_path / "killed"
    proc = subprocess.run([sys.executable, str(script), str(image_folder), str(work), str(steps), "4"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert not (work / "channels.json").exists()
    assert torch.load(work / "last.pt", weights_only=True)["step"] == 6
    logged = [json.loads(line)["step"] for line in (work / "log.jsonl").read_text().splitlines()]
    assert logged[-1] == 8

    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=8, n_blocks=2)
    cfg = SearchConfig(ratio=0.3, steps=steps, batch=1, patch=12, ckpt_every=2, progress=False)
    resumed = search_channels(m, [image_folder], work, cfg)
    info = json.loads((work / "channels.json").read_text())
    assert info["steps"] == steps
    # one record per step in the log after the resumed run, continuing from the checkpoint
    logged = [json.loads(line)["step"] for line in (work / "log.jsonl").read_text().splitlines()]
    assert logged[-1] == steps and sorted(set(logged)) == list(range(1, steps + 1))

    ref = search_channels(m, [image_folder], tmp_path / "straight", cfg)
    ref_info = json.loads((tmp_path / "straight" / "channels.json").read_text())
    assert ref_info["steps"] == info["steps"] and resumed == ref
    assert torch.allclose(torch.tensor(sum(info["probs"], [])), torch.tensor(sum(ref_info["probs"], [])), atol=1e-4)


@pytest.mark.parametrize("kind,ratio", [("flops", 0.3), ("flops", 0.5), ("params", 0.3)])
def test_official_search_ends_within_2_percent_of_the_budget(kind, ratio, tmp_path, image_folder):
    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=32, n_blocks=4)
    cfg = SearchConfig(ratio=ratio, budget=kind, **{**FAST, "steps": 3})
    ch = search_channels(m, [image_folder], tmp_path / "s", cfg)
    small = _shape(m, ch)
    full = count_flops(m, cfg.cost_hw) if kind == "flops" else count_params(m)
    got = count_flops(small, cfg.cost_hw) if kind == "flops" else count_params(small)
    budget = (1 - ratio) * full
    assert abs(got / budget - 1) <= 0.02, (ch, got / budget)
    assert all(c % 4 == 0 for c in ch)
    # the expected cost is logged at every step
    recs = [json.loads(line) for line in (tmp_path / "s" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2, 3]
    assert all(0 < r["exp_cost_frac"] <= 1 and r["exp_cost_vs_budget"] > 0 for r in recs)


def test_fit_budget_grows_an_undershooting_config_and_shrinks_an_overshooting_one():
    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=32, n_blocks=4)
    space = search_space(m, SearchConfig(ratio=0.3))
    probs = [[1.0 / len(c)] * len(c) for c in space.candidates]
    for start in ([4, 4, 4, 4], [32, 32, 32, 32]):  # far under / over the budget
        ch = fit_budget(start, probs, space)
        assert abs(space.cost.cost(ch) / space.budget - 1) <= 0.02, (start, ch)
    ch = project([4, 4, 4, 4], probs, space)  # legacy projection only shrinks: the undershoot stays
    assert ch == [4, 4, 4, 4]


def test_channels_budget_is_the_official_candidate_set():
    from edgesr.compression.space import official_round

    m = edgesr.create_model("edge_tiny", 2, n_feats=32, n_blocks=4)
    cfg = SearchConfig(ratio=0.3, budget="channels")
    space = search_space(m, cfg)
    want = tuple(sorted({official_round(int(32 * 0.7 * r), 32) for r in cfg.ratios}))
    assert space.candidates == (want,) * 4 and space.budget is None
    assert want == (12, 16, 20) and official_round(22, 64) == 20  # 22.4 -> 22: ties round down and official_round(23, 64) == 24
    assert official_round(2, 64) == 4 and official_round(70, 64) == 64


def _masked(model, mode):
    from edgesr.compression.search import _Masked

    cfg = SearchConfig(ratio=0.3, budget="channels", mode=mode, ratios=(0.5,))
    space = search_space(model, cfg)
    return _Masked(model, space, cfg), space


@pytest.mark.parametrize("mode", ["official", "legacy"])
def test_candidate_masks_keep_the_strongest_channels_officially_the_first_in_legacy(mode):
    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=32, n_blocks=4)
    p = m.prunable()[0]
    strong = [30, 3, 17, 9, 25, 11, 0, 21]  # 32 * 0.7 * 0.5 = 11.2 -> 12 kept channels
    with torch.no_grad():
        p.consumer.weight.mul_(0.01)
        p.consumer.weight[:, strong] *= 100.0
    masks, space = _masked(m, mode)
    k = space.candidates[0][0]
    mask = masks.mask(0)
    kept = set(torch.nonzero(mask > 0.5).flatten().tolist())
    assert len(kept) == k == 12
    if mode == "legacy":
        assert kept == set(range(12))
    else:
        assert set(strong) <= kept
        with torch.no_grad():  # re-sorted at every forward: make channel 1 the strongest
            p.consumer.weight[:, 1] *= 1000.0
        assert masks.mask(0)[1] > 0.5
    masks.remove()


def test_official_mask_is_group_aware_on_the_drn_upsampler():
    """The DRN upsampler pair feeds the 1x1 conv through PixelShuffle: the mask acts on the consumer's
    (u) input channels, ranked by the 1x1 conv's weights, whatever the producer's 4u outputs."""
    from conftest import tiny_model  # type: ignore[import-not-found]

    m = tiny_model("drn", 4)
    i, p = next((i, p) for i, p in enumerate(m.prunable()) if p.group == 4)
    w = p.consumer.in_channels
    with torch.no_grad():
        p.consumer.weight.mul_(0.01)
        p.consumer.weight[:, w - 1] = 10.0  # the last channel is the strongest
    masks, space = _masked(m, "official")
    mask = masks.mask(i)
    assert mask.shape == (w,) and mask[w - 1] > 0.5
    with torch.no_grad():
        assert m(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)  # the hooks fit the network's shapes
    masks.remove()


def test_official_alpha_init_is_small_noise_and_legacy_zero():
    m = _wide_edge()
    a_off = _masked(m, "official")[0]
    a_leg = _masked(m, "legacy")[0]
    off = torch.cat([a.detach() for a in a_off.alpha])
    assert 0 < off.abs().max() < 1e-2 and torch.all(torch.cat([a.detach() for a in a_leg.alpha]) == 0)
    a_off.remove()
    a_leg.remove()
    with pytest.raises(ConfigError, match="did you mean 'official'"):
        SearchConfig(mode="oficial")


def test_channels_budget_search_returns_the_argmax_candidate(tmp_path, image_folder):
    m = _wide_edge()
    cfg = SearchConfig(ratio=0.3, budget="channels", **FAST)
    ch = search_channels(m, [image_folder], tmp_path / "s", cfg)
    info = json.loads((tmp_path / "s" / "channels.json").read_text())
    assert ch == info["argmax"] and all(c in cands for c, cands in zip(ch, info["candidates"]))
    recs = [json.loads(line) for line in (tmp_path / "s" / "log.jsonl").read_text().splitlines()]
    assert all(r["penalty"] == 0 for r in recs)  # no cost term: the candidate set is the budget
