"""Reading image/mask pairs from disk for training: a stand-in for ``data.py``.

``data.py`` (written in parallel: ``read_image``, ``read_mask``, ``load_dataset``) replaces this
module when the branches are merged; until then training, notebook 01 and ``singanseg train``
read their pairs here, with PIL.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def read_pair(image_path: str | Path, mask_path: str | Path):
    """(uint8 H x W x 3, bool H x W) with PIL; the mask is binarised at L > 127 (SPEC §1).

    Stand-in for ``data.read_image`` / ``data.read_mask`` until that module is merged.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        rgb = np.array(Image.open(image_path).convert("RGB"))
        mask = np.array(Image.open(mask_path).convert("L")) > 127
    except (OSError, UnidentifiedImageError) as e:
        raise ValueError(f"cannot read image/mask pair {image_path} / {mask_path}: {e}") from None
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} px, "
                         f"image {image_path} is {rgb.shape[1]}x{rgb.shape[0]}")
    return rgb, mask


@dataclass(frozen=True)
class TrainingPair:
    id: str
    image_path: Path
    mask_path: Path


def training_pairs(folder: str | Path) -> list[TrainingPair]:
    """The image/mask pairs of a folder with ``images/`` and ``masks/`` (paired by file stem), sorted by id.

    Stand-in for ``data.load_dataset`` until that module is merged.
    """
    folder = Path(folder)
    images, masks = folder / "images", folder / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise FileNotFoundError(f"{folder}: expected the sub-folders images/ and masks/")
    by_stem = {p.stem: p for p in masks.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    pairs, unpaired = [], []
    for img in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        (pairs.append(TrainingPair(img.stem, img, by_stem[img.stem])) if img.stem in by_stem
         else unpaired.append(img.name))
    if unpaired:
        raise ValueError(f"{images}: no mask in {masks} for {len(unpaired)} image(s), e.g. {unpaired[:3]}")
    if not pairs:
        raise FileNotFoundError(f"{images}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return pairs


def sample_data_dir(data_dir: str = "") -> Path:
    """``data_dir``; when empty ``$SINGANSEG_DATA``, else the kit's bundled sample (``data/sample``)."""
    chosen = data_dir or os.environ.get("SINGANSEG_DATA", "")
    return Path(chosen) if chosen else Path(__file__).resolve().parent.parent / "data" / "sample"
