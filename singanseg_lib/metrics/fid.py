"""FID between a real set and one or more synthetic sets (mean ± SD over sets, as the paper).

The network and statistics are pytorch-fid's: pool3 (2048-d) of its FID Inception, float64
mean and covariance (ddof = 1), the Fréchet distance (:mod:`.frechet`, from the features). What differs is the
resizing to the network's 299×299, chosen by ``resize``:

- ``"clean"`` (default), as clean-fid (Parmar et al., CVPR 2022) argues: each channel of the
  uint8 image, as float32 in [0, 255], is resized with PIL's bicubic filter (antialiased when
  shrinking: its support widens with the scale), clipped to [0, 255] and divided by 255;
- ``"pytorch-fid"``: what pytorch-fid's command line does (``ToTensor``, then a bilinear
  ``F.interpolate`` without antialiasing inside the network), to reproduce its numbers.

Both squash the aspect ratio to a square, as pytorch-fid and clean-fid do. The statistics of a
real set (its features) are cached in ``<cache_dir>/fid_stats/<key>.npz`` (atomic), the key being a
hash of the files' names, sizes and sha256 plus the network's weights and the resize mode.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from singanseg_lib.data.images import read_image
from singanseg_lib.kit.files import atomic_write_bytes, sha256_file
from singanseg_lib.kit.weights import RANDOM_NOTE
from singanseg_lib.metrics.frechet import frechet_distance_features
from singanseg_lib.metrics.inception import InceptionFeatures, load_inception
from singanseg_lib.sampling.manifest import list_images

FID_SIZE = 299
RESIZE_MODES = {"clean": "PIL bicubic per channel on float32 (clean-fid)",
                "pytorch-fid": "torch bilinear, no antialias (pytorch-fid's CLI)"}
CACHE_ENV = "SINGANSEG_CACHE"

Files = str | Path | Sequence[str | Path]


def default_cache_dir() -> Path:
    """``$SINGANSEG_CACHE`` or ``~/.cache/singanseg``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "singanseg")


def image_for_fid(path: str | Path, *, resize: str = "clean") -> torch.Tensor:
    """One image file as a 3×299×299 float32 tensor in [0, 1], resized as ``resize`` says."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {resize!r}; choose from {', '.join(RESIZE_MODES)}")
    image = read_image(path)
    if resize == "clean":
        channels = [np.asarray(Image.fromarray(image[..., c].astype(np.float32)).resize(
            (FID_SIZE, FID_SIZE), Image.Resampling.BICUBIC)) for c in range(3)]
        return torch.from_numpy(np.clip(np.stack(channels), 0, 255) / 255).float()
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(x, size=(FID_SIZE, FID_SIZE), mode="bilinear", align_corners=False)[0]


def as_files(files: Files) -> list[Path]:
    """A folder's images (sorted) or the given list of files."""
    if isinstance(files, (str, Path)):
        return list_images(files)
    out = [Path(f) for f in files]
    if not out:
        raise ValueError("an empty list of images")
    return out


def fid_features(files: Files, net: InceptionFeatures, *, resize: str = "clean", batch_size: int = 16,
                 progress: bool = True) -> np.ndarray:
    """N×2048 pool3 features (float64) of the images."""
    from tqdm.auto import tqdm

    paths = as_files(files)
    device = next(net.parameters()).device
    out = []
    for start in tqdm(range(0, len(paths), batch_size), desc="FID features", unit="batch", disable=not progress):
        batch = torch.stack([image_for_fid(p, resize=resize) for p in paths[start:start + batch_size]])
        with torch.no_grad():
            out.append(net(batch.to(device), dims=(2048,))[2048].double().cpu().numpy())
    return np.concatenate(out)


def fingerprint(files: Sequence[Path]) -> str:
    """sha256 over the files' names, sizes and contents (order-independent)."""
    h = hashlib.sha256()
    for p in sorted(files, key=lambda p: p.name):
        h.update(f"{p.name}\0{p.stat().st_size}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


def set_features(files: Files, net: InceptionFeatures, *, resize: str = "clean", cache_dir: str | Path | None = None,
                 batch_size: int = 16, progress: bool = True) -> np.ndarray:
    """N×2048 pool3 features of a set; cached in ``cache_dir`` when given (see the module doc).

    The cache keeps the float32 network outputs (nothing is lost: the network computes in float32).
    """
    paths = as_files(files)
    if cache_dir is None:
        return fid_features(paths, net, resize=resize, batch_size=batch_size, progress=progress)
    settings = {"files": fingerprint(paths), "weights": net.label, "resize": resize, "size": FID_SIZE}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]
    path = Path(cache_dir) / "fid_stats" / f"{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as cached:
            return cached["features"].astype(np.float64)
    features = fid_features(paths, net, resize=resize, batch_size=batch_size, progress=progress)
    buf = io.BytesIO()
    np.savez(buf, features=features.astype(np.float32), settings=json.dumps(settings))
    atomic_write_bytes(path, buf.getvalue())
    return features


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample SD with ddof = 1, as the paper's tables); the SD is NaN for one value."""
    v = np.asarray(list(values), dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")


@dataclass
class FidResult:
    """FID of each synthetic set against one real set, and the settings used."""

    values: dict[str, float]
    n_real: int
    n_synthetic: dict[str, int]
    network: str
    resize: str
    random_weights: bool

    @property
    def mean(self) -> float:
        return mean_sd(self.values.values())[0]

    @property
    def sd(self) -> float:
        """Sample SD over sets (ddof = 1, as the paper's tables); NaN for a single set."""
        return mean_sd(self.values.values())[1]

    def as_dict(self) -> dict:
        out = {"fid_by_set": self.values, "fid_mean": self.mean, "fid_sd": self.sd, "sd": "sample SD over sets",
               "n_real": self.n_real, "n_synthetic": self.n_synthetic, "network": self.network,
               "resize": f"{self.resize}: {RESIZE_MODES[self.resize]}"}
        if self.random_weights:
            out["note"] = RANDOM_NOTE
        return out


def fid_sets(real: Files, synthetic: dict[str, Files] | Sequence[Files], *, net: InceptionFeatures | None = None,
             resize: str = "clean", cache_dir: str | Path | None = None, batch_size: int = 16,
             weights_path=None, allow_random: bool = False, device: str | torch.device = "cpu",
             progress: bool = True) -> FidResult:
    """FID of each synthetic set (a folder or a list of files) against ``real``.

    ``synthetic``: {name: set} or a list (named by folder, else ``set_<i>``). The real set's
    statistics are cached in ``cache_dir`` (default :func:`default_cache_dir`). Without ``net``
    the FID Inception is resolved by :func:`weights.resolve_weights` (``allow_random`` for smoke).
    """
    if not isinstance(synthetic, dict):
        synthetic = {(Path(s).name if isinstance(s, (str, Path)) else f"set_{i}"): s for i, s in enumerate(synthetic)}
    if not synthetic:
        raise ValueError("no synthetic sets given")
    net = net or load_inception("fid", weights_path=weights_path, allow_random=allow_random, device=device,
                              progress=progress)
    real_files = as_files(real)
    real_features = set_features(real_files, net, resize=resize, cache_dir=cache_dir or default_cache_dir(),
                                 batch_size=batch_size, progress=progress)
    values, sizes = {}, {}
    for name, files in synthetic.items():
        paths = as_files(files)
        features = set_features(paths, net, resize=resize, batch_size=batch_size, progress=progress)
        values[name], sizes[name] = frechet_distance_features(real_features, features), len(paths)
    return FidResult(values, len(real_files), sizes, net.label, resize, net.weights.random)
