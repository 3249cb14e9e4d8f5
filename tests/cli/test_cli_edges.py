"""Nothing lost at the edges (issue 26): every output destination is checked before any work starts
(writable, folder creatable, extension of the right kind), one overwrite rule for every writer (CLI and
Python), options validated at start, bundled model names everywhere, the CLI's image path keeps bit depth,
alpha and grayscale, and no internal exception text reaches a user-facing line.

Real small images (photo crops), real clips and tiny models; no timing assertions."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesr.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))  # --import-mode=importlib: helpers
from video_testlib import make_clip, one_torch_thread, probe  # noqa: E402,F401  (autouse fixture)
from conftest import tiny_model  # noqa: E402

TRAIN = ["--steps", "2", "--batch", "2", "--patch", "12", "--no-progress", "--model-kwargs",
         '{"n_feats": 8, "n_blocks": 1}', "--ckpt-every", "1"]


@pytest.fixture
def crops(tmp_path: Path, small_photo: np.ndarray) -> Path:
    """Three real-photo crops (PNG) in their own folder."""
    d = tmp_path / "crops"
    d.mkdir()
    for i in range(3):
        cv2.imwrite(str(d / f"c{i}.png"), small_photo[8 * i:8 * i + 48, 10 * i:10 * i + 64, ::-1])
    return d


def one_line_error(capsys: pytest.CaptureFixture[str], cmd: str, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"edgesr {cmd}: error:"), err
    for w in words:
        assert w in err, err
    return err


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ------------------------------------------------------------------ 1. read-only destinations
_CHILD = """
import contextlib, io, json, logging, sys
logging.basicConfig(stream=sys.__stderr__)  # log lines stay out of the captured error lines
from edgesr.cli import main
res = {}
for name, argv in json.loads(sys.argv[1]).items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc, exc = main(argv), None
        except BaseException as e:
            rc, exc = None, f"{type(e).__name__}: {e}"
    res[name] = {"rc": rc, "err": err.getvalue(), "exc": exc}
print(json.dumps(res))
"""


def _run_readonly(ro: Path, cases: dict[str, list[str]]) -> dict[str, dict]:
    """Run the CLI cases in a child whose ``ro`` folder is really read-only: a read-only bind mount in a private
    mount namespace when running as root (root ignores permission bits), else the folder's mode 0555."""
    cmd = [sys.executable, "-c", _CHILD, json.dumps(cases)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if os.geteuid() == 0:
        mount = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'
        probe_ro = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", mount, str(ro), "true"],
                                  capture_output=True)
        if probe_ro.returncode != 0:
            pytest.skip("running as root without a way to make a read-only folder (unshare/mount refused)")
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", mount, str(ro), *cmd]
    else:
        ro.chmod(0o555)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    finally:
        ro.chmod(0o755)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def readonly(tmp_path_factory: pytest.TempPathFactory, cli_model_pt: Path) -> tuple[Path, dict[str, dict]]:
    from skimage import data

    base = tmp_path_factory.mktemp("ro")
    ro = base / "ro"
    ro.mkdir()
    imgs = base / "imgs"
    imgs.mkdir()
    photo = data.astronaut()
    for i in range(3):
        cv2.imwrite(str(imgs / f"i{i}.png"), photo[40 * i:40 * i + 48, 50 * i:50 * i + 64, ::-1])
    clip = make_clip(base / "in.mp4", frames=4, fps=25, audio=False, size=(32, 24))
    m = str(cli_model_pt)
    cases = {
        "upscale_image": ["upscale", str(imgs / "i0.png"), "-o", str(ro / "out.png"), "--model", m, "--no-progress"],
        "upscale_folder": ["upscale", str(imgs), "-o", str(ro / "outdir"), "--model", m, "--no-progress"],
        "upscale_video": ["upscale", str(clip), "-o", str(ro / "up.mp4"), "--model", m, "--no-progress",
                          "--preset", "ultrafast"],
        "train_out": ["train", "--data", str(imgs), "--out", str(ro / "run"), *TRAIN],
        "export_onnx": ["export", "onnx", m, "-o", str(ro / "m.onnx")],
    }
    return ro, _run_readonly(ro, cases)


