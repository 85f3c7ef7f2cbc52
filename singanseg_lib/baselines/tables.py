"""The paper's Tables 4 and 5 for the baseline GANs (and Table 5's SinGAN-Seg rows): what notebook
05c runs, as functions.

Table 4: a GAN trained on the data set, ``n_sets`` sets of generated samples, FID of each set
against the real images. Table 5: FastGAN trained on the first R images, sets of R samples, FID
against those R images; SinGAN-Seg's rows take sample k of the models of the same R images (and
its style-transferred twin). FID is the kit's (:func:`singanseg_lib.metrics.fid_sets`) with the
network and resize notebook 05 uses, so all rows of a table compare alike.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from singanseg_lib.baselines.samples import write_sets
from singanseg_lib.baselines.train import TrainedGAN, load_reals, train_gan
from singanseg_lib.metrics import FidResult, fid_sets, mean_sd
from singanseg_lib.sampling.manifest import read_manifest

__all__ = ["PAPER_SIZES", "width_options", "train_and_sample", "set_fid", "series_entry"]

# the side each GAN's paper trains at for images like Kvasir-SEG's (DCGAN's is the SinGAN-Seg authors' DCGAN-4ch)
PAPER_SIZES = {"dcgan": 64, "fastgan": 256}
_WIDTH_KEYS = {"dcgan": ("base_channels",), "fastgan": ("ngf", "ndf")}


def width_options(name: str, width: int) -> dict[str, int]:
    """The constructor arguments that set GAN ``name``'s base width to ``width`` (0: its paper's)."""
    if name not in _WIDTH_KEYS:
        raise KeyError(f"unknown baseline GAN {name!r}; valid: {', '.join(_WIDTH_KEYS)}")
    return {} if not width else {k: int(width) for k in _WIDTH_KEYS[name]}


def train_and_sample(name: str, dataset, out_dir: str | Path, *, size: int, iters: int, batch_size: int, seed: int,
                     width: int = 0, n_sets: int = 5, n_per_set: int | None = None, device="cpu",
                     progress: bool = True) -> tuple[TrainedGAN, Path]:
    """Train ``name`` on ``dataset`` (a :class:`~singanseg_lib.data.Dataset`) into ``out_dir/gan`` and
    write ``n_sets`` sets of ``n_per_set`` samples (default: as many as images) into ``out_dir/sets``.
    Both resume; the GAN's seed is ``seed`` and the samples' base seed ``seed`` too."""
    out_dir = Path(out_dir)
    reals = load_reals(dataset, size or PAPER_SIZES[name])
    trained = train_gan(name, reals, out_dir / "gan", iters=iters, batch_size=batch_size, seed=seed,
                        options=width_options(name, width), device=device, progress=progress,
                        data={"ids": list(dataset.ids), "resize": "stretched to a square, antialiased bilinear"})
    sets = write_sets(trained, out_dir / "sets", n_sets=n_sets, n_per_set=n_per_set or len(dataset), seed=seed,
                      progress=progress)
    return trained, sets


def set_fid(set_dir: str | Path, real_files: Sequence[Path], *, net, resize: str, batch_size: int = 16,
            sources: Sequence[str] | None = None, n_sets: int | None = None, progress: bool = False) -> FidResult:
    """FID of each of a synthetic set's sets (``sample`` k, FAKE-k+1) against ``real_files``.

    ``sources``: keep only samples of these source images (ids, the file stems): Table 5's
    SinGAN-Seg rows use the models of the first R images. ``n_sets``: the first sets only.
    """
    set_dir, keep = Path(set_dir), None if sources is None else set(sources)
    by_set: dict[str, list[Path]] = {}
    for row in read_manifest(set_dir):
        if keep is not None and Path(row["source_image"]).stem not in keep:
            continue
        if n_sets is None or row["sample"] < n_sets:
            by_set.setdefault(f"sample_{row['sample']}", []).append(set_dir / row["image"])
    if not by_set:
        raise ValueError(f"{set_dir}: no samples" + (f" of {', '.join(sorted(keep)[:5])}" if keep else ""))
    by_set = {k: sorted(v) for k, v in sorted(by_set.items(), key=lambda kv: int(kv[0].split("_")[1]))}
    return fid_sets(list(real_files), by_set, net=net, resize=resize, batch_size=batch_size, progress=progress)


def series_entry(rows: Mapping[str, Mapping[int, FidResult]], *, weights: str, data: str = "",
                 settings: str = "") -> dict[str, Any]:
    """A Table 5 entry of metrics.json: ``{"rows": {row: {"r": [...], "mean": [...], "sd": [...],
    "sets": [[...], ...]}}, ...}`` from ``{row: {R: FidResult}}`` (mean and sample SD over sets)."""
    out = {}
    for row, by_r in rows.items():
        rs = sorted(by_r)
        stats = [mean_sd(by_r[r].values.values()) for r in rs]
        out[row] = {"r": rs, "mean": [m for m, _ in stats], "sd": [s for _, s in stats],
                    "sets": [list(by_r[r].values.values()) for r in rs]}
    return {"rows": out, "weights": weights, "data": data, "settings": settings}
