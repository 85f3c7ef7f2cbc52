"""Synthetic sets: generated samples written to a folder with a manifest, and read back.

A synthetic set (CONTRIBUTING.md) is a folder of ``<image-id>_<k>_img.png`` (RGB) and
``<image-id>_<k>_mask.png`` (one channel, 0/255) with ``manifest.csv``::

    image,mask,source_image,source_path,model,sample,seed,start_scale,polyp_share

``source_image`` is the real training image's file name, ``source_path`` and ``model`` the
absolute paths of that image and of the model folder, ``sample`` is k, ``seed`` the seed that
regenerates the sample alone (:func:`generate.sample_seed` of the base seed and k),
``polyp_share`` the share of mask pixels in [0, 1]. FAKE-N (the paper's first N samples per
image) is the rows with ``sample < N``.

Exports resume: a sample whose manifest row names the same source image, seed and start scale,
and whose two files exist at the expected size, is skipped. Files are written atomically and the
manifest (also atomic) is rewritten after each model and at least every 10 s, so a killed export
loses nothing it finished: files that were written but not yet listed are regenerated, compared
(within one grey level, 0.1 % of mask pixels) and kept. Files that differ are never replaced
unless ``overwrite=True``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from singanseg_lib.data.images import MASK_THRESHOLD, read_image, read_mask, read_mask_grey
from singanseg_lib.kit.files import OutputExistsError, save_image
from singanseg_lib.kit.lock import folder_lock
from singanseg_lib.sampling.generate import iter_sample_batches, sample_seed, to_uint8
from singanseg_lib.sampling.manifest import MANIFEST, MANIFEST_COLUMNS, read_manifest, write_manifest
from singanseg_lib.singan.checkpoint import META_FILE, LoadedModel, load_model

__all__ = ["MANIFEST", "MANIFEST_COLUMNS", "ExportSummary", "ModelSamples", "find_models", "training_models",
           "read_manifest", "read_sample", "load_model_samples", "export_models", "save_or_keep"]

FLUSH_SECONDS = 10.0


@dataclass
class ExportSummary:
    """What an export did. ``written``: samples generated now (files already holding the same pixels
    are kept); ``skipped``: already there; ``seconds``: wall time, model loading included."""

    out_dir: Path
    models: list[str] = field(default_factory=list)
    written: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def samples_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


def find_models(path: str | Path | Sequence[str | Path]) -> list[Path]:
    """A model folder itself, the model folders (with ``model.json``) inside ``path`` by name, or a list of them."""
    if isinstance(path, (list, tuple)):
        missing = [str(p) for p in path if not (Path(p) / META_FILE).is_file()]
        if missing or not path:
            raise FileNotFoundError(f"not trained model folders (no {META_FILE}): {', '.join(missing) or 'none given'}")
        return [Path(p) for p in path]
    path = Path(path)
    if (path / META_FILE).is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder")
    found = sorted(p for p in path.iterdir() if (p / META_FILE).is_file())
    if not found:
        raise FileNotFoundError(f"{path}: no trained models in it (folders with {META_FILE})")
    return found


def training_models(run_dir: str | Path) -> list[Path]:
    """The models notebook 01 trained in ``run_dir`` (``01_training/models/<image-id>/``), by name."""
    models_dir = Path(run_dir) / "01_training" / "models"
    found = sorted(models_dir.glob(f"*/{META_FILE}")) if models_dir.is_dir() else []
    if not found:
        raise FileNotFoundError(f"no trained models in {models_dir}: run notebook 01_training first with the "
                                "same run_dir (or the same preset)")
    return [p.parent for p in found]


def read_sample(set_dir: str | Path, row: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """One sample of a set: (H x W x 3 uint8 image, H x W bool mask), by the kit's one image and mask reader."""
    set_dir = Path(set_dir)
    return read_image(set_dir / row["image"]), read_mask(set_dir / row["mask"])


@dataclass
class ModelSamples:
    """One model's training image and its samples in a set, as read back from the files.

    ``real_image``: 3 x h x w in [-1, 1] and ``real_mask``: h x w bool, the finest scale the model
    was trained on; ``images``: N x H x W x 3 uint8; ``masks``: N x H x W bool; ``rows``: their
    manifest rows, by sample index.
    """

    name: str
    real_image: torch.Tensor
    real_mask: torch.Tensor
    images: np.ndarray
    masks: np.ndarray
    rows: list[dict[str, Any]]


