"""Checkpoints of SinGAN-Seg models: tensors in safetensors, everything else in JSON.

A model is a folder::

    model.json              format version, config, seed, plan, per-scale noise amplitudes,
                            file checksums, versions; written last, so it is the commit point
    scale_00.safetensors    G (and D, for resuming) of scale 0, its z_opt and real image
    scale_01.safetensors    ...

A *shareable* export (``"shareable": true`` in model.json, :mod:`.export`) stores only the
generators: no real image, no z_opt, no discriminator, no paths. It loads with no ``reals`` and
generates from start scale 0 only.

Each scale file is written atomically as soon as the scale is trained; ``model.json`` then
lists it with its sha256. A scale not listed there does not exist, so a run killed at any moment
resumes from its last listed scale. Loading rebuilds the networks from the file's own contents
(widths, kernel size, plan): no pickles, nothing recomputed.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from singanseg_lib import __version__
from singanseg_lib.kit.files import atomic_write_bytes, atomic_write_json, read_json, sha256_file
from singanseg_lib.singan.models import ScaleDiscriminator, ScaleGenerator, SinGANPyramid
from singanseg_lib.singan.pyramid import ScalePlan

FORMAT = "singanseg-kit/singan-seg-model"
FORMAT_VERSION = 1
META_FILE = "model.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read: damaged, incomplete, or from a newer kit."""


@dataclass
class LoadedModel:
    pyramid: SinGANPyramid
    meta: dict[str, Any]
    discriminators: list[ScaleDiscriminator] = field(default_factory=list)
    reals: list[torch.Tensor] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.pyramid.num_trained == self.pyramid.plan.num_scales


def new_meta(plan: ScalePlan, *, channels: int, seed: int | None, config: dict[str, Any],
             source: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model.json of a model with no trained scale yet."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_with": {"singanseg_kit": __version__, "torch": torch.__version__,
                         "python": platform.python_version()},
        "source": source or {},
        "seed": seed,
        "channels": channels,
        "config": config,
        "plan": plan.to_dict(),
        "scales": [],
    }


def save_scale(model_dir: str | Path, meta: dict[str, Any], scale: int, generator: ScaleGenerator,
               *, noise_amp: float, z_opt: torch.Tensor, real: torch.Tensor,
               discriminator: ScaleDiscriminator | None = None, info: dict[str, Any] | None = None) -> dict:
    """Write scale ``scale`` and then commit it in model.json; returns the updated meta.

    ``info`` (seconds, final losses, ...) is recorded with the scale.
    """
    model_dir = Path(model_dir)
    if scale != len(meta["scales"]):
        raise ValueError(f"scale {scale} saved out of order: {len(meta['scales'])} scales are recorded")
    tensors = {f"G.{k}": v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    if discriminator is not None:
        tensors.update({f"D.{k}": v.detach().cpu().contiguous() for k, v in discriminator.state_dict().items()})
    tensors["z_opt"] = z_opt.detach().float().cpu().contiguous()
    tensors["real"] = real.detach().float().cpu().contiguous()
    name = f"scale_{scale:02d}.safetensors"
    # serialised here and written by Python, so a full disk is a DiskFullError naming the file (safetensors'
    # own writer reports it as an opaque SafetensorError)
    atomic_write_bytes(model_dir / name, save(tensors, metadata={"format": FORMAT, "scale": str(scale)}))
    entry = {"file": name, "sha256": sha256_file(model_dir / name), "noise_amp": float(noise_amp),
             "widths": list(generator.widths), "kernel_size": generator.kernel_size,
             "has_discriminator": discriminator is not None, **(info or {})}
    meta = {**meta, "scales": [*meta["scales"], entry]}
    atomic_write_json(model_dir / META_FILE, meta)
    return meta


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    """model.json, checked for format and version."""
    path = Path(model_dir) / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; {model_dir} is not a trained model folder")
    meta = read_json(path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a singanseg-kit model (format {meta.get('format')!r}"
                              if isinstance(meta, dict) else f"{path}: not a singanseg-kit model")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version} is newer than this kit reads "
                              f"({FORMAT_VERSION}); update singanseg-kit")
    return meta


def _load_scale_file(path: Path, expected_sha256: str) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise CheckpointError(f"{path}: listed in {META_FILE} but missing")
    if sha256_file(path) != expected_sha256:
        raise CheckpointError(f"{path}: checksum differs from {META_FILE}; the file is damaged or was replaced")
    try:
        return load_file(str(path))
    except SafetensorError as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None


def _sub_state(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_model(model_dir: str | Path, *, device: str | torch.device = "cpu",
               with_discriminators: bool = False) -> LoadedModel:
    """Rebuild a model (all its recorded scales) from its folder.

    Generators come back frozen in eval mode. ``with_discriminators`` also rebuilds the
    discriminators (to resume training). Damaged files, a newer format or a missing scale
    raise :class:`CheckpointError` naming the file.
    """
    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    try:
        return _rebuild(model_dir, meta, device, with_discriminators)
    except (KeyError, TypeError, IndexError, AttributeError) as e:  # valid JSON, but not a whole model.json
        raise CheckpointError(f"{model_dir / META_FILE}: damaged or incomplete (missing or malformed entry: "
                              f"{type(e).__name__}: {e})") from None


def _rebuild(model_dir: Path, meta: dict[str, Any], device, with_discriminators: bool) -> LoadedModel:
    plan = ScalePlan.from_dict(meta["plan"])
    pyramid = SinGANPyramid(plan, channels=meta["channels"])
    discriminators, reals = [], []
    shareable = bool(meta.get("shareable"))
    if shareable and with_discriminators:
        raise CheckpointError(f"{model_dir / META_FILE}: a shareable export holds no discriminators and no real "
                              "image; it can generate (start scale 0) but not resume training")
    for i, entry in enumerate(meta["scales"]):
        tensors = _load_scale_file(model_dir / entry["file"], entry["sha256"])
        widths, ks = tuple(entry["widths"]), entry["kernel_size"]
        g = ScaleGenerator(meta["channels"], widths, ks)
        try:
            g.load_state_dict(_sub_state(tensors, "G."))
            if with_discriminators:
                if not entry.get("has_discriminator"):
                    raise CheckpointError(f"{model_dir / entry['file']}: no discriminator stored (an imported "
                                          "model); it can generate but not resume training")
                d = ScaleDiscriminator(meta["channels"], widths, ks)
                d.load_state_dict(_sub_state(tensors, "D."))
                discriminators.append(d.to(device))
        except RuntimeError as e:
            raise CheckpointError(f"{model_dir / entry['file']}: tensors do not fit the recorded networks ({e})") \
                from None
        if shareable:
            pyramid.add_scale(g, entry["noise_amp"], None)
            continue
        pyramid.add_scale(g, entry["noise_amp"], tensors["z_opt"])
        reals.append(tensors["real"].to(device))
    return LoadedModel(pyramid.to(device), meta, discriminators, reals)
