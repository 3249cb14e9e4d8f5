"""edgesr adapt: frames of a clip / folder / live source -> dual-loss fine-tune -> before/after report."""
from __future__ import annotations

import json
import logging
import math
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

import edgesr
import edgesr.adaptation.frames as AF
import edgesr.training.loop as T
from conftest import tiny_model
from edgesr.adaptation import AdaptConfig, adapt, fit_dual, held_out
from edgesr.adaptation.frames import collect_frames, evenly_spaced
from edgesr.adaptation.metrics import blockiness, frame_metrics
from edgesr.video.sources import PacedSource
from edgesr.cli import main
from edgesr.errors import ConfigError, DataError
from edgesr.models import load_model, save_model

FAST = dict(batch=4, patch=16, lr=1e-3, max_frames=10, ckpt_every=2, progress=False)


def _crops(photo: np.ndarray, n: int, w: int = 96, h: int = 64) -> list[np.ndarray]:
    """A slow pan over the astronaut photo: real image content, frame to frame motion."""
    return [np.ascontiguousarray(photo[100 + 4 * i:100 + 4 * i + h, 150 + 6 * i:150 + 6 * i + w]) for i in range(n)]


@pytest.fixture
def clip(tmp_path: Path, photo: np.ndarray) -> Path:
    """20 frames of photo crops as H.264 (CRF 30: real compression artefacts), alone in its folder."""
    path = tmp_path / "src" / "clip.mp4"
    path.parent.mkdir()
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "30"})
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        for i, img in enumerate(_crops(photo, 20)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
    return path


def _folder(path: Path, images: list[np.ndarray]) -> Path:
    path.mkdir()
    for i, img in enumerate(images):
        cv2.imwrite(str(path / f"f{i:02d}.png"), img[..., ::-1])
    return path


@pytest.fixture
def frame_folder(tmp_path: Path, photo: np.ndarray) -> Path:
    return _folder(tmp_path / "frames", [c[:, :64] for c in _crops(photo, 6)])


@pytest.fixture
def model_pt(tmp_path: Path) -> Path:
    """An untrained tiny x2 model with its (untrained) dual: adaptation must visibly fit D(P(x)) to x."""
    return save_model(tiny_model("edge", 2), tmp_path / "model.pt")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_video_source_end_to_end(tmp_path: Path, clip: Path, model_pt: Path) -> None:
    src_before = _snapshot(clip.parent)
    out = tmp_path / "o" / "adapted.pt"
    r = adapt(model_pt, clip, out, steps=20, **FAST)
    m = load_model(out)
    assert m.scale == 2 and m.meta["adapt"]["source"] == str(clip) and m.meta["adapt"]["config"]["steps"] == 20
    # evenly spaced over the 20 frames, every 5th of those held out
    picked = evenly_spaced(20, 10)
    assert picked == [0, 2, 4, 6, 8, 11, 13, 15, 17, 19]
    work = out.with_name("adapted.pt.work") / "frames"
    assert sorted(p.name for p in (work / "holdout").iterdir()) == ["000008.png", "000019.png"]
    assert sorted(p.name for p in (work / "train").iterdir()) == [f"{i:06d}.png" for i in picked if i not in (8, 19)]
    assert (r.frames_train, r.frames_holdout, r.frame_size) == (8, 2, (96, 64))
    rep = json.loads(out.with_name("adapted.report.json").read_text())
    for split in ("train", "holdout"):
        for when in ("before", "after"):
            vals = rep[split][when]
            assert set(vals) == {"dual_psnr", "sharpness", "gradient", "blockiness", "frames"}
            assert all(math.isfinite(v) for v in vals.values())
    # an untrained dual reconstructs x badly; 20 steps of the dual loss make D(P(x)) ~ x
    assert r.train.after.dual_psnr > r.train.before.dual_psnr + 3
    assert r.holdout is not None and r.holdout.after.dual_psnr > r.holdout.before.dual_psnr + 3
    assert r.dual_loss is not None and r.dual_loss[1] < 0.7 * r.dual_loss[0]
    assert "dual PSNR" in r.table() and "held-out frames" in r.table()
    assert _snapshot(clip.parent) == src_before  # nothing written beside or into the source


def test_folder_source_through_the_cli_with_paired_batches(tmp_path: Path, frame_folder: Path, model_pt: Path,
                                                           image_folder: Path, capsys: pytest.CaptureFixture) -> None:
    src_before = _snapshot(frame_folder)
    out = tmp_path / "cli.pt"
    assert main(["adapt", str(model_pt), "--frames", str(frame_folder), "-o", str(out), "--data", str(image_folder),
                 "--ratio", "2", "--steps", "6", "--batch", "4", "--patch", "16", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "dual PSNR" in printed and f"wrote {out}" in printed
    recs = [json.loads(line) for line in (tmp_path / "cli.pt.work" / "train" / "log.jsonl").read_text().splitlines()]
    assert [r["primal"] > 0 for r in recs] == [True, False, False, True, False, False]  # 2 frame batches per paired
    rep = json.loads((tmp_path / "cli.report.json").read_text())
    assert (rep["frames_train"], rep["frames_holdout"]) == (5, 1)
    assert _snapshot(frame_folder) == src_before


def test_resume_continues_exactly(tmp_path: Path, frame_folder: Path, model_pt: Path,
                                  monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    adapt(model_pt, frame_folder, tmp_path / "a.pt", steps=8, **FAST)
    checks = []

    def sigterm_after_step_4(self):  # what SIGTERM does: a flag, seen between two steps
        checks.append(1)
        self.received = self.received or len(checks) == 5
        return self.received

    monkeypatch.setattr(T._Signals, "stop", sigterm_after_step_4)
    with pytest.raises(T.TrainingInterrupted, match="step 4/8: .* continue with the same command plus --resume"):
        adapt(model_pt, frame_folder, tmp_path / "b.pt", steps=8, **FAST)  # the state is saved, no output written
    monkeypatch.undo()
    work = tmp_path / "b.pt.work"
    assert not (tmp_path / "b.pt").exists() and torch.load(work / "train" / "last.pt", weights_only=True)["step"] == 4
    frames_json = (work / "frames.json").read_bytes()
    with pytest.raises(ConfigError, match="work folder .* exists .* --resume .* --overwrite"):
        adapt(model_pt, frame_folder, tmp_path / "b.pt", steps=8, **FAST)
    with caplog.at_level(logging.INFO, logger="edgesr"):
        r = adapt(model_pt, frame_folder, tmp_path / "b.pt", steps=8, resume=True, **FAST)
    assert "resumed from" in caplog.text and "reusing the 6 frames" in caplog.text
    assert (work / "frames.json").read_bytes() == frames_json
    steps = [json.loads(line)["step"] for line in (work / "train" / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9)) and r.steps == 8
    a, b = load_model(tmp_path / "a.pt").state_dict(), load_model(tmp_path / "b.pt").state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # as if never stopped
    with pytest.raises(ConfigError, match="already exists"):  # the finished output is kept
        adapt(model_pt, frame_folder, tmp_path / "b.pt", steps=8, resume=True, **FAST)


def test_live_source_capture(monkeypatch: pytest.MonkeyPatch, photo: np.ndarray, tmp_path: Path,
                             model_pt: Path) -> None:
    frames = [c[..., ::-1] for c in _crops(photo, 40)]  # sources give BGR
    # an endless camera (loop=True), so no count depends on how fast this machine reads it
    monkeypatch.setattr(AF, "open_source", lambda spec: PacedSource(frames, fps=40.0, loop=True))
    got = collect_frames("0", max_frames=4, duration=0.5, progress=False)
    idx = [i for i, _ in got]
    # frames are stamped when due (1/40 s apart): kept ones are >= 0.125 s = 5 frames apart, whatever the timing
    assert 1 <= len(got) <= 4 and all(b - a >= 5 for a, b in zip(idx, idx[1:]))
    assert np.array_equal(got[0][1], frames[idx[0] % 40][..., ::-1])  # RGB out
    monkeypatch.setattr(AF, "open_source", lambda spec: PacedSource(frames, fps=400.0, loop=True))
    assert len(collect_frames("0", max_frames=5, progress=False)) == 5  # no duration: the next 5
    monkeypatch.setattr(AF, "open_source", lambda spec: PacedSource(frames[:3], fps=50.0))
    ended = collect_frames("0", max_frames=10, progress=False)  # the stream ended: what arrived, the last included
    assert 1 <= len(ended) <= 3 and ended[-1][0] == 2
    monkeypatch.setattr(AF, "open_source", lambda spec: PacedSource(frames[:10], fps=50.0, loop=True))
    r = adapt(model_pt, "0", tmp_path / "cam.pt", steps=2, **FAST)
    assert r.source == "0" and r.frames_train + r.frames_holdout == FAST["max_frames"] and r.frames_holdout >= 1


def test_live_source_that_stops_delivering(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stuck:
        live, fps = True, None

        def read(self):
            time.sleep(1.0)
            return None

        def close(self):
            pass

    monkeypatch.setattr(AF, "open_source", lambda spec: Stuck())
    with pytest.raises(DataError, match="no frame from 0 for 0.2 s"):
        collect_frames("0", max_frames=4, timeout=0.2, progress=False)


def _no_output(tmp_path: Path, name: str) -> None:
    assert not (tmp_path / f"{name}.pt").exists() and not (tmp_path / f"{name}.pt.work").exists()


def test_bad_sources_are_clear_errors(tmp_path: Path, photo: np.ndarray, model_pt: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video" * 100)
    with pytest.raises(DataError, match="cannot open video .*broken.mp4"):
        adapt(model_pt, broken, tmp_path / "o1.pt", **FAST)
    _no_output(tmp_path, "o1")
    with pytest.raises(DataError, match="frames source not found: .*nope.mp4"):
        adapt(model_pt, tmp_path / "nope.mp4", tmp_path / "o2.pt", **FAST)
    few = _folder(tmp_path / "few", _crops(photo, 3))
    with pytest.raises(DataError, match=r"too few frames: 3 usable .*\(3 for training, 0 held out\).*--holdout 0"):
        adapt(model_pt, few, tmp_path / "o3.pt", **FAST)
    _no_output(tmp_path, "o3")
    one = _folder(tmp_path / "one", _crops(photo, 1))
    with pytest.raises(DataError, match=r"too few frames: 1 usable"):
        adapt(model_pt, one, tmp_path / "o4.pt", holdout=0, **FAST)
    small = _folder(tmp_path / "small", [c[:12, :20] for c in _crops(photo, 6)])
    with pytest.raises(DataError, match=r"frames of .*small are 20x12, smaller than the LR patch 16; pass --patch 12"):
        adapt(model_pt, small, tmp_path / "o5.pt", **FAST)
    _no_output(tmp_path, "o5")
    bad = _folder(tmp_path / "bad", _crops(photo, 6))
    (bad / "f03.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read image .*f03.png"):
        adapt(model_pt, bad, tmp_path / "o6.pt", **FAST)
    assert main(["adapt", str(model_pt), "--frames", "97", "-o", str(tmp_path / "o7.pt"), "--no-progress"]) == 2
    assert "cannot open camera source '97'" in capsys.readouterr().err
    _no_output(tmp_path, "o7")
    for folder in (few, one, small, bad):  # sources stay as they were
        assert not any(p.suffix != ".png" for p in folder.iterdir())


def test_nothing_the_user_had_is_overwritten(tmp_path: Path, clip: Path, frame_folder: Path, model_pt: Path) -> None:
    taken = tmp_path / "taken.pt"
    taken.write_bytes(b"mine")
    with pytest.raises(ConfigError, match="already exists; pass --overwrite"):
        adapt(model_pt, frame_folder, taken, **FAST)
    assert taken.read_bytes() == b"mine"
    with pytest.raises(ConfigError, match="inside or over the source"):
        adapt(model_pt, frame_folder, frame_folder / "adapted.pt", **FAST)
    with pytest.raises(ConfigError, match="inside or over the source"):
        adapt(model_pt, clip, clip, overwrite=True, **FAST)
    (tmp_path / "stranger.pt.work").mkdir()
    (tmp_path / "stranger.pt.work" / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="not made by edgesr adapt"):
        adapt(model_pt, frame_folder, tmp_path / "stranger.pt", overwrite=True, **FAST)
    assert (tmp_path / "stranger.pt.work" / "notes.txt").read_text() == "keep"
    with pytest.raises(ConfigError, match="unknown adapt key 'step'; did you mean 'steps'"):
        adapt(model_pt, frame_folder, tmp_path / "x.pt", step=3)


def test_a_model_without_its_dual_gets_one_fitted_first(tmp_path: Path, frame_folder: Path) -> None:
    m = tiny_model("edge", 2)
    no_dual = save_model(m, tmp_path / "nodual.pt", include_dual=False)
    cfg = AdaptConfig(dual_steps=20, batch=4, patch=16, progress=False)
    frames = sorted(frame_folder.iterdir())
    random_dual = load_model(no_dual)
    before = frame_metrics(random_dual, frames, progress=False)
    fit_dual(random_dual, frame_folder, cfg)
    after = frame_metrics(random_dual, frames, progress=False)
    assert after.dual_psnr > before.dual_psnr + 3
    for k, v in load_model(no_dual).state_dict().items():  # the primal is left alone
        if not k.startswith("dual."):
            assert torch.equal(v, random_dual.state_dict()[k]), k
    r = adapt(no_dual, frame_folder, tmp_path / "nd.pt", steps=2, dual_steps=20, **{**FAST, "lr": 1e-4})
    assert load_model(tmp_path / "nd.pt").meta["adapt_dual_fit"]["steps"] == 20
    assert r.train.before.dual_psnr > before.dual_psnr + 3  # "before" is measured with the fitted dual


def test_helpers() -> None:
    assert evenly_spaced(5, 10) == [0, 1, 2, 3, 4] and evenly_spaced(100, 3) == [0, 50, 99]
    assert [i for i, h in enumerate(held_out(12, 0.2)) if h] == [4, 9]
    assert not any(held_out(7, 0.0))
    flat = np.full((32, 32), 100.0)
    assert blockiness(flat) == 1.0
    blocks = np.kron(np.arange(16).reshape(4, 4) * 10.0, np.ones((8, 8))) + np.random.default_rng(0).normal(0, 1, (32, 32))
    assert blockiness(blocks) > 5  # 8x8 steps stand out
    smooth = cv2.GaussianBlur(np.random.default_rng(1).normal(100, 20, (64, 64)), (0, 0), 2)
    assert 0.8 < blockiness(smooth) < 1.2
    for bad in (dict(steps=0), dict(holdout=1.0), dict(ratio=0), dict(dual_weight=0), dict(max_frames=1),
                dict(duration=-1.0), dict(dual_steps=-1)):
        with pytest.raises(ConfigError):
            AdaptConfig(**bad)
    assert edgesr.AdaptConfig is AdaptConfig and edgesr.adapt is adapt  # the function, never the module
