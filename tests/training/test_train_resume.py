"""Resume restores the run (settings, schedule, records); SIGTERM and broken state files are messages."""
import json
import logging
import math
import signal
import subprocess
import sys
import time

import pytest
import torch

import edgesr.training.loop as T
from edgesr.cli import main
from edgesr.training import TrainConfig, TrainingInterrupted, train

SETTINGS = dict(model="edge_tiny", scale=2, batch=4, patch=16, lr=1e-3, schedule="constant", dual_weight=0.2, seed=3,
                model_kwargs={"n_feats": 8, "n_blocks": 2}, ckpt_every=2, progress=False)


def _steps(out):
    return [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]


def _state(out):
    return torch.load(out / "last.pt", weights_only=True)


def test_resume_keeps_saved_settings_and_records_overrides(tmp_path, image_folder, caplog):
    out = tmp_path / "r"
    train(TrainConfig(data=(str(image_folder),), out=str(out), steps=4, **SETTINGS))
    original = (out / "config.json").read_bytes()
    with caplog.at_level(logging.WARNING, logger="edgesr"):
        train(resume=True, out=str(out), steps=6, progress=False)  # nothing else given: the saved run's settings
    cfg = _state(out)["config"]
    assert {k: cfg[k] for k in SETTINGS if k != "progress"} == {k: v for k, v in SETTINGS.items() if k != "progress"}
    assert cfg["data"] == [str(image_folder)] and cfg["steps"] == 6 and _state(out)["step"] == 6
    assert "resume: steps 4 -> 6 (from the train() arguments)" in caplog.text
    assert (out / "config.json").read_bytes() == original  # the run's original settings stay
    change = [json.loads(line) for line in (out / "config_changes.jsonl").read_text().splitlines()]
    assert len(change) == 1 and change[0]["step"] == 4 and change[0]["changes"] == {"steps": [4, 6]}
    train(resume=True, out=str(out), progress=False)  # same settings again: no new change record
    assert len((out / "config_changes.jsonl").read_text().splitlines()) == 1


def test_a_run_saved_before_the_new_options_resumes_with_their_defaults(tmp_path, image_folder, caplog):
    """last.pt / config.json written before ema, precision, teacher... existed: fp32, no EMA, nothing reported."""
    out = tmp_path / "old"
    train(TrainConfig(data=(str(image_folder),), out=str(out), steps=2, **SETTINGS))
    new = {"ema", "precision", "channels_last", "teacher", "teacher_weight", "distill", "workers"}
    st = _state(out)
    st["config"] = {k: v for k, v in st["config"].items() if k not in new}
    torch.save(st, out / "last.pt")
    with caplog.at_level(logging.WARNING, logger="edgesr"):
        train(resume=True, out=str(out), steps=4, progress=False)
    assert "resume: steps 2 -> 4" in caplog.text and caplog.text.count("resume:") == 1
    cfg = _state(out)["config"]
    assert (cfg["ema"], cfg["precision"], cfg["teacher"], cfg["workers"]) == (0.0, "fp32", None, 0)
    assert "ema" not in _state(out)


