"""Tiny stand-in data for the segmentation tests: real folders and synthetic sets in the contract's format.

Real "polyps" are reddish discs on a textured background; a synthetic set holds shifted, flipped
and recoloured copies of each real pair, with manifest rows naming their source image, as
notebook 02 (and 04, with ``_ST-<ratio>`` folders) would write them.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from singanseg_lib.data.images import MASK_THRESHOLD

MANIFEST_COLUMNS = ["image", "mask", "source_image", "source_path", "model", "sample", "seed", "start_scale",
                    "polyp_share"]


def disc_pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.uniform(0.3, 0.7, 2) * size
    r = rng.uniform(0.12, 0.3) * size
    mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
    image = rng.normal([120, 70, 60], 12, (size, size, 3))
    image[mask] = rng.normal([200, 90, 80], 12, (int(mask.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8), mask


def make_real_folder(root: Path, n: int, *, size: int = 48, seed: int = 0) -> Path:
    """``root/images/img<i>.jpg`` and ``root/masks/img<i>.png`` (0/255)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        image, mask = disc_pair(rng, size)
        Image.fromarray(image).save(root / "images" / f"img{i:02d}.jpg", quality=95)
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"img{i:02d}.png")
    return root


def make_synthetic_set(set_dir: Path, real_root: Path, ids: list[str], *, per_image: int = 3, seed: int = 0,
                       tint: int = 0) -> Path:
    """Augmented copies of the real pairs ``ids`` as a synthetic set with a manifest."""
    rng = np.random.default_rng(seed)
    set_dir.mkdir(parents=True)
    rows = []
    for image_id in ids:
        src = next((real_root / "images").glob(f"{image_id}.*"))
        image = np.asarray(Image.open(src).convert("RGB")).astype(int)
        mask = np.asarray(Image.open(next((real_root / "masks").glob(f"{image_id}.*"))).convert("L")) > MASK_THRESHOLD
        for k in range(per_image):
            shift = rng.integers(-4, 5, 2)
            im, m = np.roll(image, shift, (0, 1)), np.roll(mask, shift, (0, 1))
            if k % 2:
                im, m = im[:, ::-1], m[:, ::-1]
            im = np.clip(im + tint + rng.normal(0, 3, im.shape), 0, 255).astype(np.uint8)
            name = f"{image_id}_{k}"
            Image.fromarray(im).save(set_dir / f"{name}_img.png")
            Image.fromarray(m.astype(np.uint8) * 255).save(set_dir / f"{name}_mask.png")
            rows.append({"image": f"{name}_img.png", "mask": f"{name}_mask.png", "source_image": src.name,
                         "source_path": str(src), "model": f"/models/{image_id}", "sample": k, "seed": seed * 1000 + k,
                         "start_scale": 0, "polyp_share": f"{m.mean():.6f}"})
    with open(set_dir / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return set_dir
