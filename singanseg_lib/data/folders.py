"""Segmentation data sets on disk: image/mask folders paired by name, checked and binarised.

Which file is whose mask (the ``subfolders`` and ``flat`` layouts, the mask naming conventions,
an explicit ``mask_pattern`` such as ``"{stem}_1stHO.png"``) is :mod:`singanseg_lib.data.pairing`.
Image files are those with a suffix of :data:`singanseg_lib.data.images.IMAGE_SUFFIXES` (any case);
an image and its mask may differ in format. Other image formats PIL knows (gif, jp2, ...) are
ignored with a warning; other files (json, csv, hidden files) silently.

Masks are binarised at grey > :data:`~singanseg_lib.data.images.MASK_THRESHOLD` (rules in
:mod:`singanseg_lib.data.images`, re-exported here with the k-fold splits of :mod:`singanseg_lib.data.folds`).

:func:`load_dataset` checks every pair and either raises :class:`DatasetError` listing every
problem with its file (and the masks no image claims, with a ``--mask-pattern`` suggestion when
most masks are named one other way), or returns a :class:`Dataset` (its ``warnings`` say what was
adapted, its ``mask_pattern`` how the masks were named):

====================================================  ===========================================
image without a mask; two files with one stem          error
masks that fit two naming conventions alike            error (give ``mask_pattern``)
mask without an image                                  warning; the mask is ignored
image and mask of different sizes                      error
image smaller than the pyramid's coarsest scale        error, naming the minimum (``TrainConfig.min_size``)
unreadable or truncated file                           error
grayscale image                                        warning; grey copied to R, G and B
image with an alpha channel, fully opaque              warning; alpha dropped
image with transparent pixels; 16-bit or float image   error (convert it to 8-bit RGB first)
empty mask (no polyp pixel)                            warning (an image without polyp is usable)
mask not near-binary: > 5 % of pixels with grey 32-223 error, with the fraction
====================================================  ===========================================

Validation decodes only what it needs: JPEG images at 1/8 scale (every byte is still read, so a
truncated file fails), PNG images by their chunk checksums; masks in full (their share is kept).
"""
from __future__ import annotations

import collections
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from singanseg_lib.data.images import (
    ALPHA_MODES,
    DEEP_MODES,
    MASK_THRESHOLD,
    mask_grey_levels,
    open_image,
    read_image,
    read_mask,
    to_rgb,
)
from singanseg_lib.data.pairing import pair_folder

__all__ = ["DatasetError", "DataWarning", "DatasetPair", "Dataset", "kit_data_dir", "sample_dir",
           "resolve_data_dir", "load_dataset"]
from singanseg_lib.kit.paths import kit_data_dir, sample_dir

MIDGREY = (32, 223)            # grey levels that are neither black nor white, JPEG noise included
MAX_MIDGREY_FRACTION = 0.05    # more mid-grey than this and the mask is not a binary mask


class DatasetError(ValueError):
    """The folder cannot be used as is; ``problems`` lists each ``file: problem``, ``unmatched_masks``
    the masks no image claims (often the other half of a naming problem), ``hint`` a suggested
    ``--mask-pattern`` or ""."""

    def __init__(self, root: Path, problems: list[str], *, unmatched_masks: list[Path] = (), hint: str = "",
                 shown: int = 20):
        self.root, self.problems, self.unmatched_masks, self.hint = root, problems, list(unmatched_masks), hint
        text = f"{root}: {len(problems)} problem(s):" + _listed(problems, shown)
        if unmatched_masks:
            text += f"\n{len(unmatched_masks)} mask(s) without an image:" + _listed(unmatched_masks, shown)
        super().__init__(text + (f"\nhint: {hint}" if hint else ""))


def _listed(items: list, shown: int) -> str:
    lines = "".join(f"\n  - {p}" for p in items[:shown])
    return lines + (f"\n  ... and {len(items) - shown} more" if len(items) > shown else "")


