"""Image I/O and training datasets.

Training pairs: HR crops from a folder of real images, LR made with the MATLAB-compatible
bicubic (``edgesr.imresize``) once per image and cached, then random aligned crops with
flips/rotations. Unpaired LR folders give LR crops only (the paper's semi-supervised setting:
those batches train with the dual loss alone). With a ``degrade`` config (:mod:`edgesr.data.degrade`)
the LR of each item is made on the fly from its HR crop instead (degradation-aware training).
With ``levels`` (the intermediate scales of a multi-level model, e.g. 2 for a x4 DRN) each item also
carries the matching crops of MATLAB-bicubic images of the whole HR image, made once per image and
rounded to uint8 like the LR (the official DRN's LR pyramid), under ``level_key(scale)``.
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

from .degrade import DegradeConfig, degrade as degrade_image
from ..errors import ConfigError, DataError
from ..fileio import atomic_write_bytes
from .bicubic import imresize

log = logging.getLogger(__name__)

_DEGRADE_STREAM = 0xDE9  # the degradation draws: a stream of the item's seed apart from its crop draws
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


def level_key(scale: int) -> str:
    """Batch key of the target at ``scale`` x the LR size (an intermediate level of a multi-level model)."""
    return f"hr_x{scale}"


def level_targets(batch: dict[str, torch.Tensor]) -> dict[int, torch.Tensor]:
    """``{scale: target}`` of the intermediate levels a batch carries (see ``SRDataset(levels=...)``)."""
    return {int(k[4:]): v for k, v in batch.items() if k.startswith("hr_x")}


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
    ``degrade``: make each LR from its (augmented) HR crop with :func:`edgesr.data.degrade.degrade`,
    drawing from a generator seeded by the item's seed (crops and flips are drawn as without it).
    ``levels``: intermediate scales ``l`` (1 < l < scale, dividing it); items get ``level_key(l)`` crops
    of ``imresize(HR image, l / scale)`` (uint8, whole image, once per image), aligned with the LR crop.
    """

    def __init__(self, folders: str | Path | Sequence[str | Path], scale: int, patch: int = 48,
                 repeat: int = 16, paired: bool = True, augment: bool = True,
                 degrade: DegradeConfig | None = None, levels: Sequence[int] = (),
                 patch_option: str = "--patch") -> None:
        if isinstance(folders, (str, Path)):
            folders = [folders]
        if degrade is not None and not paired:
            raise ConfigError("degrade needs HR images (paired=True): unpaired folders are already LR")
        self.levels = tuple(int(v) for v in levels)
        if any(not 1 < v < scale or scale % v for v in self.levels) or (self.levels and not paired):
            raise ConfigError(f"levels {self.levels} must be paired intermediate scales of x{scale} (1 < l < "
                              f"{scale}, dividing it), e.g. levels=(2,) for a x4 DRN")
        self.mid: dict[int, list[np.ndarray]] = {v: [] for v in self.levels}
        self.files = [f for d in folders for f in list_images(d)]
        self.scale, self.patch, self.repeat, self.paired, self.augment = scale, patch, repeat, paired, augment
        self.degrade = degrade
        self.hr: list[np.ndarray] = []
        self.lr: list[np.ndarray] = []
        need = patch * scale if paired else patch
        self.skipped: list[tuple[Path, int]] = []  # (file, its smaller side) of images below the patch
        for f in self.files:
            img = read_rgb(f)
            if paired:
                img = modcrop(img, scale)
                if min(img.shape[:2]) < need:
                    self.skipped.append((Path(f), min(img.shape[:2])))
                    continue
                self.hr.append(img)
                for v in self.levels:
                    self.mid[v].append(imresize(img, v / scale))
                if degrade is None:
                    self.lr.append(imresize(img, 1.0 / scale))
            else:
                if min(img.shape[:2]) < need:
                    self.skipped.append((Path(f), min(img.shape[:2])))
                    continue
                self.lr.append(img)
        if self.skipped and self.n_images:  # one line for all of them (T91 at x4, HR patch 192: 51 of 91)
            side = min(sz for _, sz in self.skipped)
            fit = side // scale if paired else side
            log.warning("skipped %d of %d images smaller than the %s patch (%d px; smallest %s, %d px): %s %d "
                        "or less keeps them all", len(self.skipped), len(self.files), "HR" if paired else "LR",
                        need, min(self.skipped, key=lambda x: x[1])[0].name, side, patch_option, fit)
        if not self.n_images:
            raise DataError(f"no image in {[str(f) for f in folders]} is large enough for patch {patch} at x{scale}; "
                            "use a smaller --patch")

    @property
    def n_images(self) -> int:
        """Images kept (with ``degrade`` no LR is cached, so ``len(self.lr)`` is 0 then)."""
        return len(self.hr if self.degrade is not None else self.lr)

    def __len__(self) -> int:
        return self.n_images * self.repeat

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.get(i, int(torch.randint(0, 2**31 - 1, ()).item()))

    def get(self, i: int, seed: int) -> dict[str, torch.Tensor]:
        """Item ``i`` with crop/augmentation drawn from ``seed`` (deterministic, resumable)."""
        if self.degrade is not None:
            return self._get_degraded(i, seed, self.degrade)
        k = i % len(self.lr)
        lr_img = self.lr[k]
        p, s = self.patch, self.scale
        rng = np.random.default_rng(seed)
        y = int(rng.integers(0, lr_img.shape[0] - p + 1))
        x = int(rng.integers(0, lr_img.shape[1] - p + 1))
        crops = [lr_img[y:y + p, x:x + p]]
        if self.paired:
            crops.append(self.hr[k][y * s:(y + p) * s, x * s:(x + p) * s])
        crops += [self.mid[v][k][y * v:(y + p) * v, x * v:(x + p) * v] for v in self.levels]
        if self.augment:
            flip, rot = bool(rng.integers(2)), int(rng.integers(4))
            crops = [np.rot90(c[:, ::-1] if flip else c, rot) for c in crops]
        out = {"lr": to_tensor(crops[0])}
        if self.paired:
            out["hr"] = to_tensor(crops[1])
        out.update({level_key(v): to_tensor(c) for v, c in zip(self.levels, crops[2:])})
        return out

    def _get_degraded(self, i: int, seed: int, cfg: DegradeConfig) -> dict[str, torch.Tensor]:
        """HR crop at the positions/flips :meth:`get` draws from ``seed``; LR degraded from it."""
        k = i % len(self.hr)
        hr_img = self.hr[k]
        p, s = self.patch, self.scale
        rng = np.random.default_rng(seed)
        y = int(rng.integers(0, hr_img.shape[0] // s - p + 1))
        x = int(rng.integers(0, hr_img.shape[1] // s - p + 1))
        crops = [hr_img[y * s:(y + p) * s, x * s:(x + p) * s]]
        crops += [self.mid[v][k][y * v:(y + p) * v, x * v:(x + p) * v] for v in self.levels]
        if self.augment:
            flip, rot = bool(rng.integers(2)), int(rng.integers(4))
            crops = [np.rot90(c[:, ::-1] if flip else c, rot) for c in crops]
        hr = np.ascontiguousarray(crops[0])
        lr = degrade_image(hr, s, np.random.default_rng([seed, _DEGRADE_STREAM]), cfg)
        out = {"lr": to_tensor(lr), "hr": to_tensor(hr)}
        out.update({level_key(v): to_tensor(c) for v, c in zip(self.levels, crops[1:])})
        return out


def benchmark_pairs(folder: str | Path, scale: int) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, HR mod-cropped uint8, LR uint8 by MATLAB bicubic) for each image: the eval protocol."""
    for f in list_images(folder):
        hr = modcrop(read_rgb(f), scale)
        yield f.stem, hr, imresize(hr, 1.0 / scale)
