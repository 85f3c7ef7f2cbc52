"""The paper's segmentation experiments: who trains on what, without leakage, cached and resumable.

**Folds** are the series' split (notebook 00's ``folds.json``, :func:`series_folds`).

**Experiment 1** (Table 2, Fig 9; notebook 06): k-fold cross-validation (k = 3) over the real
images. For each fold, UNet++ trains either on the real images of the other folds (``real``) or
only on synthetic samples of those images' SinGAN-Seg models — FAKE-N = the first N samples per
training image (``sample < N``) — without style transfer or with content:style 1:1 or 1:1000
(rows ``fake<N>_no_st``, ``fake<N>_st_1_1``, ``fake<N>_st_1_1000``, as ``paper_results.yaml``).
Validation is always the held-out real fold. Where not every real image has a model (a classroom
run trains a few), both the real and the synthetic training lists use only the training-fold
images that have one, so the two sides see the same source images; validation still uses every
image of the held-out fold, and a fold whose training folds hold no model is skipped
(:func:`trainable_folds`).

**Experiment 2** (Table 3, Figs 10-11; notebook 07): from fold 1, the first R images that have a
model (R = 5, 10, ..., 50; subsets are nested) vs the ``per_image`` (paper: 10) first synthetic
samples of each (ST 1:1000), validated on all other folds. Rows ``real_<R>`` and ``fake_<10R>``;
the paper's Discussion variant adds Albumentations on both sides (``augment=True``); the
Table 3 rows are read here as trained without it (the paper does not say clearly).

**Leakage** (the paper's warning, ref. 62): :func:`check_no_leakage` refuses a training list in
which a validation image, or a sample generated from one (manifest ``source_image``), or a file
with the same bytes as a validation file appears. Every planned run passes through it.

**Caching**: a run is keyed by the hash of its config, seed and data (names and sha256 of every
training and validation file). ``<store>/<key>/result.json`` marks it done; a rerun loads it, and
an interrupted run resumes from its saved training state (:func:`segment.train_segmentation`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from singanseg_lib.data.folds import Folds, load_folds, make_folds
from singanseg_lib.kit.env import environment_info
from singanseg_lib.kit.files import read_json, sha256_file
from singanseg_lib.kit.lock import folder_lock
from singanseg_lib.segmentation.pairs import Pair, load_pairs
from singanseg_lib.segmentation.unetpp import SegmentConfig, encoder_start, train_segmentation, write_result

__all__ = ["ST_CHOICES", "LeakageError", "RunSpec", "row_name", "series_folds", "trainable_folds", "check_no_leakage",
           "real_vs_fake_training",
           "plan_real_vs_fake", "plan_small_data", "run_key", "run_experiment", "KEY_VERSION"]

ST_CHOICES = ("none", "1_1", "1_1000")  # content:style ratios of notebook 04 ("none": no style transfer)
RESULT_FILE = "result.json"
KEY_VERSION = 1  # bump when a change to training makes old cached results invalid


class LeakageError(ValueError):
    """A training list holds a validation image or something made from one."""


@dataclass(frozen=True)
class RunSpec:
    """One UNet++ training: which table row it fills, on which data, with which settings."""

    experiment: str  # "real_vs_fake" | "small_data"
    row: str  # the row key of paper_results.yaml, e.g. "fake3_st_1_1000", "real_5"
    fold: int  # validation fold (0-based); experiment 2 validates on every fold but the first
    train: tuple[Pair, ...]
    val: tuple[Pair, ...]
    config: SegmentConfig
    seed: int
    variant: str = ""  # "" or "albumentations" (experiment 2's Discussion variant)


def row_name(fake_n: int, st: str) -> str:
    """Table 2's row key: ``fake<N>_no_st`` or ``fake<N>_st_<ratio>``."""
    if st not in ST_CHOICES:
        raise KeyError(f"style transfer {st!r}: choose one of {', '.join(ST_CHOICES)}")
    return f"fake{fake_n}_no_st" if st == "none" else f"fake{fake_n}_st_{st}"


