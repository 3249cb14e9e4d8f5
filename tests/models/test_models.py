import pytest
import torch

import edgesr
from edgesr.errors import ConfigError, ModelFormatError
from edgesr.models import count_flops, count_params, create_model, list_models, load_model, save_model

from conftest import tiny_model


def test_paper_parameter_counts():
    # Guo et al. report DRN-S x4 = 4.8M and DRN-L x4 = 9.8M parameters (primal network).
    assert round(count_params(create_model("drn_s", scale=4)) / 1e6, 1) == 4.8
    assert round(count_params(create_model("drn_l", scale=4)) / 1e6, 1) == 9.8


# Official presets (DRC template.py): x4 DRN-S 16 feats / 30 RCABs, DRN-L 20 / 40; x8 DRN-S 8 / 30
# (paper: 5.4M), DRN-L 10 / 36 (paper: 10.0M). Counts: primal network incl. MeanShift.
@pytest.mark.parametrize("name,scale,feats,blocks,params,paper", [
    ("drn_s", 4, 16, 30, 4_804_065, 4.8), ("drn_l", 4, 20, 40, 9_825_893, 9.8),
    ("drn_s", 8, 8, 30, 5_403_000, 5.4), ("drn_l", 8, 10, 36, 10_004_018, 10.0)])
def test_drn_presets_follow_the_scale(name, scale, feats, blocks, params, paper):
    m = create_model(name, scale=scale)
    assert (m.config.n_feats, m.config.n_blocks) == (feats, blocks)
    assert count_params(m) == params and round(params / 1e6, 1) == paper
    assert create_model(name, scale=scale, n_feats=4).config.n_feats == 4  # explicit values win
    assert m.arch()["config"]["n_feats"] == feats  # saved configs hold the resolved values


def test_drn_prunes_every_layer_drc_prunes():
    """P * (n_blocks + 2) layers in the official order: down blocks, then per level RCABs + upsampler."""
    from edgesr.compression import cost_model, materialize

    m = tiny_model("drn", 4)  # n_feats 4, 2 RCABs per level
    pr = m.prunable()
    assert [p.name for p in pr] == ["down.0.0", "down.1.0", "up_blocks.0.0.body.0", "up_blocks.0.1.body.0",
                                    "up_blocks.0.2", "up_blocks.1.0.body.0", "up_blocks.1.1.body.0", "up_blocks.1.2"]
    assert [p.group for p in pr] == [1, 1, 1, 1, 4, 1, 1, 4]
    assert [p.width for p in pr] == [4, 8, 16, 16, 16, 16, 16, 16]
    ch = [2, 4, 8, 12, 4, 16, 8, 12]
    over = m.channel_config(ch)
    assert over == {"down_channels": [2, 4], "channels": [8, 12, 16, 8], "up_channels": [4, 12]}
    small = create_model("drn_s", 4, n_feats=4, n_blocks=2, **over)
    assert [p.producer.out_channels for p in small.prunable()] == [2, 4, 8, 12, 16, 16, 8, 48]
    assert small.down[0][0].out_channels == 2 and small.up_blocks[1][4].in_channels == 12
    assert count_params(small) == cost_model(m, "params").cost(ch)
    keep = [list(range(c)) for c in ch]
    assert materialize(m, keep).config == small.config
    with pytest.raises(ConfigError, match="8 prunable layers"):
        m.channel_config(ch[:-1])
    with pytest.raises(ConfigError, match="up_channels"):
        create_model("drn_s", 4, n_feats=4, n_blocks=2, up_channels=[4])


@pytest.mark.parametrize("name", [n for n in list_models() if n.startswith("edge")])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edge_family_shapes_and_size_classes(name, scale):
    m = create_model(name, scale=scale)
    y = m(torch.rand(2, 3, 13, 17))
    assert y.shape == (2, 3, 13 * scale, 17 * scale)
    n = count_params(m)
    if name == "edge_tiny":
        assert n <= 22_000  # the real-time class (~20K)
    if name == "edge_base":
        assert n <= 300_000  # the quality class


def test_edge_anchor_is_nearest_upsampling():
    m = create_model("edge_tiny", scale=3)
    for p in m.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(1, 3, 8, 9)
    assert torch.equal(m(x), torch.nn.functional.interpolate(x, scale_factor=3, mode="nearest"))


@pytest.mark.parametrize("scale", [4, 8])
def test_drn_levels_and_dual(scale):
    m = tiny_model("drn", scale)
    x = torch.rand(1, 3, 8, 8)
    outs = m.forward_levels(x)
    assert [o.shape[-1] for o in outs] == [8 * s for s in m.level_scales]
    assert m.level_scales[-1] == scale and len(m.dual) == len(m.dual_pairs) == scale.bit_length() - 1
    for d, pair in zip(m.dual, m.dual_pairs):
        assert d(outs[m.level_scales.index(pair.src)]).shape[-1] == 8 * pair.dst


