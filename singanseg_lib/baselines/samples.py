"""A baseline GAN's samples: drawn by seed, and written as the kit's synthetic sets.

A data-set GAN's sample has no source image (it learnt from all of them), so its manifest rows
leave ``source_image``, ``source_path`` and ``start_scale`` empty. The paper's sets are kept
apart by ``sample``: set k (FAKE-k+1) holds ``n_per_set`` samples named
``<gan>-<i>_<k>_img.png``, and ``seed`` regenerates each one alone
(:func:`~singanseg_lib.sampling.generate.sample_seed` of the base seed and its number in the
whole export). The FID code reads these sets as it reads SinGAN-Seg's
(:func:`~singanseg_lib.sampling.manifest.images_by_sample`); the per-fold UNet++ experiments,
which need each sample's source image to keep validation images out of training, do not.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from singanseg_lib.baselines.base import threshold_masks
from singanseg_lib.baselines.train import TrainedGAN
from singanseg_lib.data.images import MASK_THRESHOLD
from singanseg_lib.kit.files import OutputExistsError
from singanseg_lib.kit.lock import folder_lock
from singanseg_lib.sampling.generate import sample_seed, to_uint8
from singanseg_lib.sampling.manifest import read_manifest, write_manifest
from singanseg_lib.sampling.synthetic import save_or_keep

__all__ = ["sample", "write_sets"]


def sample(trained: TrainedGAN, seeds: list[int], *, batch_size: int = 64) -> torch.Tensor:
    """``len(seeds) x 4 x size x size`` in [-1, 1] on the CPU: sample i from a latent drawn with ``seeds[i]``
    alone, so a sample does not depend on which others are drawn with it."""
    gan, out = trained.gan, []
    for i in range(0, len(seeds), batch_size):
        z = torch.cat([gan.latent(1, torch.Generator().manual_seed(s)) for s in seeds[i:i + batch_size]])
        out.append(gan.generate(z).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 4, gan.size, gan.size)


def write_sets(trained: TrainedGAN, out_dir: str | Path, *, n_sets: int = 5, n_per_set: int, seed: int = 0,
               overwrite: bool = False, progress: bool = True) -> Path:
    """``n_sets`` sets of ``n_per_set`` samples into ``out_dir`` (images, 0/255 masks and manifest.csv).

    Rerunning with the same GAN and seed keeps what is there (files a killed run left unlisted are
    kept when they hold the same pixels); samples of another GAN or seed raise unless ``overwrite``.
    """
    from tqdm.auto import tqdm

    if min(n_sets, n_per_set) < 1:
        raise ValueError(f"n_sets and n_per_set must be >= 1, got {n_sets} and {n_per_set}")
    out_dir, name, model = Path(out_dir), trained.meta["name"], str(trained.path.resolve())
    with folder_lock(out_dir, "writing a GAN's synthetic sets"):
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = {r["image"]: r for r in read_manifest(out_dir)}
        jobs = [(k, i, sample_seed(seed, k * n_per_set + i)) for k in range(n_sets) for i in range(n_per_set)]
        files = {(k, i): (f"{name}-{i:04d}_{k}_img.png", f"{name}-{i:04d}_{k}_mask.png") for k, i, _ in jobs}
        todo = []
        for k, i, s in jobs:
            img, msk = files[k, i]
            row = rows.get(img)
            if row is not None and (row["model"], row["seed"]) == (model, s):
                if (out_dir / img).is_file() and (out_dir / msk).is_file():
                    continue
            elif row is not None and not overwrite:
                raise OutputExistsError(f"{out_dir / img} is listed from another GAN or seed ({row['model']}, seed "
                                        f"{row['seed']}); pass overwrite=True (CLI: --overwrite) or write elsewhere")
            todo.append((k, i, s))
        for start in tqdm(range(0, len(todo), 64), desc=f"{name} samples", unit="batch", disable=not progress):
            part = todo[start:start + 64]
            x = sample(trained, [s for _, _, s in part])
            images, masks = to_uint8(x[:, :3]), threshold_masks(x).numpy().astype(np.uint8) * 255
            for j, (k, i, s) in enumerate(part):
                img, msk = files[k, i]
                # files a killed run wrote before listing them are kept if they hold these pixels
                save_or_keep(out_dir / img, images[j], mask=False, overwrite=overwrite)
                kept = save_or_keep(out_dir / msk, masks[j], mask=True, overwrite=overwrite)
                rows[img] = {"image": img, "mask": msk, "source_image": "", "source_path": "", "model": model,
                             "sample": k, "seed": s, "start_scale": "", "polyp_share": float((kept > MASK_THRESHOLD).mean())}
            write_manifest(out_dir, rows.values())
    return out_dir
