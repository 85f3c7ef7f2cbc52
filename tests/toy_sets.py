"""Small synthetic sets in the contract's format (CONTRIBUTING.md, "A synthetic set"), made here.

"Real" images are smooth random colour fields with an elliptic "polyp" and its mask; the
"synthetic" samples are degraded copies (blurred, colour-shifted, noisy), so style transfer and
the metrics have a known direction to move in. No data set or network is needed.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from singanseg_lib.data.images import MASK_THRESHOLD

COLUMNS = ("image", "mask", "source_image", "source_path", "model", "sample", "seed", "start_scale", "polyp_share")


def make_reals(folder: Path, n: int = 3, size: tuple[int, int] = (48, 64), seed: int = 0) -> list[Path]:
    """``n`` real images ``real_<i>.jpg`` (reddish, textured) with masks in ``folder/masks``; h×w = size."""
    rng = np.random.default_rng(seed)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    paths = []
    for i in range(n):
        low = rng.uniform(0, 1, (4, 4, 3))
        field = np.asarray(Image.fromarray((low * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC))
        texture = rng.normal(0, 18, (h, w, 3))
        base = np.array([190, 90, 80]) + 0.4 * (field - 128) + texture
        cy, cx, r = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w, rng.uniform(0.15, 0.3) * min(h, w)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2) < r ** 2
        base[mask] += np.array([30, -20, -20])
        path = folder / f"real_{i}.jpg"
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(path, quality=95)
        Image.fromarray(mask.astype(np.uint8) * 255).save(folder / "masks" / f"real_{i}.png")
        paths.append(path)
    return paths


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A poor "synthetic" copy: blurred, towards grey-blue, with a little noise."""
    blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(2)), dtype=np.float64)
    shifted = 0.5 * blurred + 0.5 * np.array([110, 120, 150]) + rng.normal(0, 3, image.shape)
    return np.clip(shifted, 0, 255).astype(np.uint8)


def make_set(set_dir: Path, reals: list[Path], *, samples: int = 2, seed: int = 0, size=None,
             relative_source: bool = False) -> Path:
    """A synthetic set of ``samples`` degraded copies per real image, with masks and manifest.csv.

    ``size``: (w, h) to resize the samples to (else the real size).
    """
    rng = np.random.default_rng(seed)
    set_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for real in reals:
        image = np.asarray(Image.open(real).convert("RGB"))
        mask = Image.open(real.parent / "masks" / f"{real.stem}.png")
        for k in range(samples):
            out = Image.fromarray(degrade(image, rng))
            m = mask.copy()
            if size:
                out, m = out.resize(size, Image.Resampling.BICUBIC), m.resize(size, Image.Resampling.NEAREST)
            name = f"{real.stem}_{k}"
            out.save(set_dir / f"{name}_img.png")
            m.save(set_dir / f"{name}_mask.png")
            source = Path("..") / real.relative_to(set_dir.parent) if relative_source else real.resolve()
            rows.append({"image": f"{name}_img.png", "mask": f"{name}_mask.png", "source_image": real.name,
                         "source_path": str(source), "model": f"models/{real.stem}", "sample": k, "seed": 1000 + k,
                         "start_scale": 0, "polyp_share": f"{(np.asarray(m) > MASK_THRESHOLD).mean():.6f}"})
    with open(set_dir / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return set_dir
