"""Official DRN / DRC interop: checkpoints of guoyongcs/DRC convert to edgesr DRNs with the same
outputs, official channel-search files build the published pruned sizes, and a converted model
goes through save/load, the CLI and compression like any edgesr model.

Reference data: $EDGESR_SHARED/reference/drn-official (README.md there); tests skip without it."""
from __future__ import annotations

import re

import pytest
import torch

import edgesr
from edgesr.errors import ConfigError, ModelFormatError
from edgesr.models import DRN, DRNConfig, count_params, load_model
from edgesr.models import official as official_mod
from edgesr.models.official import convert_official

from conftest import SHARED

REF = SHARED / "reference" / "drn-official"
ENTRIES = ["x4_nf16_nb2", "x8_nf8_nb1"]
# Published DRN-S x4 sizes of the DRC-pruned models (Guo et al., TPAMI 2022): 3.1 / 2.3 / 1.4 M; the
# official SDRN counts 3.117 / 2.267 / 1.428 M (primal network incl. MeanShift, no dual models).
PRUNED_X4 = {"03": 3.117e6, "05": 2.267e6, "07": 1.428e6}
# x8 (no published per-model count): what the official order builds, measured here.
PRUNED_X8 = {"03": 3_490_832, "05": 2_548_420, "07": 1_572_288}


def _ref(name: str):
    p = REF / name
    if not p.is_file():
        pytest.skip(f"official DRN reference data not present at {p}")
    return p


@pytest.fixture(scope="module")
def official() -> dict:
    return torch.load(_ref("drn_official_small.pt"), map_location="cpu", weights_only=True)


def _dual_outputs(model: DRN, outs: list[torch.Tensor]) -> list[torch.Tensor]:
    return [d(outs[model.level_scales.index(p.src)]) for d, p in zip(model.dual, model.dual_pairs)]


def _max_diffs(model: DRN, entry: dict) -> tuple[list[float], list[float]]:
    with torch.no_grad():
        outs = model.eval().forward_levels(entry["input"])
        duals = _dual_outputs(model, outs)
    assert len(outs) == len(entry["outputs"]) and len(duals) == len(entry["dual_outputs"])
    lv = [float((a - b).abs().max()) for a, b in zip(outs, entry["outputs"])]
    du = [float((a - b).abs().max()) for a, b in zip(duals, entry["dual_outputs"])]
    return lv, du


@pytest.mark.parametrize("key", ENTRIES)
def test_converted_model_reproduces_official_outputs(official, key):
    e = official[key]
    m = convert_official(e["primal_state_dict"], dual=e["dual_state_dicts"])
    assert (m.scale, m.config.n_feats, m.config.n_blocks) == (e["scale"], e["n_feats"], e["n_blocks"])
    assert len(m.prunable()) == m.phase * (e["n_blocks"] + 2)
    lv, du = _max_diffs(m, e)
    assert max(lv) <= 1e-5 and max(du) <= 1e-5, (lv, du)
    assert min(float(o.abs().max()) for o in e["outputs"]) > 1e-2  # the tolerance is far below the signal
    # the perturbed (trained-like) MeanShift is kept, converted to [0, 1]
    sd = e["primal_state_dict"]
    assert torch.allclose(m.sub_mean.bias, sd["sub_mean.bias"] / 255) and torch.equal(m.add_mean.weight,
                                                                                     sd["add_mean.weight"])


def test_range_conversion_is_what_makes_outputs_match(official, monkeypatch):
    """Control: the same renames without the [0, 255] -> [0, 1] rescaling miss by far more than 1e-5."""
    e = official["x4_nf16_nb2"]
    monkeypatch.setattr(official_mod, "_rescale", lambda key, v: v)
    lv, _ = _max_diffs(convert_official(e["primal_state_dict"], dual=e["dual_state_dicts"]), e)
    assert max(lv) > 1e-3


def test_cli_conversion_writes_a_model_load_model_reads(official, tmp_path):
    from edgesr.cli import main

    e = official["x8_nf8_nb1"]
    primal, dual, out = tmp_path / "DRNS8x.pt", tmp_path / "DRNS8x_dual_model.pt", tmp_path / "model.pt"
    torch.save(e["primal_state_dict"], primal)
    torch.save(e["dual_state_dicts"], dual)
    assert main(["convert", "official", str(primal), "--dual", str(dual), "--scale", "8", "-o", str(out)]) == 0
    m = load_model(out)
    assert m.family == "drn" and m.meta["official_dual"] is True
    lv, du = _max_diffs(m, e)
    assert max(lv) <= 1e-5 and max(du) <= 1e-5
    assert main(["convert", "official", str(primal), "--scale", "4", "-o", str(tmp_path / "bad.pt")]) == 2
    assert not (tmp_path / "bad.pt").exists()


def test_compress_a_converted_model_end_to_end(official, tmp_path, image_folder):
    from edgesr.compression import CompressConfig, FinetuneConfig, PruneConfig, SearchConfig, compress

    torch.manual_seed(0)
    m = convert_official(official["x4_nf16_nb2"]["primal_state_dict"])  # duals start fresh
    cfg = CompressConfig(search=SearchConfig(steps=2, batch=1, patch=8, cost_hw=(8, 8), progress=False),
                         prune=PruneConfig(batches=1, batch=1, patch=8, reopt_steps=0, progress=False),
                         finetune=FinetuneConfig(steps=2, batch=1, patch=8, ckpt_every=1),
                         report_hw=(16, 16), latency_hw=(8, 8), latency_runs=1)
    rep = compress(m, 0.7, [image_folder], tmp_path / "small.pt", config=cfg)  # high ratio: few channels to pick
    small = load_model(tmp_path / "small.pt")
    assert rep.after.params == count_params(small) < count_params(m) and rep.after.latency_ms is not None
    assert rep.after.flops <= 0.3 * rep.before.flops
    c = small.config  # the search may prune every DRC layer kind: down blocks, RCABs, upsamplers
    assert len(c.down_channels) == 2 and len(c.channels) == 4 and len(c.up_channels) == 2
    with torch.no_grad():
        assert small(torch.rand(1, 3, 6, 7)).shape == (1, 3, 24, 28)