def load_model_samples(set_dir: str | Path, model_dir: str | Path, *, n: int | None = None) -> ModelSamples:
    """The first ``n`` samples (all by default) of one model in a set, with the model's real image.

    Defined for notebook 02. Samples are matched by ``source_image``, as exports resume.
    """
    model_dir = Path(model_dir)
    loaded = load_model(model_dir)
    image_id, source_image, _ = _source(loaded, model_dir)
    rows = sorted((r for r in read_manifest(set_dir) if r["source_image"] == source_image), key=lambda r: r["sample"])
    rows = rows[:n] if n is not None else rows
    if not rows:
        raise FileNotFoundError(f"{Path(set_dir) / MANIFEST}: no samples of {source_image} (model {model_dir})")
    pairs = [read_sample(set_dir, r) for r in rows]
    finest = loaded.reals[-1][0]
    return ModelSamples(image_id, finest[:3].clamp(-1, 1), finest[3] > 0, np.stack([p[0] for p in pairs]),
                        np.stack([p[1] for p in pairs]), rows)


class _Manifest:
    """The manifest of a set being written: rows by image file name, flushed atomically."""

    def __init__(self, set_dir: Path):
        self.set_dir = set_dir
        existing = read_manifest(set_dir)
        if existing and tuple(k for k in existing[0] if k is not None) != MANIFEST_COLUMNS:
            raise ValueError(f"{set_dir / MANIFEST} has extra columns ({', '.join(existing[0])}): it is a later "
                             "step's set; write generated samples to their own folder")
        self.rows = {r["image"]: r for r in existing}
        self.dirty, self.last_flush = False, time.monotonic()

    def set(self, row: dict[str, Any]) -> None:
        self.rows[row["image"]] = row
        self.dirty = True
        if time.monotonic() - self.last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.dirty:
            write_manifest(self.set_dir, self.rows.values())
        self.dirty, self.last_flush = False, time.monotonic()


def _image_size(path: Path) -> tuple[int, int] | None:
    """(height, width) of an image file from its header, or None if it cannot be read."""
    try:
        with Image.open(path) as im:
            return im.size[1], im.size[0]
    except (OSError, ValueError):
        return None


def _read_pixels(path: Path, *, mask: bool) -> np.ndarray:
    """A file the export wrote: mask grey levels (0/255) or RGB pixels."""
    return read_mask_grey(path) if mask else read_image(path)


def _same_pixels(path: Path, new: np.ndarray, *, mask: bool) -> bool:
    """Whether an existing file holds (within float-rounding noise) the pixels about to be written."""
    try:
        old = _read_pixels(path, mask=mask)
    except (OSError, ValueError):
        return False
    if old.shape != new.shape:
        return False
    if mask:
        return float(((old > MASK_THRESHOLD) != (new > MASK_THRESHOLD)).mean()) <= 0.001
    return int(np.abs(old.astype(np.int16) - new.astype(np.int16)).max()) <= 1


def save_or_keep(path: Path, pixels: np.ndarray, *, mask: bool, overwrite: bool) -> np.ndarray:
    """Write ``pixels`` unless the file already holds them (a rerun after a kill); a file holding
    other pixels raises unless ``overwrite``. Returns what the file now holds."""
    if path.exists() and not overwrite:
        if not _same_pixels(path, pixels, mask=mask):
            raise OutputExistsError(f"{path} exists and differs from the sample generated for it; pass "
                                    "overwrite=True (CLI: --overwrite) to replace it")
        return _read_pixels(path, mask=mask)
    save_image(path, Image.fromarray(pixels, mode="L" if mask else "RGB"))
    return pixels


def _source(loaded: LoadedModel, model_dir: Path) -> tuple[str, str, str]:
    """(image id, source image file name, absolute source path) from model.json's ``source``."""
    source = loaded.meta.get("source") or {}
    image_id = str(source.get("image_id") or model_dir.name)
    if not image_id or any(c in image_id for c in '/\\:*?"<>|') or image_id.startswith("."):
        raise ValueError(f"{model_dir / META_FILE}: image_id {image_id!r} cannot be used in a file name")
    raw = source.get("image_path")
    if not raw:
        return image_id, image_id, ""
    path = Path(raw) if Path(raw).is_absolute() else (model_dir / raw)
    return image_id, path.name, str(path.resolve())