def test_factory_errors_suggest():
    with pytest.raises(ConfigError, match="did you mean 'drn_s'"):
        create_model("drn_S", scale=4)
    with pytest.raises(ConfigError, match="did you mean 'n_feats'"):
        create_model("edge_tiny", scale=2, n_feat=8)
    with pytest.raises(ConfigError, match="scale"):
        create_model("edge_tiny", scale=5)
    with pytest.raises(ConfigError, match="prunable layers"):
        create_model("edge_tiny", scale=2, channels=[8, 8])


def test_channels_config_builds_smaller_network():
    full = create_model("edge_small", scale=2)
    pruned = create_model("edge_small", scale=2, channels=[16, 20, 32, 8])
    assert [p.producer.out_channels for p in pruned.prunable()] == [16, 20, 32, 8]
    assert count_params(pruned) < count_params(full)
    assert count_flops(pruned, (32, 32)) < count_flops(full, (32, 32))


def test_save_load_roundtrip(tmp_path, any_tiny_model):
    m = any_tiny_model
    p = save_model(m, tmp_path / "m.pt", meta={"note": "x"})
    m2 = load_model(p)
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(m(x), m2(x))
    assert m2.arch() == m.arch() and m2.meta["note"] == "x"
    # primal-only checkpoints load too (dual networks are training-time)
    p2 = save_model(m, tmp_path / "primal.pt", include_dual=False)
    assert torch.equal(load_model(p2)(x), m(x))


def test_pruned_checkpoint_needs_nothing_else(tmp_path):
    m = create_model("edge_tiny", scale=2, channels=[4, 12, 8])
    m2 = load_model(save_model(m, tmp_path / "p.pt"))
    assert [p.producer.out_channels for p in m2.prunable()] == [4, 12, 8]


def test_load_errors(tmp_path):
    with pytest.raises(ModelFormatError, match="not found"):
        load_model(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFormatError, match="not a readable"):
        load_model(bad)
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(1)}, plain)
    with pytest.raises(ModelFormatError, match="not an edgesr checkpoint"):
        load_model(plain)


class _Evil:
    def __reduce__(self):
        return (print, ("code executed",))


def test_checkpoint_never_executes_code(tmp_path, capsys):
    p = tmp_path / "evil.pt"
    torch.save({"format": "edgesr.checkpoint", "x": _Evil()}, p)
    with pytest.raises(ModelFormatError):
        load_model(p)
    assert "code executed" not in capsys.readouterr().out


def test_refusal_of_pickled_code_says_why_without_suggesting_weights_only_false(tmp_path, capsys):
    p = tmp_path / "evil.pt"
    torch.save({"format": "edgesr.checkpoint", "x": _Evil()}, p)
    with pytest.raises(ModelFormatError) as e:
        load_model(p)
    msg = str(e.value)
    assert "holds code" in msg and "refused for safety" in msg and str(p) in msg and "\n" not in msg
    assert "weights_only" not in msg and "still be loaded" not in msg
    assert "code executed" not in capsys.readouterr().out


def test_missing_model_points_to_the_bundled_list(tmp_path):
    with pytest.raises(ModelFormatError, match="edgesr models"):
        load_model(tmp_path / "missing.pt")


def test_top_level_api():
    assert "edge_tiny" in edgesr.list_models()
    assert isinstance(edgesr.create_model("edge_tiny", scale=2), torch.nn.Module)



@pytest.mark.parametrize("scale", [2, 3, 4])
def test_one_hot_pixel_shuffle_is_bit_exact(scale):
    from torch import nn

    from edgesr.models.base import OneHotPixelShuffle, is_one_hot_shuffle

    x = torch.randn(2, 3 * scale * scale, 7, 5)
    a = nn.PixelShuffle(scale)(x)
    b = OneHotPixelShuffle(scale, 3)(x)
    assert torch.equal(a, b)
    m = OneHotPixelShuffle(scale, 3)
    assert is_one_hot_shuffle(m.weight.numpy())
    w = m.weight.clone()
    w[0, 0, 0, 0] = 0.5  # a learnt deconvolution is not a shuffle
    assert not is_one_hot_shuffle(w.numpy())
    model = create_model("edge_tiny", scale=scale)
    with torch.no_grad():
        assert torch.equal(model(x[:1, :3]), model.export_form()(x[:1, :3]))