def series_folds(run_dir: str | Path, ids: Sequence[str], *, k: int = 3, seed: int = 0) -> Folds:
    """The series' k-fold split of ``ids``; its ``source`` says where it came from.

    Notebook 00 saves its split as ``<run_dir>/00_data/folds.json``; when that file splits the
    same ids into ``k`` folds it is used as is, otherwise the split is made the same way
    (:func:`~singanseg_lib.data.folds.make_folds`: the same ids, k and seed give the same folds).
    Notebooks 06 and 07 save the split they used with :func:`~singanseg_lib.data.folds.save_folds`.
    """
    saved = Path(run_dir) / "00_data" / "folds.json"
    if saved.is_file():
        folds = load_folds(saved)
        if folds.k == k and sorted(i for f in folds.folds for i in f) == sorted(set(ids)):
            return replace(folds, source=str(saved))
    why = f" ({saved} splits other images or into other folds)" if saved.is_file() else ""
    return make_folds(ids, k, seed=seed, source=f"made here: {k} folds, seed {seed}{why}")


def trainable_folds(folds: Sequence[Sequence[str]], modelled: Sequence[str]) -> list[int]:
    """The validation folds whose training folds hold at least one image with a SinGAN-Seg model.

    Every fold when every image has a model (the paper); a run with few models may leave a fold
    with nothing to train on, and experiment 1 then skips it and says so.
    """
    have = set(modelled)
    return [i for i in range(len(folds)) if any(x in have for j, f in enumerate(folds) if j != i for x in f)]


_HASHES: dict[tuple, str] = {}


def file_hash(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) for this process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = sha256_file(path)
    return _HASHES[key]


def check_no_leakage(train: Sequence[Pair], val: Sequence[Pair]) -> None:
    """Raise :class:`LeakageError` if any training pair is, or was generated from, a validation image.

    Checked: the ``source`` of every training pair (a real image's own id; for a synthetic sample
    the real image its model was trained on) against the validation ids, and the bytes of every
    training image against those of the validation images (a copy under another name).
    """
    val_ids = {p.source for p in val}
    bad = [p for p in train if p.source in val_ids]
    if bad:
        shown = ", ".join(f"{p.name} ({p.kind}, from {p.source})" for p in bad[:5])
        raise LeakageError(f"{len(bad)} training pair(s) come from validation images: {shown}")
    val_bytes = {file_hash(p.image): p for p in val}
    copies = [(p, val_bytes[h]) for p in train if (h := file_hash(p.image)) in val_bytes]
    if copies:
        shown = ", ".join(f"{a.image} = {b.image}" for a, b in copies[:5])
        raise LeakageError(f"{len(copies)} training image(s) are byte-identical to validation images: {shown}")


def _by_source(samples: Sequence[Pair]) -> dict[str, list[Pair]]:
    out: dict[str, list[Pair]] = {}
    for p in sorted(samples, key=lambda p: (p.source, p.sample)):
        out.setdefault(p.source, []).append(p)
    return out


def _first_n(by_source: Mapping[str, list[Pair]], ids: Sequence[str], n: int, set_label: str) -> list[Pair]:
    """The first ``n`` samples (``sample < n``) of each id; raises naming ids that have fewer."""
    out, short = [], []
    for i in ids:
        got = [p for p in by_source.get(i, []) if p.sample < n]
        (out.extend(got) if len(got) == n else short.append(f"{i} ({len(got)})"))
    if short:
        raise ValueError(f"{set_label}: {len(short)} image(s) have fewer than {n} samples (k < {n}): "
                         f"{', '.join(short[:5])}; generate more samples per image or ask for fewer")
    return out


