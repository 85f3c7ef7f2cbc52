"""Image/mask pairs for the segmentation experiments: listing, reading at 128 px, augmenting.

A :class:`Pair` names one training or validation sample and the real image it comes from
(``source``: the real image's id, i.e. its file stem). For a real pair the source is itself; for a
synthetic pair it is the manifest's ``source_image`` (CONTRIBUTING.md, "A synthetic set"). The
leakage check of :mod:`experiments` works on these sources, so pairing always goes by names.

Pixels are read once per process with the kit's readers (:mod:`singanseg_lib.data.images`),
resized to ``size x size`` (the paper resizes every image to 128 x 128, aspect ratio not kept)
and cached: images with PIL's antialiased bilinear resize, masks resized the same way as grey
levels (``read_mask_grey``: 0/1 masks read as 0/255) and then thresholded at grey >
:data:`~singanseg_lib.data.images.MASK_THRESHOLD` (docs/algorithm.md §1.3).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from singanseg_lib.data.folders import load_dataset, resolve_data_dir
from singanseg_lib.data.images import MASK_THRESHOLD, read_image, read_mask_grey
from singanseg_lib.sampling.manifest import MANIFEST, read_manifest, styled_set_name

__all__ = ["Pair", "SegmentationArrays", "list_real_pairs", "read_synthetic_set", "find_synthetic_set", "load_sets",
           "modelled_ids", "read_pair", "load_pairs", "augmentation", "AUGMENTATIONS"]


@dataclass(frozen=True)
class Pair:
    """One training or validation sample: an image with its mask. ``source``: id (file stem) of the
    real image it is, or was generated from. (A checked pair of a data folder is ``data.DatasetPair``.)"""

    name: str
    image: Path
    mask: Path
    source: str
    kind: str = "real"  # "real" or "synthetic"
    sample: int = -1  # k of ``<image-id>_<k>``; -1 for real images


@dataclass
class SegmentationArrays:
    """Pairs read into memory. ``images``: N x S x S x 3 uint8 RGB; ``masks``: N x S x S bool."""

    pairs: list[Pair]
    images: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.pairs)


def list_real_pairs(data_dir: str | Path = "") -> list[Pair]:
    """The real pairs of a data folder (``""``: the bundled sample), sorted by id.

    Through :func:`singanseg_lib.data.load_dataset`, which validates the folder and names every problem.
    """
    dataset = load_dataset(resolve_data_dir(data_dir), progress=False)
    return [Pair(p.id, p.image, p.mask, p.id) for p in dataset]


def read_synthetic_set(set_dir: str | Path) -> list[Pair]:
    """The samples of a synthetic set from its ``manifest.csv``, sorted by (source, sample).

    Read by :func:`singanseg_lib.sampling.manifest.read_manifest`. Raises naming the file (and the
    line) when the manifest is missing, lacks the contract's columns, holds a bad value or lists a
    file that is not there.
    """
    set_dir = Path(set_dir)
    path = set_dir / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest; a synthetic set is a folder written by notebook "
                                f"02_generation (or 04_style_transfer) with a {MANIFEST}")
    pairs = []
    for n, row in enumerate(read_manifest(set_dir), 2):  # n: the row's line in the file (1 is the header)
        image, mask = set_dir / row["image"], set_dir / row["mask"]
        for f in (image, mask):
            if not f.is_file():
                raise FileNotFoundError(f"{path}:{n}: lists {f.name}, which is not in {set_dir}")
        source = Path(row["source_image"]).stem
        if not source:
            raise ValueError(f"{path}:{n}: empty source_image; cannot tell which real image it comes from")
        pairs.append(Pair(Path(row["image"]).stem.removesuffix("_img"), image, mask, source, "synthetic",
                          row["sample"]))
    return sorted(pairs, key=lambda p: (p.source, p.sample, p.name))


def find_synthetic_set(run_dir: str | Path, st: str = "none", *, set_name: str = "synthetic") -> Path:
    """Where notebooks 02 and 04 left the synthetic set (``st="none"``) or its style-transferred twin.

    ``<run_dir>/02_generation/<set>`` for the generated set; ``<set>_ST-<st>`` beside it (or in
    ``04_style_transfer/``) for style transfer. Raises naming the notebook to run first.
    """
    run_dir = Path(run_dir)
    name = styled_set_name(set_name, st)
    where = [run_dir / "02_generation" / name] + ([run_dir / "04_style_transfer" / name] if st != "none" else [])
    for d in where:
        if (d / MANIFEST).is_file():
            return d
    first = "02_generation" if st == "none" else f"04_style_transfer (content:style {st.replace('_', ':')})"
    raise FileNotFoundError(f"no synthetic set {name} in {' or '.join(map(str, where))}: run notebook {first} "
                            "first with the same run_dir (or the same preset)")


# Decoded pairs, most recent last; bounded (16,384 pairs at 128 px ~ 1 GB) for paper-sized runs.
_CACHE: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
CACHE_PAIRS = 16_384


def read_pair(pair: Pair, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One pair at ``size x size``: (uint8 S x S x 3 image, bool S x S mask), cached per process."""
    key = (str(pair.image), str(pair.mask), size, pair.image.stat().st_mtime_ns, pair.mask.stat().st_mtime_ns)
    if key not in _CACHE:
        try:
            image = np.asarray(Image.fromarray(read_image(pair.image)).resize((size, size), Image.BILINEAR))
            grey = read_mask_grey(pair.mask)  # 0/1 masks (common outside Kvasir-SEG) come as 0/255
            mask = np.asarray(Image.fromarray(grey).resize((size, size), Image.BILINEAR)) > MASK_THRESHOLD
        except (OSError, ValueError) as e:
            raise ValueError(f"{pair.image} / {pair.mask}: cannot read the pair ({e})") from None
        _CACHE[key] = (image, mask)
        if len(_CACHE) > CACHE_PAIRS:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return _CACHE[key]


