"""SIFID: the Fréchet distance between the per-pixel Inception features of one real and one
synthetic image (Shaham et al., SinGAN, 2019), averaged over the pairs of a set.

Fidelity choices, as the SinGAN code (``SIFID/sifid_score.py``) unless said otherwise:

- images are read as RGB, scaled to [0, 1] and fed at their own size (no resizing);
- the features of one image are the C-vectors of all h·w positions of one layer: 64 channels
  before the first max-pool (default, the code) or 192 before the second (the paper's text);
  mean and covariance over positions (float64, ddof = 1), then the Fréchet distance;
- the network is torchvision's ImageNet Inception v3 (``network="torchvision"``, the code's) or
  pytorch-fid's FID Inception (``"fid"``; same layers, weights available offline);
- unlike the code, pairs are matched by name (:mod:`pairing`), never by directory order;
- a real image of another size than its synthetic one is an error unless ``resize_real`` (then
  it is resized to the synthetic size with PIL's antialiased bicubic filter, on uint8);
- the SIFID of a set is the mean over its pairs (one value per synthetic image).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from singanseg_lib.data.images import read_image
from singanseg_lib.kit.weights import RANDOM_NOTE
from singanseg_lib.metrics.frechet import frechet_distance, gaussian_stats
from singanseg_lib.metrics.inception import TAPS, InceptionFeatures, load_inception
from singanseg_lib.sampling.manifest import MatchedPair, match_pairs

SIFID_DIMS = {64: TAPS[64] + ": SinGAN code (default)", 192: TAPS[192] + ": SinGAN paper"}


def _tensor(image: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float().div(255).to(device)


def pixel_features(image: np.ndarray, net: InceptionFeatures, *, dims: int = 64) -> np.ndarray:
    """(h·w)×C features of one H×W×3 uint8 image at tap ``dims``."""
    if dims not in SIFID_DIMS:
        raise ValueError(f"SIFID dims {dims} not available; choose from {sorted(SIFID_DIMS)}")
    device = next(net.parameters()).device
    with torch.no_grad():
        fmap = net(_tensor(image, device), dims=(dims,))[dims][0]
    return fmap.flatten(1).T.double().cpu().numpy()


def sifid(real: np.ndarray, synthetic: np.ndarray, net: InceptionFeatures, *, dims: int = 64) -> float:
    """SIFID of two H×W×3 uint8 images of the same size."""
    if real.shape != synthetic.shape:
        raise ValueError(f"SIFID compares images of one size; got {real.shape[:2]} and {synthetic.shape[:2]}")
    return frechet_distance(*gaussian_stats(pixel_features(real, net, dims=dims)),
                            *gaussian_stats(pixel_features(synthetic, net, dims=dims)))


@dataclass
class SifidResult:
    """Per-pair SIFID values (by synthetic file name) and what they were computed with."""

    values: dict[str, float]
    samples: dict[str, int | None]
    dims: int
    network: str
    random_weights: bool
    resized_real: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        """The set's SIFID: the mean over its pairs."""
        return float(np.mean(list(self.values.values())))

    def by_sample(self) -> dict[int, float]:
        """Mean SIFID of each paper set (sample k of every real image)."""
        groups: dict[int, list[float]] = {}
        for name, value in self.values.items():
            if self.samples[name] is None:
                raise ValueError("per-set SIFID needs a set with a manifest (its 'sample' column)")
            groups.setdefault(self.samples[name], []).append(value)
        return {k: float(np.mean(v)) for k, v in sorted(groups.items())}

    def as_dict(self) -> dict:
        """For metrics.json: the mean, the per-set means, the settings, the weights note."""
        out = {"sifid_mean": self.mean, "pairs": len(self.values), "dims": self.dims, "layer": SIFID_DIMS[self.dims],
               "network": self.network, "resized_real": self.resized_real, "mean_over": "pairs"}
        if all(s is not None for s in self.samples.values()):
            out["sifid_by_set"] = self.by_sample()
        if self.random_weights:
            out["note"] = RANDOM_NOTE
        return out


def _pair_images(pair: MatchedPair, resize_real: bool) -> tuple[np.ndarray, np.ndarray]:
    real, syn = read_image(pair.real), read_image(pair.synthetic)
    if real.shape != syn.shape:
        if not resize_real:
            raise ValueError(f"{pair.synthetic} is {syn.shape[1]}×{syn.shape[0]} but its real image {pair.real} is "
                             f"{real.shape[1]}×{real.shape[0]}; SIFID compares images of one size (resize_real=True, "
                             "CLI --resize-real, resizes the real image to the synthetic size)")
        real = np.asarray(Image.fromarray(real).resize((syn.shape[1], syn.shape[0]), Image.Resampling.BICUBIC))
    return real, syn


def sifid_pairs(pairs: list[MatchedPair], net: InceptionFeatures, *, dims: int = 64, resize_real: bool = False,
                progress: bool = True) -> SifidResult:
    """SIFID of every pair (see :func:`singanseg_lib.sampling.manifest.match_pairs` for how pairs are made)."""
    from tqdm.auto import tqdm

    if not pairs:
        raise ValueError("no pairs to compare")
    values, samples = {}, {}
    for pair in tqdm(pairs, desc=f"SIFID ({dims} ch)", unit="pair", disable=not progress):
        if pair.name in values:
            raise ValueError(f"two synthetic images are named {pair.name}; SIFID results are keyed by name")
        values[pair.name] = sifid(*_pair_images(pair, resize_real), net, dims=dims)
        samples[pair.name] = pair.sample
    return SifidResult(values, samples, dims, net.label, net.weights.random, resize_real)


def sifid_folders(real: str | Path | None, synthetic: str | Path, *, network: str = "torchvision", dims: int = 64,
                  weights_path=None, allow_random: bool = False, resize_real: bool = False,
                  device: str | torch.device = "cpu", progress: bool = True) -> SifidResult:
    """SIFID of a synthetic folder against its real images (``singanseg sifid``; notebook 05).

    ``real`` may be None when the set's manifest names the real images (``source_path``).
    """
    pairs = match_pairs(real, synthetic)
    net = load_inception(network, weights_path=weights_path, allow_random=allow_random, device=device, progress=progress)
    return sifid_pairs(pairs, net, dims=dims, resize_real=resize_real, progress=progress)


__all__ = ["SIFID_DIMS", "SifidResult", "pixel_features", "sifid", "sifid_pairs", "sifid_folders"]