def _export_model(loaded: LoadedModel, model_dir: Path, out_dir: Path, manifest: _Manifest, *, n: int, seed: int,
                  start_scale: int, batch_size: int | None, original_size: bool, precision: str, overwrite: bool,
                  progress) -> ExportSummary:
    """Write samples 0..n-1 of one loaded model into the set ``out_dir``; ``progress`` is a tqdm bar."""
    model_dir = model_dir.resolve()
    plan = loaded.pyramid.plan
    image_id, source_image, source_path = _source(loaded, model_dir)
    size = tuple(plan.original_size) if original_size else tuple(plan.sizes[-1])
    summary = ExportSummary(out_dir, models=[str(model_dir)])
    todo, conflicts = [], []
    for k in range(n):
        img, msk = f"{image_id}_{k}_img.png", f"{image_id}_{k}_mask.png"
        row, seed_k = manifest.rows.get(img), sample_seed(seed, k)
        if row is None:
            todo.append(k)
            continue
        same = (row["source_image"], row["seed"], row["start_scale"]) == (source_image, seed_k, start_scale)
        sizes = [_image_size(out_dir / name) for name in (img, msk)]
        if same and sizes == [size, size]:
            summary.skipped += 1
            progress.update(1)
            continue
        if not same or None not in sizes:  # a different sample or size is recorded there
            conflicts.append(img)
        todo.append(k)
    if conflicts and not overwrite:
        raise OutputExistsError(f"{out_dir}: {len(conflicts)} sample(s) of {image_id} exist with another seed, "
                                f"start scale, source or size (e.g. {conflicts[0]}); pass overwrite=True "
                                "(CLI: --overwrite) to replace them, or write to another folder")
    batches = iter_sample_batches(loaded.pyramid, [sample_seed(seed, k) for k in todo], indices=todo,
                                  start_scale=start_scale, batch_size=batch_size,
                                  original_size=original_size, precision=precision) if todo else []
    for batch in batches:
        images = to_uint8(batch.images)
        masks = batch.masks.numpy().astype(np.uint8) * 255
        for i, k in enumerate(batch.indices):
            img, msk = f"{image_id}_{k}_img.png", f"{image_id}_{k}_mask.png"
            save_or_keep(out_dir / img, images[i], mask=False, overwrite=overwrite)
            kept = save_or_keep(out_dir / msk, masks[i], mask=True, overwrite=overwrite)
            manifest.set({"image": img, "mask": msk, "source_image": source_image, "source_path": source_path,
                          "model": str(model_dir), "sample": k, "seed": batch.seeds[i],
                          "start_scale": start_scale, "polyp_share": float((kept > MASK_THRESHOLD).mean())})
            summary.written += 1
            progress.update(1)
    return summary


def export_models(models: str | Path | Sequence[str | Path], out_dir: str | Path, *, n_per_model: int = 10,
                  seed: int = 0, start_scale: int = 0, batch_size: int | None = None, original_size: bool = False,
                  precision: str = "float32", overwrite: bool = False, skip_incomplete: bool = False,
                  device: str | torch.device = "cpu", progress: bool = True) -> ExportSummary:
    """Export ``n_per_model`` samples of every model in ``models`` (a folder of models, one model, or a
    list of model folders) into one set.

    Defined for notebook 02 and ``singanseg generate``. The paper makes 10 samples per image
    with start scale 0. Models still in training raise unless ``skip_incomplete`` (then they
    are left out and not listed in ``summary.models``).
    """
    from tqdm.auto import tqdm

    if not isinstance(n_per_model, int) or n_per_model < 1:
        raise ValueError(f"n_per_model must be a positive int, got {n_per_model!r}")
    model_dirs = find_models(models)
    out_dir = Path(out_dir)
    with folder_lock(out_dir, "generating a synthetic set"):  # one writer at a time (kit/lock.py)
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest = _Manifest(out_dir)
        total, start = ExportSummary(out_dir), time.perf_counter()
        bar = tqdm(total=n_per_model * len(model_dirs), unit="sample", desc="generating", disable=not progress)
        try:
            for model_dir in model_dirs:
                loaded = load_model(model_dir, device=device)
                if not loaded.complete:
                    if skip_incomplete:
                        bar.total -= n_per_model
                        continue
                    raise ValueError(f"{model_dir}: {loaded.pyramid.num_trained} of {loaded.pyramid.plan.num_scales} "
                                     "scales trained; finish training it or skip incomplete models")
                bar.set_postfix_str(model_dir.name, refresh=False)
                part = _export_model(loaded, model_dir, out_dir, manifest, n=n_per_model, seed=seed,
                                     start_scale=start_scale, batch_size=batch_size, original_size=original_size,
                                     precision=precision, overwrite=overwrite, progress=bar)
                manifest.flush()
                total.models += part.models
                total.written += part.written
                total.skipped += part.skipped
        finally:
            manifest.flush()
            bar.close()
            total.seconds = time.perf_counter() - start
        return total
