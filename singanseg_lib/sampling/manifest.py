"""Which real image belongs to which synthetic image: always by name, never by directory order.

The SinGAN SIFID code paired ``glob`` results by position, so a renamed or extra file silently
compared the wrong images. Here a synthetic image finds its real image

- through the set's ``manifest.csv`` (CONTRIBUTING.md, "A synthetic set"): ``source_image``
  inside a given real folder, else ``source_path`` (absolute, or relative to the set);
- without a manifest, by the same file stem (``a.png`` ↔ ``a.jpg``).

An image that finds no partner is an error that names it. Mask files (``*_mask.*``) are never
treated as images; image files are those of :data:`singanseg_lib.data.images.IMAGE_SUFFIXES`. The
only manifest reader and writer live here (generation, style transfer, the metrics and the
segmentation experiments share them); extra columns later steps add are kept as strings. So
does the name of a set's style-transferred twin (:func:`styled_set_name`).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from singanseg_lib.data.images import IMAGE_SUFFIXES
from singanseg_lib.kit.files import atomic_write_text

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("image", "mask", "source_image", "source_path", "model", "sample", "seed", "start_scale",
                    "polyp_share")


@dataclass(frozen=True)
class MatchedPair:
    """A synthetic image matched with its real image (for SIFID); ``sample`` is k of FAKE-k (None
    without a manifest). Not an image/mask pair: see ``data.DatasetPair`` and ``segmentation.Pair``."""

    synthetic: Path
    real: Path
    sample: int | None = None

    @property
    def name(self) -> str:
        return self.synthetic.name


def list_images(folder: str | Path) -> list[Path]:
    """Image files of ``folder`` (not masks), sorted by name; an empty or missing folder raises."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.stem.endswith("_mask") and not p.name.startswith("."))
    if not found:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in it")
    return found


_INT_COLUMNS, _FLOAT_COLUMNS = ("sample", "seed", "start_scale"), ("polyp_share",)
_MAY_BE_EMPTY = ("start_scale",)  # a data-set GAN's sample has none (baselines/samples.py)


