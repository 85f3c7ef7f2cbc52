"""What a synthetic sample gives away about its source image: the formulas, on arrays.

An attacker holds the real data set (say, a hospital's archive) and one synthetic image, and
wants to know which patient it was made from. Everything here is a distance computation on
feature vectors (flattened pixels, or Inception pool3 features as FID uses), one row per image:

- **linkage**: rank every real image by its distance to the sample; the source's rank
  (1 = nearest; a tie counts half, so a constant sample ranks mid-way, not first). Top-k rate:
  the share of samples whose source is among the k nearest; chance is k / M for M reals.
- **own-vs-other AUC**: the Mann-Whitney probability that a sample is closer to its own source
  than to another real image, pooled over all (sample, other real) pairs (ties count 1/2).
  0.5: the distances carry no trace of the source; 1: the source is always nearest.
- **nearest-neighbour ratio** (authenticity, Alaa et al. 2022, ICML, "How faithful is your
  synthetic data?"): ``d(sample, source) / d(source, its nearest other real)``. Below 1 the
  sample sits closer to its source than any other real image does, i.e. inside the source's
  own neighbourhood; near 0 it is a copy. We call a sample a near-copy below
  :data:`NEAR_COPY_RATIO`.
- **mask memorisation**: IoU of the sample's mask with the training mask; at or above
  :data:`MASK_COPY_IOU` the mask is a near-copy of the expert's annotation.

Written here (a few lines each) rather than taken from synthcity, which pins an old torch.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["NEAR_COPY_RATIO", "MASK_COPY_IOU", "LINKAGE_SIGMAS", "distances", "source_ranks", "top_k_rate",
           "own_vs_other_auc", "nn_ratio", "mask_iou", "Linkage", "linkage", "above_chance"]

NEAR_COPY_RATIO = 0.25  # d(sample, source) under a quarter of the gap to the nearest other real
MASK_COPY_IOU = 0.9  # a mask overlapping the training mask this much repeats the annotation
LINKAGE_SIGMAS = 3.0  # top-1 linkage this many binomial SDs above chance counts as linked


def distances(samples: np.ndarray, reals: np.ndarray) -> np.ndarray:
    """Euclidean distances, N×D samples against M×D reals -> N×M (float64)."""
    a, b = np.asarray(samples, np.float64), np.asarray(reals, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be N×D and M×D with the same D, got {a.shape} and {b.shape}")
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T
    return np.sqrt(np.clip(sq, 0, None))


def _check(dist: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dist, source = np.asarray(dist, np.float64), np.asarray(source)
    if dist.ndim != 2 or source.shape != (dist.shape[0],):
        raise ValueError(f"distances must be N×M with one source index per row, got {dist.shape} and {source.shape}")
    if dist.shape[1] < 2:
        raise ValueError("linkage needs at least 2 real images to rank")
    if source.size and (source.min() < 0 or source.max() >= dist.shape[1]):
        raise ValueError(f"source indices must be in 0..{dist.shape[1] - 1}, got {source.min()}..{source.max()}")
    return dist, source.astype(np.int64)


def source_ranks(dist: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Rank of each sample's source among the reals (1 = nearest), ties counted half: N floats."""
    dist, source = _check(dist, source)
    own = dist[np.arange(len(source)), source][:, None]
    closer = (dist < own).sum(1)
    tied = (dist == own).sum(1) - 1  # the source itself is always tied with itself
    return 1.0 + closer + 0.5 * tied


def top_k_rate(ranks: np.ndarray, k: int) -> float:
    """Share of samples whose source ranks within the first ``k`` (a half-tied rank k + 0.5 is out)."""
    return float((np.asarray(ranks) <= k).mean())


def own_vs_other_auc(dist: np.ndarray, source: np.ndarray) -> float:
    """P(d(sample, own source) < d(sample, other real)) over all pairs, ties 1/2 (Mann-Whitney)."""
    dist, source = _check(dist, source)
    n = np.arange(len(source))
    own = dist[n, source]
    other_mask = np.ones_like(dist, dtype=bool)
    other_mask[n, source] = False
    others = np.sort(dist[other_mask])
    greater = len(others) - np.searchsorted(others, own, side="right")
    equal = np.searchsorted(others, own, side="right") - np.searchsorted(others, own, side="left")
    return float((greater + 0.5 * equal).sum() / (len(own) * len(others)))


def nn_ratio(dist: np.ndarray, source: np.ndarray, real_dist: np.ndarray) -> np.ndarray:
    """``d(sample, source) / d(source, nearest other real)`` per sample (Alaa et al. 2022).

    ``real_dist``: M×M distances among the reals. A source with an exact duplicate among the
    reals (gap 0) gives ``inf`` unless the sample is the same point too (then 0).
    """
    dist, source = _check(dist, source)
    real_dist = np.array(real_dist, np.float64)
    if real_dist.shape != (dist.shape[1],) * 2:
        raise ValueError(f"real_dist must be {dist.shape[1]}×{dist.shape[1]}, got {real_dist.shape}")
    np.fill_diagonal(real_dist, np.inf)
    gap = real_dist.min(1)[source]
    own = dist[np.arange(len(source)), source]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(own == 0, 0.0, own / gap)


def mask_iou(masks: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """IoU of each of N masks (N×H×W bool) with one reference mask (H×W); two empty masks: 1."""
    m, r = np.asarray(masks, bool), np.asarray(reference, bool)
    if m.ndim != 3 or m.shape[1:] != r.shape:
        raise ValueError(f"masks must be N×H×W with a reference of H×W, got {m.shape} and {r.shape}")
    inter = (m & r).sum((1, 2))
    union = (m | r).sum((1, 2))
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def above_chance(rate: float, chance: float, n: int, *, sigmas: float = LINKAGE_SIGMAS) -> bool:
    """Whether a top-k rate over ``n`` samples is more than ``sigmas`` binomial SDs above chance."""
    return rate > chance + sigmas * math.sqrt(chance * (1 - chance) / max(n, 1))


@dataclass
class Linkage:
    """One feature space's linkage of N samples to M reals (rates in [0, 1])."""

    n_samples: int
    n_reals: int
    top1: float
    top5: float
    chance_top1: float
    chance_top5: float
    auc: float
    ratio_median: float
    near_copy: float  # share of samples with nn ratio < NEAR_COPY_RATIO
    inside_source: float  # share with nn ratio < 1 (not authentic in Alaa et al.'s sense)
    linked: bool  # top-1 rate above chance by LINKAGE_SIGMAS binomial SDs

    def as_dict(self) -> dict:
        return asdict(self)


def linkage(sample_features: np.ndarray, source: np.ndarray, real_features: np.ndarray) -> Linkage:
    """Every linkage number of N samples (features N×D, ``source`` their real index) against M reals (M×D)."""
    dist = distances(sample_features, real_features)
    ranks = source_ranks(dist, source)
    ratio = nn_ratio(dist, source, distances(real_features, real_features))
    m = dist.shape[1]
    top1 = top_k_rate(ranks, 1)
    return Linkage(len(ranks), m, top1, top_k_rate(ranks, 5), 1 / m, min(5, m) / m, own_vs_other_auc(dist, source),
                   float(np.median(ratio)), float((ratio < NEAR_COPY_RATIO).mean()), float((ratio < 1).mean()),
                   above_chance(top1, 1 / m, len(ranks)))
