"""The default memory budget (edgesr/budget.py): from the machine's free memory and the model's width."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from edgesr import budget


def test_available_ram_reads_the_machine() -> None:
    ram = budget.available_ram()
    assert ram is not None and 0 < ram
    with open("/proc/meminfo") as f:
        total = int(next(line for line in f if line.startswith("MemTotal:")).split()[1]) * 1024
    assert ram <= total


def test_model_width_from_metadata_module_or_unknown(tmp_path: Path) -> None:
    from conftest import tiny_model
    from edgesr.export import export_onnx
    from edgesr.runtimes import open_backend

    m = tiny_model("edge", 2)
    with open_backend(export_onnx(m, tmp_path / "m.onnx")) as ort:
        assert budget.model_width(ort) == (8, True)  # edgesr.arch: n_feats 8, LR-space family
    with open_backend(m) as pt:
        widest = max(c.out_channels for c in pt.model.modules() if hasattr(c, "kernel_size"))
        assert budget.model_width(pt) == (widest, True)
    assert budget.model_width(SimpleNamespace(meta={})) == (budget.UNKNOWN_CHANNELS, False)
    drn = SimpleNamespace(meta={"edgesr.arch": '{"family": "drn", "config": {"n_feats": 20, "channels": [4, 30]}}'})
    assert budget.model_width(drn) == (30, False)


def test_bytes_per_pixel_counts_io_and_activations() -> None:
    assert budget.bytes_per_pixel(16, 2, lr_space=True) == 4 * (3 + 12 + 4 * (16 + 12))
    assert budget.bytes_per_pixel(16, 2, lr_space=False) == 4 * (3 + 12 + 4 * (64 + 12))  # body at output size
    assert budget.bytes_per_pixel(16, 4, lr_space=True, activations=False) == 4 * (3 + 48)


@pytest.mark.parametrize("name, activations", [("onnxruntime", True), ("tensorrt", False)])
def test_default_max_pixels(monkeypatch: pytest.MonkeyPatch, name: str, activations: bool) -> None:
    monkeypatch.setattr(budget, "available_ram", lambda: 8 << 30)
    be = SimpleNamespace(name=name, scale=2, device="cpu", meta={"edgesr.arch": '{"family": "edge", '
                                                                                '"config": {"n_feats": 16}}'})
    limit, why = budget.default_max_pixels(be)
    assert limit == (2 << 30) // budget.bytes_per_pixel(16, 2, True, activations) and "2048 MiB" in why
    monkeypatch.setattr(budget, "available_ram", lambda: None)  # the OS does not say: 4 GiB assumed
    assert budget.default_max_pixels(be)[0] == (1 << 30) // budget.bytes_per_pixel(16, 2, True, activations)
