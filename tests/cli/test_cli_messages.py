"""CLI messages: one line, what is wrong and the fix; `edgesr models` lists what ships."""
import logging

import cv2
import numpy as np
import pytest

from edgesr.cli import main


def test_unknown_command_is_one_line_with_a_suggestion(capsys):
    assert main(["nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgesr: unknown command 'nosuch'") and "\n" not in err and "edgesr --help" in err
    assert main(["trian"]) == 2
    assert "did you mean 'train'?" in capsys.readouterr().err


def test_models_lists_bundled_weights(capsys):
    from edgesr.hub import bundled_models

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert bundled_models() and all(name in out for name in bundled_models())
    assert main(["models", "--scale", "3"]) == 0
    out = capsys.readouterr().out
    assert "edge_tiny_x3" in out and "edge_tiny_x2" not in out


def test_eval_on_an_image_smaller_than_the_ssim_window(tmp_path, small_photo, capsys):
    d = tmp_path / "tiny"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), small_photo[:40, :40])
    cv2.imwrite(str(d / "b.png"), small_photo[:12, :20])
    assert main(["eval", "bicubic", "--scale", "2", "--data", str(d)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(d / "b.png") in err and "20x12" in err and "15x15 minimum" in err


def test_eval_bicubic_without_scale(tmp_path, image_folder, capsys):
    assert main(["eval", "bicubic", "--data", str(image_folder)]) == 2
    assert "--scale" in capsys.readouterr().err


def test_ssim_too_small_is_a_data_error():
    from edgesr.errors import DataError
    from edgesr.metrics import ssim

    a = np.zeros((14, 30, 3), np.uint8)
    with pytest.raises(DataError, match="minimum is 15x15"):
        ssim(a, a, shave=2)
    assert ssim(np.zeros((15, 15, 3), np.uint8), np.zeros((15, 15, 3), np.uint8), shave=2) == pytest.approx(1.0)


def test_compress_warns_about_resume_only_when_there_is_something_asked(tmp_path, image_folder, caplog):
    import torch

    import edgesr
    from edgesr.compression import CompressConfig, FinetuneConfig, PruneConfig, SearchConfig, compress
    from edgesr.training import TrainConfig, train

    torch.manual_seed(0)
    src = edgesr.save_model(edgesr.create_model("edge_tiny", 2, n_feats=16, n_blocks=2), tmp_path / "full.pt")
    cfg = CompressConfig(search=SearchConfig(steps=1, batch=2, patch=12, progress=False),
                         prune=PruneConfig(batches=1, batch=2, patch=12, reopt_steps=1, progress=False),
                         finetune=FinetuneConfig(steps=1, batch=2, patch=12, ckpt_every=1),
                         report_hw=(32, 32), latency_hw=(16, 16), latency_runs=1)
    with caplog.at_level(logging.WARNING):
        compress(src, 0.3, [image_folder], tmp_path / "small.pt", config=cfg, latency=False)
    assert "--resume" not in caplog.text and (tmp_path / "small.pt").is_file()
    with caplog.at_level(logging.WARNING):  # asked to resume a run that does not exist: say so
        train(TrainConfig(data=(str(image_folder),), out=str(tmp_path / "new"), steps=1, batch=2, patch=12,
                          progress=False), resume=True)
    assert "--resume: no" in caplog.text