def load_pairs(pairs: Sequence[Pair], *, size: int = 128) -> SegmentationArrays:
    """Read ``pairs`` at ``size x size`` (cached per process); see the module docstring for resizing."""
    if not pairs:
        raise ValueError("no pairs to load")
    read = [read_pair(p, size) for p in pairs]
    return SegmentationArrays(list(pairs), np.stack([r[0] for r in read]), np.stack([r[1] for r in read]))


# The transforms the paper's Discussion names ("horizontal flip, shift scale rotation, resizing,
# motion blur", Albumentations), plus a vertical flip and a brightness/contrast change, which are
# common for endoscopy. PYRA's grid-focus augmentation is not reproduced.
AUGMENTATIONS = ("HorizontalFlip(p=0.5)", "VerticalFlip(p=0.5)",
                 "Affine(scale=0.8-1.2, translate=10%, rotate=±30°, p=0.5)  # shift-scale-rotate",
                 "MotionBlur(blur_limit=3-7, p=0.2)", "RandomBrightnessContrast(±0.2, p=0.5)")


def augmentation(seed: int):
    """The Albumentations pipeline named in :data:`AUGMENTATIONS`, seeded (reseed per epoch with
    ``set_random_seed``). Works on uint8 H x W x 3 images and H x W masks; sizes are kept."""
    import albumentations as A

    return A.Compose([
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        A.Affine(scale=(0.8, 1.2), translate_percent=(-0.1, 0.1), rotate=(-30, 30), p=0.5),
        A.MotionBlur(blur_limit=(3, 7), p=0.2),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
    ], seed=seed)


def load_sets(run_dir: str | Path, sts: Sequence[str], *, set_name: str = "synthetic") -> dict[str, list[Pair]]:
    """The synthetic set and its style-transferred twins named in ``sts`` ("none", "1_1", "1_1000")."""
    return {st: read_synthetic_set(find_synthetic_set(run_dir, st, set_name=set_name)) for st in sts}


def modelled_ids(sets: dict[str, Sequence[Pair]], *, min_samples: int = 1) -> list[str]:
    """Ids of the real images with at least ``min_samples`` samples in every set (sorted)."""
    counts = []
    for pairs in sets.values():
        c: dict[str, int] = {}
        for p in pairs:
            c[p.source] = c.get(p.source, 0) + 1
        counts.append({k for k, v in c.items() if v >= min_samples})
    return sorted(set.intersection(*counts)) if counts else []