@pytest.mark.parametrize("case", ["upscale_image", "upscale_folder", "upscale_video", "train_out", "export_onnx"])
def test_read_only_destination_is_one_line_before_any_work(readonly: tuple[Path, dict], case: str) -> None:
    ro, results = readonly
    r = results[case]
    assert r["exc"] is None, r["exc"]  # no traceback
    lines = r["err"].strip().splitlines()
    cmd = case.split("_")[0]
    assert r["rc"] == 2 and len(lines) == 1 and lines[0].startswith(f"edgesr {cmd}: error:"), r
    assert str(ro) in lines[0] and "cannot write" in lines[0] and ("read-only" in lines[0] or "ermission" in lines[0])
    assert files(ro) == []


# ------------------------------------------------------------------ 1. extension of the right kind
def test_wrong_output_extensions_are_refused_before_the_model_runs(crops: Path, cli_model_pt: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    img = str(crops / "c0.png")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["upscale", img, "-o", str(out / "x.txt"), "--model", str(cli_model_pt)]) == 2
    one_line_error(capsys, "upscale", "x.txt", ".txt", ".png")
    assert main(["upscale", img, "-o", str(out / "x.mp4"), "--model", str(cli_model_pt)]) == 2
    one_line_error(capsys, "upscale", "x.mp4", "image", ".png")
    clip = make_clip(tmp_path / "in.mp4", frames=3, fps=25, audio=False, size=(32, 24))
    assert main(["upscale", str(clip), "-o", str(out / "v.png"), "--model", str(cli_model_pt), "--no-progress"]) == 2
    one_line_error(capsys, "upscale", "v.png", "video", ".mp4")
    assert main(["export", "onnx", str(cli_model_pt), "-o", str(out / "m.pt")]) == 2
    one_line_error(capsys, "export", "m.pt", ".onnx")
    assert main(["train", "--data", str(crops), "--out", str(out / "model.pt"), *TRAIN]) == 2
    one_line_error(capsys, "train", "--out", "folder")
    assert main(["adapt", str(cli_model_pt), "--frames", str(crops), "-o", str(out / "a.onnx"), "--no-progress"]) == 2
    one_line_error(capsys, "adapt", "a.onnx", ".pt")
    assert files(out) == []


def test_the_extension_lists_match_the_readers_and_writers() -> None:
    from edgesr.data import IMAGE_EXTS
    from edgesr.overwrite import KINDS
    from edgesr.video.writer import FORMATS

    assert KINDS["image"][0] == IMAGE_EXTS and KINDS["video"][0] == tuple(FORMATS)


