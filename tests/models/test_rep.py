"""Re-parameterizable blocks (ECB, RepVGG, SESR): exact collapse at every scale and border,
plain deployed graph, checkpoints of both forms, training resume and DRC on the collapsed net."""
from __future__ import annotations

import collections

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import edgesr
from edgesr.errors import ConfigError
from edgesr.models import count_flops, count_params, load_model, read_checkpoint, save_model
from edgesr.models.rep import ECB, RepConv, RepVGGBlock, SeqConv, SESRBlock, is_rep, reparameterize

KINDS = ["ecb", "repvgg", "sesr"]
SIZES = [(1, 13, 17), (2, 9, 6), (1, 1, 1)]  # odd, non-square, and a single pixel (all border)
ATOL = 1e-5


def _randomize(module: nn.Module, std: float = 0.3, seed: int = 0) -> nn.Module:
    """Every parameter N(0, std): the ECB edge scales/biases (init 1e-3) and every bias matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module


def _rep_model(kind: str, scale: int, dtype: torch.dtype = torch.float32, **kw):
    """A rep model whose small-init edge branches and biases matter; its tail is scaled so the
    predicted residual is O(0.1), as in a trained model (RepVGG's identity branches inside the
    residual blocks give the untrained net an output gain of ~10, where float32 rounding alone
    reaches 1e-5: the float64 test shows the collapse itself is exact)."""
    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", scale=scale, rep=kind, **kw).to(dtype)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith((".scale", ".bias", ".b0", ".b1")):
                p.copy_(torch.randn_like(p) * 0.05)
            if n.startswith("tail."):
                p.mul_(0.1)
    return m.train()


BLOCKS = {
    "ecb": lambda cin, cout: ECB(cin, cout, expand=2),
    "ecb_idt": lambda cin, cout: ECB(cin, cout, expand=3, identity=True),
    "repvgg": RepVGGBlock,
    "sesr": lambda cin, cout: SESRBlock(cin, cout, expand=2),
}


@pytest.mark.parametrize("kind", list(BLOCKS))
@pytest.mark.parametrize("cin,cout", [(4, 4), (3, 6), (5, 2)])
def test_block_collapse_is_exact_at_every_border(kind, cin, cout):
    block = _randomize(BLOCKS[kind](cin, cout)).train()
    conv = block.collapse()
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.padding == (1, 1)
    assert conv.weight.shape == (cout, cin, 3, 3) and conv.bias is not None
    for n, h, w in SIZES:
        x = torch.randn(n, cin, h, w)
        ref = block(x)
        assert ref.shape == (n, cout, h, w)
        torch.testing.assert_close(conv(x), ref, atol=ATOL, rtol=0)
        torch.testing.assert_close(block.eval()(x), ref, atol=ATOL, rtol=0)  # eval runs the fused conv
        block.train()


def test_seq_branch_pads_with_its_bias_not_zeros():
    """The 1x1 -> 3x3 branch is exact only because the 1x1 output is padded with the 1x1 bias:
    zero padding would differ from the collapsed conv on the border ring (and only there)."""
    seq = _randomize(SeqConv(3, 4, 6))
    x = torch.randn(1, 3, 7, 9)
    k, b = seq.fuse()
    fused = F.conv2d(x, k, b, padding=1)
    torch.testing.assert_close(seq(x), fused, atol=ATOL, rtol=0)
    zero_pad = F.conv2d(F.conv2d(x, seq.k0, seq.b0), seq.k1, seq.b1, padding=1)
    diff = (zero_pad - fused).abs()
    assert diff[..., 1:-1, 1:-1].max() < ATOL and diff[..., 0, :].min() > 1e-4


def test_ecb_edge_branches_are_fixed_filters_with_learnable_scale():
    b = ECB(4, 4)
    names = {n for n, _ in b.named_parameters()}
    assert {"conv1x1_sbx.scale", "conv1x1_sbx.bias", "conv1x1_lpl.k0"} <= names
    assert b.conv1x1_sbx.mask is not None and not b.conv1x1_sbx.mask.requires_grad
    assert b.conv1x1_lpl.mask[0, 0].tolist() == [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    assert b.conv1x1_3x3.k0.shape[0] == 8  # expand * cout
    assert "conv1x1_sbx.mask" not in b.state_dict()  # constants are not checkpointed


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_model_collapse_matches_training_form(kind, scale):
    m = _rep_model(kind, scale)
    plain = reparameterize(m)
    assert m.config.rep == kind and is_rep(m)  # the original is untouched (a copy)
    assert plain.config.rep == "none" and not is_rep(plain) and plain.arch()["config"]["rep"] == "none"
    ref = edgesr.create_model("edge_tiny", scale=scale)
    assert plain.state_dict().keys() == ref.state_dict().keys()
    assert count_params(plain) == count_params(ref) and count_flops(plain, (8, 8)) == count_flops(ref, (8, 8))
    assert count_params(m) > count_params(ref)
    for n, h, w in SIZES:
        x = torch.rand(n, 3, h, w)
        y = m.train()(x)
        assert y.shape == (n, 3, h * scale, w * scale)
        torch.testing.assert_close(plain.eval()(x), y, atol=ATOL, rtol=0)
        torch.testing.assert_close(m.eval()(x), y, atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_model_collapse_is_exact_in_float64(kind, scale):
    m = _rep_model(kind, scale, torch.float64)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.0)  # large weights: any error in the collapse algebra would show
    plain = reparameterize(m)
    for n, h, w in SIZES:
        x = torch.rand(n, 3, h, w, dtype=torch.float64)
        y = m(x)
        assert (y - F.interpolate(x, scale_factor=scale, mode="nearest")).abs().max() > 1e-2  # residual matters
        torch.testing.assert_close(plain(x), y, atol=1e-10, rtol=0)


def test_collapse_keeps_the_dual_network_and_inplace_works():
    m = _rep_model("ecb", 2)
    dual = {k: v.clone() for k, v in m.state_dict().items() if k.startswith("dual.")}
    out = reparameterize(m, inplace=True)
    assert out is m and not is_rep(m) and m.config.rep == "none"
    assert all(torch.equal(m.state_dict()[k], v) for k, v in dual.items())
    assert type(m.dual[0]).__name__ == "DualBlock"


def test_rep_config_errors_name_the_fix():
    with pytest.raises(ConfigError, match="did you mean 'ecb'"):
        edgesr.create_model("edge_tiny", scale=2, rep="ecbb")
    with pytest.raises(ConfigError, match="rep_expand"):
        edgesr.create_model("edge_tiny", scale=2, rep="sesr", rep_expand=0)
    with pytest.raises(ConfigError, match="reparameterize"):
        edgesr.create_model("edge_tiny", scale=2, rep="repvgg").prunable()


def test_channels_and_rep_compose():
    m = _rep_model("repvgg", 2, channels=(4, 8, 12))
    plain = reparameterize(m)
    assert [p.producer.out_channels for p in plain.prunable()] == [4, 8, 12]
    x = torch.rand(1, 3, 11, 7)
    torch.testing.assert_close(plain(x), m.train()(x), atol=ATOL, rtol=0)


def _op_types(path) -> collections.Counter:
    import onnx

    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


@pytest.mark.parametrize("kind", KINDS)
def test_exported_graph_equals_the_plain_models(kind, small_photo, tmp_path):
    import json

    from edgesr.export import export_onnx, read_metadata

    m = _rep_model(kind, 3)
    plain_path = export_onnx(edgesr.create_model("edge_tiny", scale=3), tmp_path / "plain.onnx", image=small_photo)
    rep_path = export_onnx(m, tmp_path / "rep.onnx", image=small_photo)  # parity vs PyTorch is checked inside
    ops = _op_types(rep_path)
    assert ops == _op_types(plain_path)
    assert set(ops) <= {"Conv", "Relu", "Add", "ConvTranspose", "Slice", "Concat", "Constant"}
    assert json.loads(read_metadata(rep_path)["edgesr.arch"])["config"]["rep"] == "none"
    assert m.config.rep == kind  # export did not change the caller's model


@pytest.mark.parametrize("kind", KINDS)
def test_save_collapsed_by_default_and_rep_form_on_request(kind, tmp_path):
    m = _rep_model(kind, 2)
    x = torch.rand(1, 3, 9, 14)
    ref = m.train()(x)
    p = save_model(m, tmp_path / "deploy.pt", meta={"step": 7})
    ck = read_checkpoint(p)
    assert ck["arch"]["config"]["rep"] == "none" and ck["meta"] == {"rep": kind, "step": 7}
    plain = load_model(p)
    assert not is_rep(plain) and not any(isinstance(mod, RepConv) for mod in plain.modules())
    torch.testing.assert_close(plain(x), ref, atol=ATOL, rtol=0)

    q = save_model(m, tmp_path / "train.pt", collapse=False)
    back = load_model(q)
    assert back.config.rep == kind and is_rep(back)
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), m.state_dict().values()))
    torch.testing.assert_close(back.train()(x), ref, atol=0, rtol=0)


def test_training_keeps_branches_in_last_pt_and_deploys_collapsed(tmp_path, image_folder):
    import torch as t

    from edgesr.training import TrainConfig, train

    cfg = TrainConfig(model="edge_tiny", scale=2, data=(str(image_folder),), out=str(tmp_path / "run"), steps=2,
                      batch=2, patch=12, ckpt_every=1, val_every=10**9, threads=1, progress=False,
                      model_kwargs={"rep": "ecb", "n_feats": 8, "n_blocks": 1})
    final = train(cfg)
    assert load_model(final).config.rep == "none"
    last = t.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert last["arch"]["config"]["rep"] == "ecb" and any(".conv1x1_sbx." in k for k in last["model"])
    final = train(cfg, resume=True, steps=3)  # the branches resume exactly (same rep arch)
    assert t.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 3
    assert not is_rep(load_model(final))


def test_drc_prunes_the_collapsed_network(tmp_path, image_folder):
    from edgesr.compression import CompressConfig, FinetuneConfig, PruneConfig, SearchConfig, compress, prune

    cfg = CompressConfig(search=SearchConfig(steps=2, batch=2, patch=12, progress=False),
                         prune=PruneConfig(batches=1, batch=2, patch=12, reopt_steps=1, progress=False),
                         finetune=FinetuneConfig(steps=1, batch=2, patch=12, ckpt_every=1), report_hw=(32, 32))
    m = _rep_model("ecb", 2, n_feats=16, n_blocks=2)
    rep = compress(m, 0.3, [image_folder], tmp_path / "small.pt", config=cfg, latency=False)
    small = load_model(tmp_path / "small.pt")
    assert not is_rep(small) and small.config.rep == "none" and list(small.config.channels) == rep.channels
    assert rep.before.params == count_params(reparameterize(m)) and rep.after.flops < rep.before.flops
    assert m.config.rep == "ecb"  # the caller's model is not collapsed in place
    # the stage functions collapse too when handed a rep model directly
    pruned = load_model(prune(m, rep.channels, [image_folder], tmp_path / "p", cfg.prune))
    assert not is_rep(pruned) and list(pruned.config.channels) == rep.channels