def real_vs_fake_training(real: Sequence[Pair], folds: Sequence[Sequence[str]], fold: int,
                          synthetic: Sequence[Pair] | None = None, *, fake_n: int = 0,
                          modelled: Sequence[str] | None = None, set_label: str = "synthetic set"
                          ) -> tuple[list[Pair], list[Pair]]:
    """(training, validation) pairs of experiment 1 for validation fold ``fold``; leakage is checked.

    ``synthetic=None``: the real images of the other folds; else FAKE-``fake_n`` of ``synthetic``:
    the first ``fake_n`` samples of each training image. Only training images in ``modelled``
    (default: every image that has samples in ``synthetic``) are used.
    """
    seen = [i for f in folds for i in f]
    if len(seen) != len(set(seen)):
        dup = sorted({i for i in seen if seen.count(i) > 1})
        raise LeakageError(f"folds overlap: {', '.join(dup[:5])} in more than one fold")
    if not 0 <= fold < len(folds):
        raise ValueError(f"fold {fold}: there are {len(folds)} folds (0-based)")
    by_id = {p.source: p for p in real}
    missing = sorted(set(seen) - set(by_id))
    if missing:
        raise ValueError(f"folds name images that are not in the data: {', '.join(missing[:5])}")
    val = [by_id[i] for i in folds[fold]]
    keep = set(modelled) if modelled is not None else ({p.source for p in synthetic} if synthetic else set(by_id))
    train_ids = [i for f, ids in enumerate(folds) if f != fold for i in ids if i in keep]
    if not train_ids:
        raise ValueError(f"fold {fold}: no training image with a SinGAN-Seg model in the other folds")
    if synthetic is None:
        train = [by_id[i] for i in train_ids]
    else:
        train = _first_n(_by_source(synthetic), train_ids, fake_n, set_label)
    check_no_leakage(train, val)
    return train, val


def plan_real_vs_fake(real: Sequence[Pair], folds: Sequence[Sequence[str]], sets: Mapping[str, Sequence[Pair]],
                      *, fake_ns: Sequence[int] = (1, 2, 3, 4, 5), config: SegmentConfig, seed: int,
                      modelled: Sequence[str] | None = None, only_folds: Sequence[int] | None = None) -> list[RunSpec]:
    """Experiment 1's runs: per fold, ``real`` then every FAKE-N x style transfer in ``sets`` ({st: pairs}).

    Training images are ``modelled`` (default: those with samples in every set), so all rows see
    the same sources. ``only_folds``: the validation folds to run (default: all).
    """
    unknown = sorted(set(sets) - set(ST_CHOICES))
    if unknown:
        raise KeyError(f"style transfer {', '.join(unknown)}: choose from {', '.join(ST_CHOICES)}")
    if modelled is None:
        modelled = set.intersection(*({p.source for p in s} for s in sets.values())) if sets else {p.source for p in real}
    specs = []
    for fold in (range(len(folds)) if only_folds is None else only_folds):
        train, val = real_vs_fake_training(real, folds, fold, modelled=sorted(modelled))
        specs.append(RunSpec("real_vs_fake", "real", fold, tuple(train), tuple(val), config, seed))
        for n in fake_ns:
            for st in [s for s in ST_CHOICES if s in sets]:
                train, val = real_vs_fake_training(real, folds, fold, sets[st], fake_n=n, modelled=sorted(modelled),
                                                   set_label=f"synthetic set (ST {st})")
                specs.append(RunSpec("real_vs_fake", row_name(n, st), fold, tuple(train), tuple(val), config, seed))
    return specs


