import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from edgesr.errors import ConfigError
from edgesr.models import load_model
from edgesr.training import TrainConfig, train

COMMON = dict(model="edge_tiny", scale=2, batch=4, patch=16, lr=1e-3, progress=False,
              model_kwargs={"n_feats": 8, "n_blocks": 2}, ckpt_every=3)


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_training_reduces_loss_and_validates(tmp_path, image_folder):
    out = train(TrainConfig(data=(str(image_folder),), out=str(tmp_path / "r"), steps=40, val_data=str(image_folder),
                            val_every=40, **COMMON))
    recs = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    first, last = sum(r["loss"] for r in recs[:5]) / 5, sum(r["loss"] for r in recs[-5:]) / 5
    assert last < first
    assert "val_psnr" in recs[-1] and (tmp_path / "r" / "best.pt").is_file()
    assert load_model(out).scale == 2


def _cli(image_folder, out, steps):
    # constant LR: the schedule must not depend on --steps, since the killed run has no end
    return [sys.executable, "-m", "edgesr", "train", "--model", "edge_tiny", "--scale", "2", "--data", str(image_folder),
            "--steps", str(steps), "--batch", "4", "--patch", "16", "--lr", "1e-3", "--schedule", "constant",
            "--ckpt-every", "2", "--threads", "1", "--out", str(out), "--model-kwargs", '{"n_feats": 8, "n_blocks": 2}',
            "--no-progress"]


