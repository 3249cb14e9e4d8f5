"""edgesr upscale never loses data silently: an output equal to the input, an existing output file and
a folder written into itself are refused with one line; --overwrite opts in (except for the last).
Also the memory options (--tile, --max-pixels)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesr.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))  # --import-mode=importlib: helpers
from video_testlib import make_clip, one_torch_thread, probe  # noqa: E402,F401  (autouse fixture)
from conftest import tiny_model  # noqa: E402


@pytest.fixture
def images(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(d / f"img{i}.png"), rng.integers(0, 256, (24, 40, 3), dtype=np.uint8))
    return d


def upscale(model: Path, *args: str) -> int:
    return main(["upscale", *args, "--model", str(model), "--no-progress"])


def one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("edgesr upscale: error:"), err
    for w in words:
        assert w in err, err


def test_image_onto_itself_needs_overwrite(images: Path, cli_model_pt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = images / "img0.png"
    before = img.read_bytes()
    assert upscale(cli_model_pt, str(img), "-o", str(img)) == 2
    one_line_error(capsys, "is the input file", "--overwrite")
    assert img.read_bytes() == before
    assert upscale(cli_model_pt, str(img), "-o", str(images)) == 2  # -o the image's own folder: same file
    one_line_error(capsys, "is the input file")
    assert upscale(cli_model_pt, str(img), "-o", str(img), "--overwrite") == 0
    assert cv2.imread(str(img)).shape == (48, 80, 3)  # replaced, by the complete result


def test_existing_output_image_needs_overwrite(images: Path, cli_model_pt: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    dst = tmp_path / "keep.png"
    dst.write_bytes(b"precious")
    assert upscale(cli_model_pt, str(images / "img0.png"), "-o", str(dst)) == 2
    one_line_error(capsys, "already exists", "--overwrite")
    assert dst.read_bytes() == b"precious"
    assert upscale(cli_model_pt, str(images / "img0.png"), "-o", str(dst), "--overwrite") == 0
    assert cv2.imread(str(dst)).shape == (48, 80, 3)
    out_dir = tmp_path / "outdir"
    out_dir.mkdir()  # -o an existing folder: written inside it under the input's name
    assert upscale(cli_model_pt, str(images / "img1.png"), "-o", str(out_dir)) == 0
    assert (out_dir / "img1.png").is_file()


def test_folder_into_itself_is_refused_even_with_overwrite(images: Path, cli_model_pt: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    before = {p.name: p.read_bytes() for p in images.iterdir()}
    for extra in ([], ["--overwrite"]):
        assert upscale(cli_model_pt, str(images), "-o", str(images / "." ), *extra) == 2
        one_line_error(capsys, "is the input folder", "even with --overwrite")
    assert {p.name: p.read_bytes() for p in images.iterdir()} == before


def test_folder_with_existing_outputs_needs_overwrite(images: Path, cli_model_pt: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "img1.png").write_bytes(b"precious")
    assert upscale(cli_model_pt, str(images), "-o", str(out)) == 2
    one_line_error(capsys, "1 of 3 outputs already exist", "img1.png", "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["img1.png"]  # nothing written: checked before any run
    assert (out / "img1.png").read_bytes() == b"precious"
    assert upscale(cli_model_pt, str(images), "-o", str(out), "--overwrite") == 0
    assert cv2.imread(str(out / "img1.png")).shape == (48, 80, 3)


def test_folder_into_a_subfolder_is_fine(images: Path, cli_model_pt: Path) -> None:
    """Inputs are listed non-recursively before anything is written: results are never re-read."""
    assert upscale(cli_model_pt, str(images), "-o", str(images / "x2")) == 0
    assert sorted(p.name for p in (images / "x2").iterdir()) == ["img0.png", "img1.png", "img2.png"]
    assert upscale(cli_model_pt, str(images), "-o", str(images / "x2")) == 2  # a second run: outputs exist


def test_video_output_rules(tmp_path: Path, cli_model_pt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_clip(tmp_path / "in.mp4", frames=6, fps=25, audio=False, size=(32, 24))
    size = src.stat().st_size
    assert upscale(cli_model_pt, str(src), "-o", str(src), "--preset", "ultrafast") == 2
    one_line_error(capsys, "is the input file", "--overwrite")
    dst = tmp_path / "up.mp4"
    dst.write_bytes(b"precious")
    assert upscale(cli_model_pt, str(src), "-o", str(dst), "--preset", "ultrafast") == 2
    one_line_error(capsys, "already exists", "--overwrite")
    assert dst.read_bytes() == b"precious" and src.stat().st_size == size
    assert upscale(cli_model_pt, str(src), "-o", str(dst), "--preset", "ultrafast", "--overwrite") == 0
    assert probe(dst).frames == 6
    assert upscale(cli_model_pt, str(src), "-o", str(src), "--preset", "ultrafast", "--overwrite") == 0
    out = probe(src)  # replaced in place, once complete
    assert out.frames == 6 and (out.width, out.height) == (64, 48)


def test_tile_and_max_pixels_options(images: Path, cli_model_pt: Path, tmp_path: Path,
                                     caplog: pytest.LogCaptureFixture) -> None:
    img = str(images / "img0.png")
    with caplog.at_level(logging.INFO, logger="edgesr.upscaler"):
        assert upscale(cli_model_pt, img, "-o", str(tmp_path / "a.png"), "--max-pixels", "0") == 0
        assert not any("tiles" in r.message for r in caplog.records)
        assert upscale(cli_model_pt, img, "-o", str(tmp_path / "b.png"), "--max-pixels", "400") == 0
        assert any("tiles of 20x20" in r.message for r in caplog.records)
        caplog.clear()
        assert upscale(cli_model_pt, img, "-o", str(tmp_path / "c.png"), "--tile", "24") == 0
        assert any("tiles of 24x24" in r.message for r in caplog.records)
    a, b = (cv2.imread(str(tmp_path / n)).astype(int) for n in ("a.png", "b.png"))
    assert a.shape == b.shape == (48, 80, 3) and np.abs(a - b).mean() < 1  # seamless tiles
