"""The segmentation experiments' results: fold averages, the metrics.json entries, predictions to look at.

Used by notebooks 06 and 07; the entries written by :func:`table_entry` follow the schema in
:mod:`report`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from singanseg_lib.segmentation.experiments import RunSpec, run_key
from singanseg_lib.segmentation.pairs import Pair, load_pairs
from singanseg_lib.segmentation.unetpp import METRIC_NAMES, SegmentConfig, load_segmenter, predict

__all__ = ["summarise", "table_entry", "data_description", "fold_summary", "predict_rows", "small_data_shares",
           "small_data_gains"]


def summarise(results: Sequence[Mapping[str, Any]], *, variant: str = "") -> dict[str, dict[str, Any]]:
    """Per row: each metric's mean over folds (the paper's 3-fold average), its SD, and the folds used.

    Only results of ``variant`` ("" or "albumentations") are taken; rows keep the order of ``results``.
    """
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        if r.get("variant", "") == variant:
            rows.setdefault(r["row"], []).append(r)
    out = {}
    for row, runs in rows.items():
        entry: dict[str, Any] = {m: float(np.mean([r["metrics"][m] for r in runs])) for m in METRIC_NAMES}
        # sample SD over folds (ddof 1, as the paper's tables report SDs); None for a single fold
        entry.update({f"{m}_sd": float(np.std([r["metrics"][m] for r in runs], ddof=1)) if len(runs) > 1 else None
                      for m in METRIC_NAMES})
        entry.update(folds=[r["fold"] for r in runs], n_train=[r["n_train"] for r in runs],
                     n_val=[r["n_val"] for r in runs], best_epoch=[r["best_epoch"] for r in runs])
        out[row] = entry
    return out


def data_description(data_dir: str, real: Sequence[Pair], modelled: Sequence[str], set_dirs: Sequence[Path]) -> str:
    """One line saying which real and synthetic data a table comes from."""
    sets = ", ".join(f"{Path(d).parent.name}/{Path(d).name}" for d in set_dirs)
    return (f"{data_dir or 'bundled sample (data/sample)'}: {len(real)} real images, {len(modelled)} with a "
            f"SinGAN-Seg model; synthetic: {sets or 'none'}")


def table_entry(rows: Mapping[str, Any], results: Sequence[Mapping[str, Any]], config: SegmentConfig, *,
                data: str, cv_folds: int | None = None, per_image: int | None = None,
                reduction: str = "micro over the validation set") -> dict[str, Any]:
    """A table's entry for metrics.json (schema in :mod:`report`): rows plus what they were computed with.

    ``cv_folds``: the number of cross-validation folds averaged (experiment 1), said in the settings.
    ``per_image`` (experiment 2): synthetic samples per real image; when it is not the paper's 10,
    the row ``fake_<per_image*R>`` is saved as the paper's ``fake_<10R>`` (same R, so the report
    sets it beside the paper's row) with its real count in ``n_train`` and the settings.
    """
    if per_image and per_image != 10:
        rows = {f"fake_{10 * int(k[5:]) // per_image}" if k.startswith("fake_") else k: v for k, v in rows.items()}
        data += f"; synthetic rows use {per_image} samples per real image (the paper: 10), named as the paper's fake_<10R>"
    weights = sorted({r["weights"] for r in results}) or ["none run"]
    augmented = sorted({bool(r["config"]["augment"]) for r in results}) or [config.augment]
    augmentation = " / ".join("Albumentations" if a else "no augmentation" for a in augmented)
    return {
        "rows": dict(rows),
        "weights": "; ".join(weights),
        "data": data,
        "settings": (f"{f'{cv_folds}-fold CV average, ' if cv_folds else ''}UNet++ {config.encoder}, "
                     f"{config.image_size} px, {config.epochs} epochs, lr {config.lr:g} "
                     f"then {config.lr_after_drop:g} from epoch {config.lr_drop_epoch}, batch {config.batch_size}, "
                     f"{augmentation}, sigmoid output, metrics {reduction}, best epoch by validation IoU"),
        "config": config.to_dict(),
        "runs": len(results),
        "cached_runs": sum(bool(r.get("cached")) for r in results),
        "train_seconds": round(sum(r["seconds"] for r in results if not r.get("cached")), 1),
    }


def fold_summary(folds: Sequence[Sequence[str]], modelled: Sequence[str]):
    """A DataFrame: per fold, its images and how many have a SinGAN-Seg model."""
    import pandas as pd

    have = set(modelled)
    return pd.DataFrame({"images": [len(f) for f in folds], "with a model": [sum(i in have for i in f) for f in folds],
                         "examples": [", ".join(f[:3]) + (" ..." if len(f) > 3 else "") for f in folds]},
                        index=[f"fold {i + 1}" for i in range(len(folds))])


def predict_rows(specs: Sequence[RunSpec], store: str | Path, rows: Sequence[str], *, fold: int = 0, variant: str = "",
                 n: int = 4, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The first ``n`` validation images of ``fold``, their masks and each row's best-model prediction (bool)."""
    chosen = {s.row: s for s in specs if s.fold == fold and s.variant == variant and s.row in rows}
    missing = [r for r in rows if r not in chosen]
    if missing:
        raise KeyError(f"no run of row(s) {', '.join(missing)} for fold {fold + 1}; rows: {', '.join(sorted({s.row for s in specs}))}")
    first = chosen[rows[0]]
    val = load_pairs(first.val[:n], size=first.config.image_size)
    predictions = {}
    for row in rows:
        model, config, _ = load_segmenter(Path(store) / run_key(chosen[row]), device=device)
        predictions[row] = (predict(model, val.images, config, device=device) > config.threshold).numpy()
    return val.images, val.masks, predictions


def small_data_shares(specs: Sequence[RunSpec]) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    """Polyp share of every training mask of experiment 2: ({R: real shares}, {R: synthetic shares}), at the training size."""
    real, fake = {}, {}
    for s in specs:
        if s.variant:
            continue
        shares = load_pairs(s.train, size=s.config.image_size).masks.mean(axis=(1, 2)).tolist()
        if s.row.startswith("real_"):
            real[int(s.row[5:])] = shares
        else:
            r = len({p.source for p in s.train})
            fake[r] = shares
    return real, fake


def small_data_gains(rows: Mapping[str, Mapping[str, float]], *, per_image: int, metric: str = "iou") -> dict[int, float]:
    """{R: metric of the synthetic run minus that of the real run}: positive where synthetic data helped."""
    rs = sorted(int(k[5:]) for k in rows if k.startswith("real_"))
    return {r: rows[f"fake_{per_image * r}"][metric] - rows[f"real_{r}"][metric]
            for r in rs if f"fake_{per_image * r}" in rows}
