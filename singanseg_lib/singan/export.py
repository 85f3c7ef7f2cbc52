"""Shareable exports of trained models: what generation needs, and nothing of the patient's image.

A model folder as training writes it (:mod:`.checkpoint`) gives its training image away three
times over: every ``scale_NN.safetensors`` stores the real image and mask of that scale, the
fixed reconstruction noise ``z_opt`` regenerates the image through the generators, and
``model.json`` records the absolute paths of the user's files. The reference code does the
same (``reals.pth``, ``Zs.pth``). :func:`export_shareable` writes a copy that keeps only:

- the generators of every scale (weights and BatchNorm statistics: what sampling runs),
- the noise amplitudes, the scale plan (sizes, widths, original size) and the training config,
- the image id (``source.image_id``), which names samples, and the source kind where imported.

It drops the real pyramid, ``z_opt``, the discriminators, every path, per-scale training logs
and the reference files' checksums (a checksum of ``reals.pth`` fingerprints the image).
``model.json`` then carries ``"shareable": true``. Generation from start scale 0 uses none of
the dropped tensors, so its samples are bit for bit those of the full model for the same
seeds; a start scale above 0 or a reconstruction replays ``z_opt`` and raises
:class:`~singanseg_lib.singan.models.ShareableModelError` saying so. Imported published
generators (:mod:`singanseg_lib.published.importer`) are kit model folders and export the
same way. What a shareable model's *samples* still reveal is the subject of
:mod:`singanseg_lib.privacy` (notebook 05b).
"""
from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from singanseg_lib import __version__
from singanseg_lib.kit.files import OutputExistsError, atomic_path, atomic_write_json, sha256_file
from singanseg_lib.singan.checkpoint import FORMAT, META_FILE, CheckpointError, load_model

__all__ = ["SHAREABLE_KEY", "KEPT_SOURCE_KEYS", "shareable_meta", "export_shareable", "export_shareable_folder",
           "export_shareable_any", "is_shareable", "folder_bytes"]

SHAREABLE_KEY = "shareable"
KEPT_SOURCE_KEYS = ("image_id", "kind")  # nothing else of model.json["source"] survives an export


def is_shareable(meta: dict[str, Any]) -> bool:
    return bool(meta.get(SHAREABLE_KEY))


def shareable_meta(meta: dict[str, Any], files: list[tuple[str, str]]) -> dict[str, Any]:
    """The model.json of the export: ``meta`` without paths, logs or checksums of the originals.

    ``files``: (file name, sha256) of each exported scale, in scale order.
    """
    source = meta.get("source") or {}
    kept_source = {k: source[k] for k in KEPT_SOURCE_KEYS if source.get(k) is not None}
    scales = [{"file": name, "sha256": digest, "noise_amp": float(entry["noise_amp"]),
               "widths": list(entry["widths"]), "kernel_size": int(entry["kernel_size"]),
               "has_discriminator": False} for entry, (name, digest) in zip(meta["scales"], files)]
    return {
        "format": FORMAT,
        "format_version": meta["format_version"],
        SHAREABLE_KEY: True,
        "created_with": {"singanseg_kit": __version__, "torch": torch.__version__,
                         "python": platform.python_version()},
        "exported": "generators, noise amplitudes, plan and config only: no real image, no reconstruction "
                    "noise z_opt, no discriminators, no paths; generates from start scale 0 only",
        "source": kept_source,
        "seed": meta.get("seed"),
        "channels": meta["channels"],
        "config": meta.get("config", {}),
        "plan": meta["plan"],
        "scales": scales,
    }


def export_shareable(model_dir: str | Path, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write the shareable export of the model in ``model_dir`` to ``out_dir``; returns ``out_dir``.

    The model must be complete (every scale trained). The export is assembled in a hidden folder
    beside ``out_dir``, read back through :func:`~.checkpoint.load_model` and only then renamed,
    so an interrupted export leaves nothing that looks like a model. An existing ``out_dir``
    raises unless ``overwrite``; exporting a shareable model again is refused (nothing to drop).
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if model_dir.resolve() == out_dir.resolve():
        raise ValueError(f"{out_dir}: the export would replace the model it is made from; choose another folder")
    loaded = load_model(model_dir)
    if is_shareable(loaded.meta):
        raise ValueError(f"{model_dir / META_FILE}: already a shareable export; copy the folder instead")
    if not loaded.complete:
        raise CheckpointError(f"{model_dir}: {loaded.pyramid.num_trained} of {loaded.pyramid.plan.num_scales} "
                              "scales trained; finish its training before exporting it")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out_dir} already holds files; pass overwrite=True (CLI: --overwrite) to replace them")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        files = []
        for s, g in enumerate(loaded.pyramid.generators):
            name = f"scale_{s:02d}.safetensors"
            tensors = {f"G.{k}": v.detach().cpu().contiguous() for k, v in g.state_dict().items()}
            with atomic_path(tmp / name) as part:
                save_file(tensors, str(part), metadata={"format": FORMAT, "scale": str(s), SHAREABLE_KEY: "true"})
            files.append((name, sha256_file(tmp / name)))
        atomic_write_json(tmp / META_FILE, shareable_meta(loaded.meta, files))
        load_model(tmp)  # read back through the kit's own loader before committing
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def export_shareable_folder(models_dir: str | Path, out_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Export every model folder inside ``models_dir`` to ``out_dir/<same name>``; returns the exports."""
    models_dir = Path(models_dir)
    found = sorted(p for p in models_dir.iterdir() if (p / META_FILE).is_file()) if models_dir.is_dir() else []
    if not found:
        raise FileNotFoundError(f"{models_dir}: no model folders (with {META_FILE}) in it")
    return [export_shareable(p, Path(out_dir) / p.name, overwrite=overwrite) for p in found]


def export_shareable_any(path: str | Path, out_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """A model folder (exported to ``out_dir``) or a folder of them (to ``out_dir/<name>``)."""
    path = Path(path)
    if (path / META_FILE).is_file():
        return [export_shareable(path, out_dir, overwrite=overwrite)]
    return export_shareable_folder(path, out_dir, overwrite=overwrite)


def folder_bytes(folder: str | Path) -> int:
    """Total size of the files in ``folder`` (not recursive), to compare a model with its export."""
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())