def test_resume_drops_log_records_after_the_checkpoint(tmp_path, image_folder):
    out = tmp_path / "l"
    train(TrainConfig(data=(str(image_folder),), out=str(out), steps=4, **SETTINGS))
    with open(out / "log.jsonl", "a") as f:  # what a run killed after its last checkpoint leaves behind
        f.write("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (5, 6)) + '{"step": 7, "lo')
    train(TrainConfig(data=(str(image_folder),), out=str(out), steps=7, **SETTINGS), resume=True)
    assert _steps(out) == list(range(1, 8))


def test_resume_with_more_steps_follows_the_new_cosine_schedule(tmp_path, image_folder):
    out = tmp_path / "c"
    cosine = {**SETTINGS, "schedule": "cosine"}
    train(TrainConfig(data=(str(image_folder),), out=str(out), steps=3, **cosine))
    train(TrainConfig(data=(str(image_folder),), out=str(out), steps=6, **cosine), resume=True)
    lrs = [json.loads(line)["lr"] for line in (out / "log.jsonl").read_text().splitlines()]
    lr, eta = SETTINGS["lr"], SETTINGS["lr"] * 1e-2
    want = [eta + (lr - eta) * (1 + math.cos(math.pi * s / 6)) / 2 for s in range(4, 7)]
    assert lrs[3:] == pytest.approx(want, rel=1e-6)  # annealed to eta_min at step 6, not back up with T_max=3


def _cli(image_folder, out, *extra):
    return ["train", "--data", str(image_folder), "--out", str(out), "--batch", "4", "--patch", "16", "--lr", "1e-3",
            "--schedule", "constant", "--ckpt-every", "2", "--seed", "5", "--model-kwargs",
            '{"n_feats": 8, "n_blocks": 2}', "--no-progress", *extra]


def test_cli_resume_takes_the_saved_settings(tmp_path, image_folder, caplog, capsys):
    out = tmp_path / "cli"
    assert main(_cli(image_folder, out, "--steps", "2")) == 0
    with caplog.at_level(logging.WARNING, logger="edgesr"):
        assert main(["train", "--resume", "--out", str(out), "--steps", "4", "--no-progress"]) == 0
    cfg = _state(out)["config"]
    assert (cfg["batch"], cfg["patch"], cfg["lr"], cfg["seed"], cfg["steps"]) == (4, 16, 1e-3, 5, 4)
    assert "resume: steps 2 -> 4 (from the command line)" in caplog.text
    assert "batch" not in caplog.text  # only what the user changed is reported


class _Evil:
    def __reduce__(self):
        return (print, ("code executed",))


def _truncated(p, image_folder, tmp_path):
    train(TrainConfig(data=(str(image_folder),), out=str(tmp_path / "src"), steps=2, **SETTINGS))
    p.write_bytes((tmp_path / "src" / "last.pt").read_bytes()[:300])


BROKEN = {
    "truncated": (_truncated, "not a readable training state"),
    "plain state dict": (lambda p, *_: torch.save({"weight": torch.zeros(1)}, p), "another kind"),
    "edgesr model": (lambda p, *_: T.save_model(T.create_model("edge_tiny", 2), p), "an edgesr model file"),
    "pickled class": (lambda p, *_: torch.save({"step": 1, "x": _Evil()}, p), "holds code"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_resume_with_a_broken_last_pt_is_a_one_line_error(kind, tmp_path, image_folder, capsys):
    out = tmp_path / "b"
    out.mkdir()
    make, expected = BROKEN[kind]
    make(out / "last.pt", image_folder, tmp_path)
    capsys.readouterr()
    assert main(_cli(image_folder, out, "--steps", "4", "--resume")) == 2
    cap = capsys.readouterr()
    err = cap.err.strip()
    assert "code executed" not in cap.out  # a pickle in last.pt is never executed
    assert err.startswith("edgesr train: error: ") and "\n" not in err and "Traceback" not in err
    assert str(out / "last.pt") in err and expected in err and "without --resume" in err
    assert "weights_only" not in err and not (out / "model.pt").exists()


def test_sigterm_checkpoints_and_raises_without_model_pt(tmp_path, image_folder, monkeypatch):
    orig = T._step

    def step_then_sigterm(parts, streams, rs, device):
        r = orig(parts, streams, rs, device)
        if rs.step == 3:
            signal.raise_signal(signal.SIGTERM)  # handled: sets the flag, the step in progress finishes
        return r

    monkeypatch.setattr(T, "_step", step_then_sigterm)
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "t"
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train(TrainConfig(data=(str(image_folder),), out=str(out), steps=50, **SETTINGS))
    assert _state(out)["step"] == 3 and not (out / "model.pt").exists()
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is restored


def test_cli_sigterm_exits_143_without_model_pt(tmp_path, image_folder):
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "edgesr", *_cli(image_folder, out, "--steps", str(10**6), "--threads", "1")]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err[-1500:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("edgesr train: stopped by SIGTERM") and "--resume" in last  # a stop, not an error
    assert "last.pt" in last and "error" not in last
    assert "Traceback" not in err and not (out / "model.pt").exists()
    assert _state(out)["step"] == _steps(out)[-1]  # checkpointed at the step it stopped


def test_ctrl_c_mid_step_stops_between_steps_and_resumes_exactly(tmp_path, image_folder, monkeypatch):
    """A Ctrl-C that lands after the batch is drawn (before the optimizer step) used to checkpoint the
    next batch's sampler state with this step's count, so --resume skipped a batch."""
    cfg = dict(data=(str(image_folder),), **{**SETTINGS, "ckpt_every": 100})
    ref = tmp_path / "ref"
    train(TrainConfig(out=str(ref), steps=6, **cfg))
    orig = T.level_targets
    calls = {"n": 0}

    def ctrl_c_mid_step(batch):
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(signal.SIGINT)  # the batch of step 3 is already drawn
        return orig(batch)

    monkeypatch.setattr(T, "level_targets", ctrl_c_mid_step)
    before = signal.getsignal(signal.SIGINT)
    out = tmp_path / "i"
    with pytest.raises(TrainingInterrupted, match="stopped by SIGINT at step 3/6") as e:
        train(TrainConfig(out=str(out), steps=6, **cfg))
    assert e.value.exit_code == 130 and _state(out)["step"] == 3 and not (out / "model.pt").exists()
    assert signal.getsignal(signal.SIGINT) == before
    monkeypatch.setattr(T, "level_targets", orig)
    train(resume=True, out=str(out), progress=False)
    a, b = _state(ref)["model"], _state(out)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
