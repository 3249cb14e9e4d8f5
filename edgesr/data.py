"""Image I/O and training datasets.

Training pairs: HR crops from a folder of real images, LR made with the MATLAB-compatible
bicubic (``edgesr.imresize``) once per image and cached, then random aligned crops with
flips/rotations. Unpaired LR folders give LR crops only (the paper's semi-supervised setting:
those batches train with the dual loss alone).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .errors import DataError
from .fileio import atomic_write_bytes
from .imresize import imresize

log = logging.getLogger(__name__)

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files in ``folder`` (sorted, non-recursive); a clear error if there are none."""
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"data folder not found: {folder}; pass an existing folder of images")
    if folder.is_file():
        return [folder]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_EXTS)}) in {folder}; point --data at a folder of images")
    return files


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as RGB uint8 HxWx3 (grayscale is replicated to 3 channels)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(f"cannot read image {path}: unreadable or not an image; remove it or convert it to PNG")
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img[..., ::-1])


def write_image(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write RGB (or gray) uint8 atomically: a temp file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = rgb[..., ::-1] if rgb.ndim == 3 and rgb.shape[2] == 3 else rgb
    ok, buf = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(bgr))
    if not ok:
        raise DataError(f"cannot encode {path.suffix!r} images; use .png or .jpg")
    atomic_write_bytes(path, buf.tobytes())


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """RGB uint8 HxWx3 -> float (3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float (3, H, W) in [0, 1] -> RGB uint8 HxWx3 (rounded, clipped)."""
    return t.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


class SRDataset(Dataset):
    """Random (LR, HR) crops of a folder of HR images, or LR-only crops when ``paired=False``.

    Items are ``{"lr": (3, p, p), "hr": (3, p*s, p*s)}`` floats in [0, 1] (no ``hr`` if unpaired).
    ``repeat`` makes an epoch several passes over the images (small sets such as T91).
    """

    def __init__(self, folders: str | Path | Sequence[str | Path], scale: int, patch: int = 48,
                 repeat: int = 16, paired: bool = True, augment: bool = True) -> None:
        if isinstance(folders, (str, Path)):
            folders = [folders]
        self.files = [f for d in folders for f in list_images(d)]
        self.scale, self.patch, self.repeat, self.paired, self.augment = scale, patch, repeat, paired, augment
        self.hr: list[np.ndarray] = []
        self.lr: list[np.ndarray] = []
        need = patch * scale if paired else patch
        for f in self.files:
            img = read_rgb(f)
            if paired:
                img = modcrop(img, scale)
                if min(img.shape[:2]) < need:
                    log.warning("skipping %s: smaller than the HR patch (%d px)", f, need)
                    continue
                self.hr.append(img)
                self.lr.append(imresize(img, 1.0 / scale))
            else:
                if min(img.shape[:2]) < need:
                    log.warning("skipping %s: smaller than the LR patch (%d px)", f, need)
                    continue
                self.lr.append(img)
        if not self.lr:
            raise DataError(f"no image in {[str(f) for f in folders]} is large enough for patch {patch} at x{scale}; "
                            "use a smaller --patch")

    def __len__(self) -> int:
        return len(self.lr) * self.repeat

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.get(i, int(torch.randint(0, 2**31 - 1, ()).item()))

    def get(self, i: int, seed: int) -> dict[str, torch.Tensor]:
        """Item ``i`` with crop/augmentation drawn from ``seed`` (deterministic, resumable)."""
        k = i % len(self.lr)
        lr_img = self.lr[k]
        p, s = self.patch, self.scale
        rng = np.random.default_rng(seed)
        y = int(rng.integers(0, lr_img.shape[0] - p + 1))
        x = int(rng.integers(0, lr_img.shape[1] - p + 1))
        crops = [lr_img[y:y + p, x:x + p]]
        if self.paired:
            crops.append(self.hr[k][y * s:(y + p) * s, x * s:(x + p) * s])
        if self.augment:
            flip, rot = bool(rng.integers(2)), int(rng.integers(4))
            crops = [np.rot90(c[:, ::-1] if flip else c, rot) for c in crops]
        out = {"lr": to_tensor(crops[0])}
        if self.paired:
            out["hr"] = to_tensor(crops[1])
        return out


def benchmark_pairs(folder: str | Path, scale: int) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, HR mod-cropped uint8, LR uint8 by MATLAB bicubic) for each image: the eval protocol."""
    for f in list_images(folder):
        hr = modcrop(read_rgb(f), scale)
        yield f.stem, hr, imresize(hr, 1.0 / scale)