def plan_small_data(real: Sequence[Pair], folds: Sequence[Sequence[str]], synthetic: Sequence[Pair], *,
                    r_values: Sequence[int] = tuple(range(5, 55, 5)), per_image: int = 10,
                    variants: Sequence[str] = ("", "albumentations"), config: SegmentConfig,
                    seed: int) -> list[RunSpec]:
    """Experiment 2's runs: for each R, ``real_<R>`` and ``fake_<per_image*R>``, for each variant.

    The pool is the images of fold 1 (``folds[0]``) with at least ``per_image`` samples in
    ``synthetic``, in fold order; validation is every other fold. An R larger than the pool raises.
    """
    by_id = {p.source: p for p in real}
    samples = _by_source(synthetic)
    pool = [i for i in folds[0] if len([p for p in samples.get(i, []) if p.sample < per_image]) == per_image]
    if not pool or not r_values:
        raise ValueError(f"nothing to train: fold 1 has {len(pool)} image(s) with {per_image} synthetic samples and "
                         f"R = {list(r_values)}; train more models (notebook 01) or style more samples per image "
                         "(notebook 04)")
    too_big = [r for r in r_values if r > len(pool)]
    if too_big:
        raise ValueError(f"R = {too_big}: fold 1 has only {len(pool)} image(s) with {per_image} synthetic samples each")
    val = [by_id[i] for f in folds[1:] for i in f]
    specs = []
    for variant in variants:
        if variant not in ("", "albumentations"):
            raise KeyError(f"variant {variant!r}: choose '' (no augmentation) or 'albumentations'")
        cfg = dataclasses.replace(config, augment=variant == "albumentations")
        for r in r_values:
            real_train = [by_id[i] for i in pool[:r]]
            fake_train = _first_n(samples, pool[:r], per_image, "synthetic set (ST 1_1000)")
            for row, train in ((f"real_{r}", real_train), (f"fake_{per_image * r}", fake_train)):
                check_no_leakage(train, val)
                specs.append(RunSpec("small_data", row, 0, tuple(train), tuple(val), cfg, seed, variant))
    return specs


def _describe(pairs: Sequence[Pair]) -> list[list[str]]:
    return [[p.name, p.kind, p.source, file_hash(p.image), file_hash(p.mask)] for p in pairs]


def run_key(spec: RunSpec) -> str:
    """The cache key of a run: sha256 of config, seed and data (names and file hashes), 20 hex digits.

    The row name and fold are not part of it: the same training is the same result wherever it appears.
    The ImageNet file the encoder starts from is (by name): with ``encoder_weights="auto"`` a run
    made without weights is not reused once they are found.
    """
    key = {"version": KEY_VERSION, "config": spec.config.to_dict(), "seed": spec.seed,
           "train": _describe(spec.train), "val": _describe(spec.val)}
    start, _ = encoder_start(spec.config)
    if start is not None:
        key["encoder_file"] = start.name
    blob = json.dumps(key, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def run_experiment(specs: Sequence[RunSpec], store: str | Path, *, device: str = "cpu", progress: bool = True,
                   on_run: Callable[[RunSpec, dict], None] | None = None) -> list[dict[str, Any]]:
    """Train every run not yet done (in order) and return all results, cached ones included.

    Results are ``<store>/<key>/result.json`` (see :func:`run_key`); each returned dict also has
    ``cached``: whether it was loaded instead of trained now. ``on_run(spec, result)`` is called
    after each run (e.g. to print or plot as results arrive).
    """
    from tqdm.auto import tqdm

    store = Path(store)
    with folder_lock(store, "UNet++ experiments"):  # one writer at a time (kit/lock.py)
        results = []
        for spec in tqdm(specs, desc="UNet++ runs", disable=not progress):
            key = run_key(spec)
            path = store / key / RESULT_FILE
            if path.is_file():
                result = {**read_json(path), "cached": True}
            else:
                out = train_segmentation(load_pairs(spec.train, size=spec.config.image_size),
                                         load_pairs(spec.val, size=spec.config.image_size), spec.config, seed=spec.seed,
                                         device=device, state_dir=store / key, progress=progress)
                write_result(path, out, key=key, experiment=spec.experiment, row=spec.row, fold=spec.fold,
                             variant=spec.variant, seed=spec.seed, config=spec.config.to_dict(),
                             n_train=len(spec.train), n_val=len(spec.val), environment=environment_info(device),
                             train=[p.name for p in spec.train], val=[p.name for p in spec.val])
                result = {**read_json(path), "cached": False}
            results.append(result)
            if on_run:
                on_run(spec, result)
        return results