def test_killed_run_resumes_exactly(tmp_path, image_folder):
    """SIGKILL mid-run (no chance to clean up), --resume, and end with the weights of an uninterrupted run."""
    out = tmp_path / "k"
    p = subprocess.Popen(_cli(image_folder, out, 10**6), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    killed_at = torch.load(out / "last.pt", weights_only=True)["step"]
    assert killed_at >= 2
    steps = killed_at + 10
    subprocess.run(_cli(image_folder, out, steps) + ["--resume"], check=True, capture_output=True)
    subprocess.run(_cli(image_folder, tmp_path / "ref", steps), check=True, capture_output=True)
    a, b = _weights(out / "last.pt"), _weights(tmp_path / "ref" / "last.pt")
    assert torch.load(out / "last.pt", weights_only=True)["step"] == steps
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert not list(out.glob(".*tmp"))  # atomic writes leave no temp files behind


def test_unpaired_and_lambda_zero(tmp_path, image_folder):
    train(TrainConfig(data=(str(image_folder),), unpaired=(str(image_folder),), out=str(tmp_path / "u"), steps=4,
                      **COMMON))
    recs = [json.loads(line) for line in (tmp_path / "u" / "log.jsonl").read_text().splitlines()]
    assert recs[1]["primal"] == 0 and recs[1]["dual"] > 0  # odd steps are unpaired batches
    train(TrainConfig(data=(str(image_folder),), out=str(tmp_path / "z"), steps=2, **{**COMMON, "ckpt_every": 1},
                      dual_weight=0.0))
    with pytest.raises(ConfigError, match="no training data"):
        TrainConfig(out=str(tmp_path))
    with pytest.raises(ConfigError, match="dual_weight"):
        TrainConfig(unpaired=("x",), dual_weight=0)


def test_ddp_two_cpu_processes_keep_replicas_identical(tmp_path, image_folder):
    script = tmp_path / "ddp.py"
    script.write_text(
        "import os, sys, torch, torch.distributed as dist\n"
        "import edgesr.training.loop as T\n"
        "seen = {}\n"
        "orig = T.TrainStep.__init__\n"
        "def init(self, model, *a, **k):\n"
        "    orig(self, model, *a, **k); seen['m'] = model\n"
        "T.TrainStep.__init__ = init\n"
        "T.train(T.TrainConfig(model='edge_tiny', scale=2, data=(sys.argv[2],), out=sys.argv[1], steps=4, batch=2,"
        " patch=16, progress=False, model_kwargs={'n_feats': 8, 'n_blocks': 2}))\n"
        "torch.save(seen['m'].state_dict(), os.path.join(sys.argv[1], f'rank{dist.get_rank()}.pt'))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
                        str(script), str(tmp_path / "d"), str(image_folder)], env=env, capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    a = torch.load(tmp_path / "d" / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "d" / "rank1.pt", weights_only=True)
    init = torch.load(tmp_path / "d" / "model.pt", weights_only=True)["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert all(torch.equal(a[k], init[k]) for k in a)  # model.pt holds rank 0's final weights


def test_warm_start_across_scales(tmp_path):
    from edgesr.models import create_model, save_model
    from edgesr.training import warm_start

    x2 = create_model("edge_tiny", scale=2)
    p = save_model(x2, tmp_path / "x2.pt")
    x4 = create_model("edge_tiny", scale=4)
    n = warm_start(x4, p)
    assert torch.equal(x4.blocks[0].conv1.weight, x2.blocks[0].conv1.weight)
    assert not torch.equal(x4.tail.weight[:12], x2.tail.weight) and n > 0
    with pytest.raises(ConfigError, match="no tensor matches"):
        warm_start(create_model("drn_s", scale=4, n_feats=4, n_blocks=1), p)


def test_warm_start_widens_tiny_into_base_near_function_preserving(tmp_path):
    """tiny -> base at the same scale starts from (almost) the tiny model's function."""
    from edgesr.models import create_model, save_model
    from edgesr.training import warm_start

    torch.manual_seed(0)
    tiny = create_model("edge_tiny", scale=2)
    with torch.no_grad():  # make the source non-trivial: the anchor alone would hide a broken copy
        for p in tiny.parameters():
            p.mul_(3.0)
    src = save_model(tiny, tmp_path / "tiny.pt")
    base = create_model("edge_base", scale=2)
    fresh = {k: v.clone() for k, v in base.state_dict().items()}
    n = warm_start(base, src)
    assert n == len(tiny.state_dict())
    assert torch.equal(base.head.weight[:16], tiny.head.weight)
    assert torch.equal(base.blocks[1].conv2.weight[:16, :16], tiny.blocks[1].conv2.weight)
    assert torch.allclose(base.blocks[5].conv2.weight, fresh["blocks.5.conv2.weight"] * 1e-2)  # new block ~ identity
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        a, b, r = tiny(x), base(x), create_model("edge_base", scale=2)(x)
    err = (a - b).abs().max().item()
    assert err < 0.02 * (a - r).abs().max().item()  # far closer to tiny than a random base is


def test_worker_processes_load_the_same_batches_and_resume_exactly(tmp_path, image_folder):
    """workers=2 plans ahead of the step; the checkpoint still stores the generator of the consumed batch."""
    cfg = dict(COMMON, data=(str(image_folder),), unpaired=(str(image_folder),), schedule="constant")
    train(TrainConfig(out=str(tmp_path / "ref"), steps=6, **cfg))
    train(TrainConfig(out=str(tmp_path / "w"), steps=3, workers=2, **cfg))
    train(TrainConfig(out=str(tmp_path / "w"), steps=6, workers=1, **cfg), resume=True)
    a, b = (torch.load(tmp_path / d / "last.pt", weights_only=True) for d in ("ref", "w"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert torch.equal(a["gen"][0], b["gen"][0]) and (a["epoch"], a["pos"]) == (b["epoch"], b["pos"])
    logs = [[json.loads(line)["loss"] for line in (tmp_path / d / "log.jsonl").read_text().splitlines()]
            for d in ("ref", "w")]
    assert logs[0] == logs[1]
    assert "workers" not in (tmp_path / "w" / "config_changes.jsonl").read_text()  # how, not what, it trains


def test_new_options_on_the_command_line_and_unknown_keys():
    import argparse

    from edgesr.cli.train import add_arguments, explicit_settings
    from edgesr.training import config_from_dict

    p = argparse.ArgumentParser()
    add_arguments(p)
    a = p.parse_args(["--data", "d", "--ema", "0.999", "--precision", "bf16", "--channels-last", "--teacher",
                      "edge_base_x2", "--teacher-weight", "0.5", "--distill", "feature", "--workers", "2"])
    got = explicit_settings(a)
    assert {k: got[k] for k in ("ema", "precision", "channels_last", "teacher", "teacher_weight", "distill",
                                "workers")} == {"ema": 0.999, "precision": "bf16", "channels_last": True,
                                                "teacher": "edge_base_x2", "teacher_weight": 0.5,
                                                "distill": "feature", "workers": 2}
    assert "channels_last" not in explicit_settings(p.parse_args(["--data", "d"]))  # absent unless given
    with pytest.raises(ConfigError, match="did you mean 'ema'"):
        config_from_dict({"data": ["d"], "emaa": 0.9})
    with pytest.raises(ConfigError, match="distill must be one of"):
        TrainConfig(data=("d",), distill="logits")
    with pytest.raises(ConfigError, match="workers"):
        TrainConfig(data=("d",), workers=-1)
