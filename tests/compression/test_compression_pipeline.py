"""compress() and ``edgesr compress``: stages, resume/reuse, report, errors."""
from __future__ import annotations

import json

import pytest
import torch

import edgesr
from edgesr.compression import CompressConfig, FinetuneConfig, PruneConfig, SearchConfig, compress
from edgesr.errors import ConfigError
from edgesr.models import count_flops, count_params

TINY_CFG = CompressConfig(search=SearchConfig(steps=2, batch=2, patch=12, progress=False),
                          prune=PruneConfig(batches=1, batch=2, patch=12, reopt_steps=1, progress=False),
                          finetune=FinetuneConfig(steps=2, batch=2, patch=12, ckpt_every=1),
                          report_hw=(32, 32), latency_hw=(16, 16), latency_runs=2)


def _model(tmp_path):
    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=16, n_blocks=2)
    return edgesr.save_model(m, tmp_path / "full.pt"), m


def test_compress_end_to_end_report(tmp_path, image_folder):
    src, m = _model(tmp_path)
    rep = compress(src, 0.3, [image_folder], tmp_path / "small.pt", config=TINY_CFG)
    small = edgesr.load_model(tmp_path / "small.pt")
    assert rep.stages_run == ["search", "prune", "finetune"]
    assert rep.after.params == count_params(small) and rep.before.params == count_params(m)
    assert rep.after.flops == count_flops(small, (32, 32)) <= 0.7 * rep.before.flops
    assert rep.after.latency_ms is not None and rep.before.latency_ms is not None
    assert list(small.config.channels) == rep.channels and all(c % 4 == 0 for c in rep.channels)
    assert "params" in rep.table() and json.loads((tmp_path / "small_drc" / "report.json").read_text())
    # a second call reuses every finished stage (the fine-tune continues at its last step: no new steps);
    # the existing output is replaced only when asked
    with pytest.raises(ConfigError, match="already exists.*overwrite=True"):
        compress(src, 0.3, [image_folder], tmp_path / "small.pt", config=TINY_CFG, latency=False)
    rep2 = compress(src, 0.3, [image_folder], tmp_path / "small.pt", config=TINY_CFG, latency=False, overwrite=True)
    assert rep2.stages_run == ["finetune"] and rep2.channels == rep.channels


def test_stages_one_by_one_via_cli(tmp_path, image_folder):
    from edgesr.cli import main

    src, _ = _model(tmp_path)
    out = tmp_path / "cli.pt"
    common = [str(src), "--ratio", "0.3", "--data", str(image_folder), "-o", str(out), "--search-steps", "2",
              "--prune-batches", "1", "--prune-patch", "12", "--reopt-steps", "1", "--finetune-steps", "2", "--batch", "2", "--patch", "12",
              "--report-size", "32x32", "--latency-size", "16x16", "--no-progress"]
    assert main(["compress", *common, "--stage", "prune"]) == 2  # search has not run: an error, not a crash
    assert main(["compress", *common, "--stage", "search"]) == 0
    assert (tmp_path / "cli_drc" / "search" / "channels.json").is_file() and not out.exists()
    assert main(["compress", *common, "--stage", "prune"]) == 0
    assert (tmp_path / "cli_drc" / "prune" / "pruned.pt").is_file()
    assert main(["compress", *common, "--stage", "finetune", "--no-latency", "--json", str(tmp_path / "r.json")]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["after"]["params"] == count_params(edgesr.load_model(out))


def test_compress_errors_name_the_fix(tmp_path, image_folder):
    src, _ = _model(tmp_path)
    with pytest.raises(ConfigError, match="stage"):
        compress(src, 0.3, [image_folder], tmp_path / "x.pt", stage="quantize")
    with pytest.raises(edgesr.EdgeSRError, match="--data"):
        compress(src, 0.3, [], tmp_path / "x.pt")


def test_public_name():
    assert edgesr.compress is compress


def test_cli_selection_and_mode_options_reach_the_configs():
    import argparse

    from edgesr.cli.compress import _prune_config, add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    base = ["m.pt", "--data", "d", "-o", "o.pt"]
    a = p.parse_args(base)
    cfg = _prune_config(a, progress=False)
    assert cfg == PruneConfig(select="drc_omp", progress=False) and a.search_mode == "official"
    a = p.parse_args(base + ["--select", "l1", "--prune-mode", "legacy", "--prune-batches", "3",
                             "--feat-weight", "7", "--prune-patch", "20"])
    cfg = _prune_config(a, progress=False)
    assert (cfg.select, cfg.batches, cfg.feat_weight, cfg.patch, cfg.fresh, cfg.reopt_optim) == \
        ("l1", 3, 7.0, 20, False, "adam")
    a = p.parse_args(base + ["--select", "drc", "--fixed-prune-batches", "--reopt-lr", "0.1"])
    cfg = _prune_config(a, progress=False)
    assert (cfg.fresh, cfg.reopt_lr, cfg.feat_weight, cfg.reopt_optim) == (False, 0.1, 255.0, "sgd")
    with pytest.raises(SystemExit):
        p.parse_args(base + ["--select", "thinet"])


def test_given_channels_skip_the_search(tmp_path, image_folder, capsys):
    from edgesr.cli import main

    src, _ = _model(tmp_path)
    out = tmp_path / "given.pt"
    common = [str(src), "--data", str(image_folder), "-o", str(out), "--select", "l1", "--finetune-steps", "2",
              "--batch", "2", "--patch", "12", "--report-size", "32x32", "--no-latency", "--no-progress"]
    assert main(["compress", *common, "--channels", "8,12"]) == 0
    assert list(edgesr.load_model(out).config.channels) == [8, 12]
    assert not (tmp_path / "given_drc" / "search" / "last.pt").exists()  # no search ran
    saved = json.loads((tmp_path / "given_drc" / "search" / "channels.json").read_text())
    assert saved == {"channels": [8, 12], "source": "given"}
    common.append("--overwrite")  # given.pt exists now: the calls below are about --channels
    # the channels.json of a run is accepted as the value; other widths in the same work dir are refused
    other = [*common[:4], str(tmp_path / "again.pt"), *common[5:], "--work-dir", str(tmp_path / "w2")]
    assert main(["compress", *other, "--channels", str(tmp_path / "given_drc" / "search" / "channels.json")]) == 0
    capsys.readouterr()
    assert main(["compress", *common, "--channels", "4,4"]) == 2
    assert "holds other channels" in capsys.readouterr().err
    assert main(["compress", *common, "--channels", "8"]) == 2
    err = capsys.readouterr().err
    assert "has 1 widths but" in err and "one width per layer" in err
    assert main(["compress", *common, "--channels", "8,99"]) == 2
    assert "outside 1..16" in capsys.readouterr().err
    assert main(["compress", *common, "--channels", "8,x"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err