def _to_official(model: DRN) -> dict[str, torch.Tensor]:
    """Test helper, the inverse of the converter: an edgesr DRN as the official (S)DRN would save it."""
    nb = model.config.n_blocks
    out = {}
    for k, v in model.state_dict().items():
        if k.startswith("dual."):
            continue
        ca = re.search(r"\.body\.3\.body\.(\d)\.", k)
        if ca:
            v = v / 255 if ca.group(1) == "0" and k.endswith("weight") else v
        elif k.endswith("bias"):
            v = v * 255
        k = re.sub(r"^down\.(\d+)\.0\.", r"down.\1.dual_module.0.0.", k)
        k = re.sub(r"^down\.(\d+)\.2\.", r"down.\1.dual_module.1.", k)
        k = re.sub(r"\.body\.3\.body\.", ".body.3.conv_du.", k)
        k = re.sub(rf"^up_blocks\.(\d+)\.{nb}\.", rf"up_blocks.\1.{nb}.0.", k)
        k = re.sub(rf"^up_blocks\.(\d+)\.{nb + 2}\.", rf"up_blocks.\1.{nb + 1}.", k)
        out[k] = v.clone()
    return out


def test_pruned_official_checkpoint_converts_with_its_channel_file():
    path = _ref("search_x4p07.txt")
    torch.manual_seed(0)
    ours = DRN(DRNConfig.from_search(path, scale=4), name="drn_s").eval()
    with torch.no_grad():
        for n, p in ours.named_parameters():
            if n.endswith("bias"):
                p.uniform_(-0.05, 0.05)
    sd = _to_official(ours)
    assert sd["up_blocks.0.30.0.weight"].shape[0] == 4 * int(path.read_text().split()[32])  # SDRN layout
    m = convert_official(sd, channels=path)
    assert m.config == ours.config and m.name == "drn_s"
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        assert torch.allclose(m(x), ours(x), atol=1e-5)
    with pytest.raises(ModelFormatError, match="channel file says"):
        convert_official(sd, channels=_ref("search_x4p05.txt"))


@pytest.mark.parametrize("rate", sorted(PRUNED_X4))
def test_search_files_build_the_published_pruned_sizes(rate):
    path = _ref(f"search_x4p{rate}.txt")
    m = DRN(DRNConfig.from_search(path, scale=4), name="drn_s")
    want = [int(t) for t in path.read_text().split()]
    assert [p.producer.out_channels // p.group for p in m.prunable()] == want  # official order
    assert count_params(m) == pytest.approx(PRUNED_X4[rate], rel=5e-3)


@pytest.mark.parametrize("rate", sorted(PRUNED_X8))
def test_x8_search_files_build(rate):
    path = _ref(f"search_x8p{rate}.txt")
    m = DRN(DRNConfig.from_search(path, scale=8), name="drn_s")
    assert len(m.prunable()) == 96 and count_params(m) == PRUNED_X8[rate]
    with torch.no_grad():
        assert m(torch.rand(1, 3, 3, 2)).shape == (1, 3, 24, 16)
    with pytest.raises(ConfigError, match="96 entries but a x4 DRN"):
        DRNConfig.from_search(path, scale=4)


def test_foreign_files_are_refused_with_what_was_expected(tmp_path, capsys):
    plain = tmp_path / "plain.pt"
    torch.save({"conv1.weight": torch.zeros(4, 3, 3, 3)}, plain)
    with pytest.raises(ModelFormatError, match=r"expected an official DRN state dict .*head\.weight.*got a dict"):
        convert_official(plain)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFormatError, match="not a readable official DRN checkpoint"):
        convert_official(bad)
    with pytest.raises(ModelFormatError, match="not found"):
        convert_official(tmp_path / "missing.pt")
    ours = edgesr.save_model(edgesr.create_model("drn_s", 4, n_feats=4, n_blocks=1), tmp_path / "ours.pt")
    with pytest.raises(ModelFormatError, match="already an edgesr checkpoint"):
        convert_official(ours)


class _Evil:
    def __reduce__(self):
        return (print, ("code executed",))


def test_conversion_never_executes_code(tmp_path, capsys):
    p = tmp_path / "evil.pt"
    torch.save({"head.weight": _Evil()}, p)
    with pytest.raises(ModelFormatError):
        convert_official(p)
    assert "code executed" not in capsys.readouterr().out


def test_dual_file_must_match(official, tmp_path):
    e = official["x4_nf16_nb2"]
    with pytest.raises(ModelFormatError, match="2 dual levels but 3"):
        convert_official(e["primal_state_dict"], dual=official["x8_nf8_nb1"]["dual_state_dicts"])
    with pytest.raises(ModelFormatError, match="expected the official dual models"):
        convert_official(e["primal_state_dict"], dual=[e["primal_state_dict"]])
