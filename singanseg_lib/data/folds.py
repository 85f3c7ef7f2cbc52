"""Seeded k-fold splits of a data set's ids, saved as JSON with the run that made them.

The paper's segmentation experiments use 3 folds of the 1,000 real images (docs/algorithm.md
§8.2): train on two, validate on the third. A split depends only on the set of ids and the seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from singanseg_lib.kit.files import atomic_write_json, read_json

__all__ = ["Folds", "make_folds", "save_folds", "load_folds"]


@dataclass(frozen=True)
class Folds:
    """A seeded k-fold split of ids; ``folds[i]`` is the validation part of split ``i`` (0-based)."""

    folds: tuple[tuple[str, ...], ...]
    seed: int
    source: str = ""

    @property
    def k(self) -> int:
        return len(self.folds)

    def val_ids(self, i: int) -> list[str]:
        return list(self.folds[i])

    def train_ids(self, i: int) -> list[str]:
        return sorted(x for j, fold in enumerate(self.folds) if j != i for x in fold)


def make_folds(ids, k: int = 3, *, seed: int = 0, source: str = "") -> Folds:
    """Split ``ids`` into ``k`` disjoint folds of near-equal size (the paper: 3 folds).

    The ids are sorted first and shuffled with ``numpy.random.default_rng(seed)``, so the split
    depends on the set of ids and the seed only, never on directory order.
    """
    ids = sorted(set(ids))
    if not 2 <= k <= len(ids):
        raise ValueError(f"k = {k} folds needs 2 <= k <= {len(ids)} (the number of ids)")
    order = np.random.default_rng(seed).permutation(len(ids))
    parts = np.array_split(order, k)
    return Folds(tuple(tuple(sorted(ids[i] for i in part)) for part in parts), seed, str(source))


def save_folds(folds: Folds, path: str | Path, *, overwrite: bool = True) -> Path:
    """Write the split as JSON (k, seed, source and the ids of each fold)."""
    return atomic_write_json(path, {"k": folds.k, "seed": folds.seed, "source": folds.source,
                                    "folds": [list(f) for f in folds.folds]}, overwrite=overwrite)


def load_folds(path: str | Path) -> Folds:
    """Read a split written by :func:`save_folds`; a damaged or overlapping split raises ValueError."""
    record = read_json(path)
    try:
        folds = tuple(tuple(str(x) for x in fold) for fold in record["folds"])
        out = Folds(folds, int(record["seed"]), str(record.get("source", "")))
        if out.k != int(record["k"]):
            raise ValueError(f"k is {record['k']} but {out.k} folds are listed")
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a fold file ({e!r})") from None
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    seen = [x for fold in folds for x in fold]
    if len(seen) != len(set(seen)):
        raise ValueError(f"{path}: an id appears in more than one fold")
    return out