class DataWarning(UserWarning):
    """Something in a data set was adapted (grey image, alpha dropped, empty mask, ...)."""


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """A notebook's ``data_dir``: ``""``/``"sample"`` the bundled sample, ``"kvasir"`` the full set, else a folder.

    A relative folder is looked up from the working directory, then from the kit's root (notebooks
    run inside ``notebooks/``). ``"kvasir"`` must have been installed by ``singanseg data download``.
    """
    text = str(data_dir or "").strip()
    if text in ("", "sample"):
        return sample_dir()
    if text == "kvasir":
        from singanseg_lib.data.kvasir import DEFAULT_DEST, require_complete
        return require_complete(DEFAULT_DEST)
    path = Path(text).expanduser()
    tried = [path] if path.is_absolute() else [Path.cwd() / path, kit_data_dir().parent / path]
    for candidate in tried:
        if candidate.is_dir():
            return candidate.resolve()
    raise FileNotFoundError(f"data folder {text!r} not found (looked at {', '.join(map(str, tried))})")


@dataclass(frozen=True)
class DatasetPair:
    """One checked image and its mask of a data set folder; ``polyp_share`` is the fraction of mask
    pixels above :data:`~singanseg_lib.data.images.MASK_THRESHOLD`, in [0, 1].

    (A training or validation sample of the segmentation experiments is
    :class:`singanseg_lib.segmentation.pairs.Pair`.)"""

    id: str
    image: Path
    mask: Path
    width: int
    height: int
    polyp_share: float

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


@dataclass
class Dataset:
    """A checked folder of pairs, sorted by id. Index it by position or by id."""

    root: Path
    layout: str
    pairs: list[DatasetPair]
    warnings: list[str] = field(default_factory=list)
    mask_pattern: str = "{stem}"  # how the masks are named after their images (data.pairing)

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[DatasetPair]:
        return iter(self.pairs)

    def __getitem__(self, key: int | str) -> DatasetPair:
        if isinstance(key, str):
            for pair in self.pairs:
                if pair.id == key:
                    return pair
            raise KeyError(f"{self.root}: no pair with id {key!r}")
        return self.pairs[key]

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.pairs]

    @property
    def shares(self) -> np.ndarray:
        return np.array([p.polyp_share for p in self.pairs], dtype=np.float64)

    def subset(self, ids) -> Dataset:
        """The pairs with these ids, in the data set's order (an unknown id raises KeyError)."""
        wanted = set(ids)
        unknown = wanted - set(self.ids)
        if unknown:
            raise KeyError(f"{self.root}: no pair with id(s) {', '.join(sorted(unknown)[:5])}")
        return replace(self, pairs=[p for p in self.pairs if p.id in wanted])

    def read(self, key: int | str) -> tuple[np.ndarray, np.ndarray]:
        """(``H x W x 3`` uint8 image, ``H x W`` bool mask) of one pair."""
        pair = self[key]
        return read_image(pair.image), read_mask(pair.mask)


# --- checking ------------------------------------------------------------------------------------

def _check_image(path: Path) -> tuple[tuple[int, int], str]:
    """(size, mode) of an image, reading every byte; raises ValueError naming the file."""
    with open_image(path) as im:
        size, mode = im.size, im.mode
        try:
            if im.format == "JPEG":
                im.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
                im.load()
            elif im.format == "PNG" and mode not in ALPHA_MODES + ("P",):
                im.verify()  # chunk checksums catch truncation without inflating the pixels
            else:
                im.load()
                to_rgb(im, path)
        except OSError as e:
            raise ValueError(f"{path}: unreadable or truncated ({e})") from None
    if mode in DEEP_MODES:
        raise ValueError(f"{path}: {mode} image (16-bit or float); convert it to 8-bit RGB first")
    return size, mode