def test_eval_json_into_a_missing_folder_is_created_and_not_overwritten(crops: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    dst = tmp_path / "reports" / "x2" / "r.json"
    args = ["eval", "bicubic", "--scale", "2", "--data", str(crops), "--json", str(dst)]
    assert main(args) == 0
    assert json.loads(dst.read_text())["psnr"] > 0
    capsys.readouterr()
    dst.write_text("precious")
    assert main(args) == 2
    one_line_error(capsys, "eval", str(dst), "already exists", "--overwrite")
    assert dst.read_text() == "precious"
    assert main([*args, "--overwrite"]) == 0 and json.loads(dst.read_text())["psnr"] > 0
    assert main(["eval", "bicubic", "--scale", "2", "--data", str(crops), "--json", str(tmp_path / "r.txt")]) == 2
    one_line_error(capsys, "eval", "r.txt", ".json")


# ------------------------------------------------------------------ 2. one overwrite rule
def test_upscale_video_python_refuses_an_existing_output(tmp_path: Path) -> None:
    import edgesr
    from edgesr.errors import ConfigError
    from video_testlib import real_upscaler

    src = make_clip(tmp_path / "in.mp4", frames=4, fps=25, audio=False, size=(32, 24))
    dst = tmp_path / "up.mp4"
    dst.write_bytes(b"precious")
    with pytest.raises(ConfigError, match="already exists.*overwrite=True"):
        edgesr.upscale_video(src, dst, real_upscaler(2), preset="ultrafast", progress=False)
    assert dst.read_bytes() == b"precious"
    with pytest.raises(ConfigError, match=r"\.png.*video"):
        edgesr.upscale_video(src, tmp_path / "up.png", real_upscaler(2), preset="ultrafast", progress=False)
    r = edgesr.upscale_video(src, dst, real_upscaler(2), preset="ultrafast", progress=False, overwrite=True)
    assert r.frames == 4 and probe(dst).frames == 4


def test_export_onnx_refuses_an_existing_file(cli_model_pt: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from edgesr.errors import ConfigError
    from edgesr.export import export_onnx

    dst = tmp_path / "m.onnx"
    dst.write_bytes(b"precious")
    assert main(["export", "onnx", str(cli_model_pt), "-o", str(dst)]) == 2
    one_line_error(capsys, "export", str(dst), "already exists", "--overwrite")
    assert dst.read_bytes() == b"precious"
    with pytest.raises(ConfigError, match="already exists.*overwrite=True"):
        export_onnx(tiny_model("edge", 2), dst, verify=False)
    assert dst.read_bytes() == b"precious"
    assert main(["export", "onnx", str(cli_model_pt), "-o", str(dst), "--overwrite"]) == 0
    assert dst.read_bytes() != b"precious"


def test_train_out_of_an_existing_run_needs_resume_or_overwrite(crops: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import edgesr
    from edgesr.errors import ConfigError

    out = tmp_path / "run"
    args = ["train", "--data", str(crops), "--out", str(out), *TRAIN]
    assert main(args) == 0
    capsys.readouterr()
    before = (out / "model.pt").read_bytes()
    assert main(args) == 2
    one_line_error(capsys, "train", str(out), "--resume", "--overwrite")
    assert (out / "model.pt").read_bytes() == before
    with pytest.raises(ConfigError, match="--resume.*overwrite"):
        edgesr.train(data=(str(crops),), out=str(out), steps=1, batch=2, patch=12, progress=False)
    assert main([*args, "--steps", "3", "--resume"]) == 0  # a resume is not an overwrite
    assert main([*args, "--overwrite"]) == 0
    assert json.loads((out / "config.json").read_text())["steps"] == 2


def test_compress_refuses_an_existing_output_before_any_stage(cli_model_pt: Path, crops: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    dst = tmp_path / "small.pt"
    dst.write_bytes(b"precious")
    assert main(["compress", str(cli_model_pt), "--data", str(crops), "-o", str(dst), "--no-progress"]) == 2
    one_line_error(capsys, "compress", str(dst), "already exists", "--overwrite")
    assert dst.read_bytes() == b"precious" and not (tmp_path / "small_drc").exists()
    assert main(["compress", str(cli_model_pt), "--data", str(crops), "-o", str(tmp_path / "s.onnx")]) == 2
    one_line_error(capsys, "compress", "s.onnx", ".pt")


# ------------------------------------------------------------------ 3. options validated at start
def test_val_data_typo_fails_before_the_first_step(crops: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(crops), "--val-data", str(tmp_path / "Set55"), "--out", str(out), *TRAIN]) == 2
    one_line_error(capsys, "train", "--val-data", "Set55")
    assert not out.exists()  # no step was run, nothing written


def test_an_error_mid_run_names_the_checkpoint_and_the_resume_command(crops: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    val = tmp_path / "val"
    val.mkdir()
    (val / "broken.png").write_bytes(b"not a png")  # found at start (a folder of images), unreadable at step 2
    out = tmp_path / "run"
    args = ["train", "--data", str(crops), "--val-data", str(val), "--val-every", "2", "--out", str(out), *TRAIN]
    assert main([*args, "--steps", "4"]) == 2
    err = one_line_error(capsys, "train", "broken.png", str(out / "last.pt"), f"edgesr train --resume --out {out}")
    assert "step 2" in err and (out / "last.pt").is_file()


def test_crf_and_scale_are_checked_at_start(crops: Path, cli_model_pt: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=3, fps=25, audio=False, size=(32, 24))
    assert main(["upscale", str(clip), "-o", str(tmp_path / "up.mp4"), "--model", str(cli_model_pt), "--crf", "99"]) == 2
    one_line_error(capsys, "upscale", "--crf 99", "0", "51")
    assert not (tmp_path / "up.mp4").exists()
    assert main(["upscale", str(crops / "c0.png"), "-o", str(tmp_path / "x.png"), "--scale", "0"]) == 2
    err = one_line_error(capsys, "upscale", "--scale")
    assert "x0" not in err
    assert main(["eval", "bicubic", "--scale", "0", "--data", str(crops)]) == 2
    assert "x0" not in one_line_error(capsys, "eval", "--scale")


# ------------------------------------------------------------------ 4. bundled names everywhere
def test_export_and_compress_take_bundled_names(tmp_path: Path, crops: Path) -> None:
    from edgesr.export.onnx import read_metadata

    dst = tmp_path / "nano.onnx"
    assert main(["export", "onnx", "edge_nano_x2", "-o", str(dst)]) == 0
    assert read_metadata(dst)["edgesr.scale"] == "2"
    out = tmp_path / "small.pt"
    assert main(["compress", "edge_tiny_x2", "--data", str(crops), "-o", str(out), "--stage", "search",
                 "--search-steps", "1", "--patch", "12", "--no-progress", "--no-latency"]) == 0
    assert (tmp_path / "small_drc" / "search" / "channels.json").is_file()


def test_models_lists_paths_without_importing_torch_or_onnxruntime() -> None:
    from edgesr.hub import WEIGHTS, bundled_models

    code = ("import sys; from edgesr.cli import main; rc = main(['models']); "
            "print('HEAVY', sorted(m for m in ('torch', 'onnxruntime', 'tensorrt', 'av') if m in sys.modules)); "
            "sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "HEAVY []" in p.stdout, p.stdout.splitlines()[-1]
    for name in bundled_models():
        path = WEIGHTS / f"{name}.pt"
        assert str(path if path.is_file() else WEIGHTS / f"{name}.onnx") in p.stdout
    assert "edge_tiny" in p.stdout and "drn_s" in p.stdout


def test_models_size_table_matches_the_presets() -> None:
    """`edgesr models` reads its preset sizes from a table shipped with the package: it must match the code."""
    from edgesr.cli.models import live_preset_sizes, preset_sizes

    assert preset_sizes() == live_preset_sizes(fast=True)


# ------------------------------------------------------------------ 5. the CLI keeps what the image holds
def test_cli_keeps_16_bit_alpha_and_grayscale(small_photo: np.ndarray, cli_model_pt: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bgr = np.ascontiguousarray(small_photo[:40, :48, ::-1])
    cases = {
        "deep.png": bgr.astype(np.uint16) * 257 + 100,
        "alpha.png": np.dstack([bgr, np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (40, 1))]),
        "gray.png": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
    }
    for name, img in cases.items():
        cv2.imwrite(str(tmp_path / name), img)
        dst = tmp_path / f"x2_{name}"
        assert main(["upscale", str(tmp_path / name), "-o", str(dst), "--model", str(cli_model_pt)]) == 0
        out = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
        assert out.dtype == img.dtype and out.shape[:2] == (80, 96) and out.shape[2:] == img.shape[2:], name
    out = cv2.imread(str(tmp_path / "x2_deep.png"), cv2.IMREAD_UNCHANGED)
    assert len(np.unique(out[..., 0] % 257)) > 1  # real 16-bit values, not 8-bit ones scaled up
    alpha = cv2.imread(str(tmp_path / "x2_alpha.png"), cv2.IMREAD_UNCHANGED)[..., 3].astype(int)
    assert alpha[:, 0].mean() < 20 and alpha[:, -1].mean() > 235
    capsys.readouterr()
    assert main(["upscale", str(tmp_path / "deep.png"), "-o", str(tmp_path / "deep.jpg"), "--model", str(cli_model_pt)]) == 2
    one_line_error(capsys, "upscale", "16-bit", ".jpg", ".png")
    assert main(["upscale", str(tmp_path / "alpha.png"), "-o", str(tmp_path / "a.jpg"), "--model", str(cli_model_pt)]) == 2
    one_line_error(capsys, "upscale", "alpha", ".jpg", ".png")
    assert not (tmp_path / "deep.jpg").exists() and not (tmp_path / "a.jpg").exists()


def test_no_progress_is_honoured_for_folders(crops: Path, cli_model_pt: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upscale", str(crops), "-o", str(tmp_path / "out"), "--model", str(cli_model_pt), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "img/s" not in err and "it/s" not in err and "%|" not in err, err
    assert len(list((tmp_path / "out").iterdir())) == 3


@pytest.mark.parametrize("content", [b".", b"hello world\n"], ids=["pop-from-empty-list", "keyerror"])
def test_no_internal_exception_text_for_a_broken_model_file(content: bytes, crops: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    for argv, cmd in ((["export", "onnx", str(bad), "-o", str(tmp_path / "m.onnx")], "export"),
                      (["upscale", str(crops / "c0.png"), "-o", str(tmp_path / "x.png"), "--model", str(bad)],
                       "upscale")):
        assert main(argv) == 2
        err = one_line_error(capsys, cmd, str(bad), "not a readable")
        for internal in ("IndexError", "KeyError", "pop from empty list", "UnpicklingError", "EOFError"):
            assert internal not in err, err


def test_ctrl_c_in_adapt_is_not_reported_as_sigterm(cli_model_pt: Path, crops: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import edgesr.training.loop as loop

    step = loop._step

    def ctrl_c_at_step_2(parts, feed, rs, device):  # what a user's Ctrl-C does mid-run: SIGINT to the process
        out = step(parts, feed, rs, device)
        if rs.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(loop, "_step", ctrl_c_at_step_2)
    out = tmp_path / "a.pt"
    rc = main(["adapt", str(cli_model_pt), "--frames", str(crops), "-o", str(out), "--steps", "6", "--batch", "2",
               "--patch", "12", "--holdout", "0", "--ckpt-every", "2", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 130 and "SIGTERM" not in err and "Ctrl-C" in err and "--resume" in err, err
    assert not out.exists()


def test_video_cleanup_never_hides_the_first_error(tmp_path: Path) -> None:
    """The model fails on frame 4 and the partial output cannot be kept (its folder is gone): the error
    reported is the model's, not the cleanup's."""
    import shutil

    from edgesr.video.pipeline import IncompleteVideoError, upscale_video
    from video_testlib import real_upscaler

    src = make_clip(tmp_path / "in.mp4", frames=8, fps=25, audio=False, size=(32, 24))
    out = tmp_path / "out"
    out.mkdir()
    up = real_upscaler(2)

    class FailsOnFrame4:
        scale, n = 2, 0

        def run(self, img: np.ndarray) -> np.ndarray:
            self.n += 1
            if self.n == 4:
                shutil.rmtree(out)  # e.g. a removed USB drive
                raise RuntimeError("the model failed on frame 4")
            return up.run(img)

    with pytest.raises(IncompleteVideoError, match="the model failed on frame 4"):
        upscale_video(src, out / "up.mp4", FailsOnFrame4(), preset="ultrafast", progress=False)