def read_manifest(set_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``<set_dir>/manifest.csv`` with sample, seed, start_scale as int and polyp_share as float.

    An empty start_scale (a data-set GAN's sample) is None. Extra columns (added by later steps) are
    kept as strings. A missing file gives ``[]``.
    """
    path = Path(set_dir) / MANIFEST
    if not path.exists():
        return []
    try:
        return _read_rows(path)
    except (UnicodeDecodeError, csv.Error) as e:  # binary junk, a NUL byte, a broken quote
        raise ValueError(f"{path}: not a readable CSV file ({e}); the manifest is damaged") from None


def _read_rows(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = tuple(reader.fieldnames or ())
        if header[:len(MANIFEST_COLUMNS)] != MANIFEST_COLUMNS:
            raise ValueError(f"{path}: not a synthetic-set manifest; its columns must start with "
                             f"{','.join(MANIFEST_COLUMNS)}, found {','.join(header)}")
        rows = []
        for n, row in enumerate(reader, 2):
            try:
                row.update({c: None if c in _MAY_BE_EMPTY and row[c] == "" else int(row[c]) for c in _INT_COLUMNS})
                row.update({c: float(row[c]) for c in _FLOAT_COLUMNS})
            except (TypeError, ValueError) as e:  # a row cut short by a truncation gives None
                raise ValueError(f"{path}:{n}: bad value ({e}); the manifest is damaged or was cut short") from None
            rows.append(row)
    return rows


def write_manifest(set_dir: str | Path, rows, columns: tuple[str, ...] = MANIFEST_COLUMNS) -> None:
    """``rows`` (dicts) as ``<set_dir>/manifest.csv``, atomically, sorted by source image and sample;
    polyp_share with 6 decimals so that rewriting a manifest does not change its text."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: (r["source_image"], int(r["sample"]), r["image"])):
        writer.writerow({**row, "polyp_share": f"{float(row['polyp_share']):.6f}"})
    atomic_write_text(Path(set_dir) / MANIFEST, buf.getvalue())


def manifest_columns(set_dir: str | Path) -> tuple[str, ...]:
    """The header of a set's manifest (the contract's columns plus those later steps added)."""
    with open(Path(set_dir) / MANIFEST, newline="", encoding="utf-8") as fh:
        return tuple(next(csv.reader(fh), ()))


def styled_set_name(set_name: str, tag: str) -> str:
    """The folder name of a set's style-transferred twin: tag ``"none"`` -> the set itself,
    ``"1_1000"`` -> ``<set>_ST-1_1000`` (the tag of content:style 1:1000, ``style.ratio_tag``)."""
    return set_name if tag == "none" else f"{set_name}_ST-{tag}"


def source_of(set_dir: str | Path, row: dict[str, Any], real_dir: str | Path | None = None) -> Path:
    """The real image of a manifest row: ``real_dir/source_image`` if given, else ``source_path``."""
    set_dir = Path(set_dir)
    if real_dir is not None:
        path = Path(real_dir) / row["source_image"]
    elif row.get("source_path"):
        path = Path(row["source_path"])
        path = path if path.is_absolute() else set_dir / path
    else:
        raise ValueError(f"{set_dir / MANIFEST}: row {row['image']} has no source_path; give the real folder")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: real image of {set_dir / row['image']} not found"
                                + ("" if real_dir else "; give the folder of the real images instead"))
    return path


def match_pairs(real: str | Path | None, synthetic: str | Path) -> list[MatchedPair]:
    """Every synthetic image of ``synthetic`` with its real image, sorted by synthetic name.

    ``real``: the folder of real images (None: the manifest's ``source_path``). Unmatched
    images raise ``ValueError`` naming up to five of them.
    """
    synthetic = Path(synthetic)
    rows = read_manifest(synthetic)
    if rows:
        pairs = [MatchedPair(synthetic / r["image"], source_of(synthetic, r, real), r["sample"]) for r in rows]
        missing = [p.synthetic.name for p in pairs if not p.synthetic.is_file()]
        if missing:
            raise FileNotFoundError(f"{synthetic}: {len(missing)} image(s) listed in {MANIFEST} are missing, "
                                    f"e.g. {', '.join(missing[:5])}")
        return sorted(pairs, key=lambda p: p.name)
    if real is None:
        raise ValueError(f"{synthetic}: no {MANIFEST}; give the folder of the real images to pair by file name")
    by_stem: dict[str, Path] = {}
    for path in list_images(real):
        if path.stem in by_stem:
            raise ValueError(f"{real}: two real images share the name {path.stem!r} ({by_stem[path.stem].name}, "
                             f"{path.name}); pairing by name would be ambiguous")
        by_stem[path.stem] = path
    syn = list_images(synthetic)
    unmatched = [p.name for p in syn if p.stem not in by_stem]
    if unmatched:
        raise ValueError(f"{synthetic}: {len(unmatched)} of {len(syn)} image(s) have no real image of the same "
                         f"name in {real}, e.g. {', '.join(unmatched[:5])}")
    return [MatchedPair(p, by_stem[p.stem]) for p in syn]


def split_by_sample(pairs: list[MatchedPair]) -> dict[int, list[MatchedPair]]:
    """The paper's synthetic sets: set k holds sample k of every real image (FAKE-1 is set 0)."""
    if any(p.sample is None for p in pairs):
        raise ValueError("splitting by sample needs a set with a manifest (its 'sample' column)")
    sets: dict[int, list[MatchedPair]] = {}
    for p in pairs:
        sets.setdefault(p.sample, []).append(p)
    return dict(sorted(sets.items()))


def images_by_sample(set_dir: str | Path) -> dict[int, list[Path]]:
    """A synthetic set's image files grouped by ``sample`` (set k = sample k of every real image)."""
    rows = read_manifest(set_dir)
    if not rows:
        raise ValueError(f"{set_dir}: no {MANIFEST}; splitting into the paper's sets needs one")
    sets: dict[int, list[Path]] = {}
    for r in rows:
        sets.setdefault(r["sample"], []).append(Path(set_dir) / r["image"])
    return {k: sorted(v) for k, v in sorted(sets.items())}