def _check_pair(key: str, image: Path, mask: Path, min_size: int) -> tuple[DatasetPair | None, list[str], list]:
    problems: list[str] = []
    notes: list[tuple[str, str]] = []
    try:
        size, mode = _check_image(image)
    except ValueError as e:
        return None, [str(e)], notes
    if min(size) < min_size:
        problems.append(f"{image}: {size[0]}x{size[1]} px; SinGAN-Seg's pyramid needs at least {min_size} px on "
                        "the short side (TrainConfig.min_size)")
    try:
        grey, label_map = mask_grey_levels(mask)
    except ValueError as e:
        return None, [str(e)], notes
    if (grey.shape[1], grey.shape[0]) != size:
        return None, [f"{mask}: mask is {grey.shape[1]}x{grey.shape[0]} px, its image {image.name} is "
                      f"{size[0]}x{size[1]} px"], notes
    mid = float(np.count_nonzero((grey >= MIDGREY[0]) & (grey <= MIDGREY[1]))) / grey.size
    if mid > MAX_MIDGREY_FRACTION:
        problems.append(f"{mask}: not a binary mask: {mid:.1%} of its pixels are mid-grey ({MIDGREY[0]}-{MIDGREY[1]}; "
                        f"at most {MAX_MIDGREY_FRACTION:.0%} allowed). Masks are white (polyp) on black")
    share = float(np.count_nonzero(grey > MASK_THRESHOLD)) / grey.size
    if share == 0:
        lossy = Image.registered_extensions().get(mask.suffix.lower()) == "JPEG"
        label_hint = 1 < grey.max() < 32 and not lossy  # JPEG noise aside
        notes.append(("empty mask (no polyp)" + (" - a class-label map? values are read as grey" if label_hint
                                                  else ""), str(mask)))
    if label_map:
        notes.append(("mask stores 0/1, read as 0/255", str(mask)))
    if mode in ("L", "1"):
        notes.append(("grayscale image, grey copied to R, G and B", str(image)))
    elif mode in ALPHA_MODES:
        notes.append(("alpha channel fully opaque, dropped", str(image)))
    elif mode not in ("RGB", "P"):
        notes.append((f"{mode} image converted to RGB", str(image)))
    return None if problems else DatasetPair(key, image, mask, size[0], size[1], share), problems, notes


def load_dataset(folder: str | Path, *, layout: str = "auto", mask_pattern: str | None = None,
                 min_size: int | None = None, workers: int | None = None, progress: bool = True) -> Dataset:
    """Pair, check and measure every image/mask of ``folder`` (see the module docstring).

    ``mask_pattern`` names the masks after their images (``"{stem}_1stHO.png"``, see
    :mod:`singanseg_lib.data.pairing`); default: the known convention most images pair under.
    ``min_size``: the short side every image needs, px (default: ``TrainConfig.min_size``, the
    coarsest scale of the pyramid). Raises :class:`DatasetError` listing every problem and the masks
    without an image; warnings (also issued as :class:`DataWarning`) are kept in ``Dataset.warnings``.
    ``workers`` threads decode in parallel (PIL releases the GIL while decoding); default: up to 4.
    """
    from tqdm.auto import tqdm

    if min_size is None:
        from singanseg_lib.singan.config import TrainConfig  # here, not at the top: singan imports data

        min_size = TrainConfig.min_size
    root = Path(folder)
    problems: list[str] = []
    notes: list[tuple[str, str]] = []
    found = pair_folder(root, layout, mask_pattern, problems, notes)
    images, masks = found.images, found.masks
    problems.extend(found.missing())
    notes.extend(("mask without an image, ignored", str(p)) for p in found.unmatched_masks)
    keys = sorted(set(images) & set(masks))
    if not keys and not problems:
        raise FileNotFoundError(f"{root}: no image/mask pairs found ({found.layout} layout)")
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(tqdm(pool.map(lambda k: _check_pair(k, images[k], masks[k], min_size), keys),
                            total=len(keys), desc=f"checking {root.name}", unit="pair", disable=not progress))
    pairs = []
    for pair, errs, pair_notes in results:
        problems.extend(errs)
        notes.extend(pair_notes)
        if pair is not None:
            pairs.append(pair)
    if problems:
        raise DatasetError(root, problems, unmatched_masks=found.unmatched_masks, hint=found.hint())
    summary = _summarize_notes(notes)
    for text in summary:
        warnings.warn(f"{root}: {text}", DataWarning, stacklevel=2)
    return Dataset(root, found.layout, pairs, summary, mask_pattern=found.naming.pattern)


def _summarize_notes(notes: list[tuple[str, str]], *, shown: int = 5) -> list[str]:
    """One line per kind of warning: the count and the first files."""
    by_kind: dict[str, list[str]] = collections.defaultdict(list)
    for kind, path in notes:
        by_kind[kind].append(path)
    return [f"{kind}: {len(paths)} file(s): {', '.join(paths[:shown])}{' ...' if len(paths) > shown else ''}"
            for kind, paths in by_kind.items()]


