"""A toy data set for the baseline GANs: bright discs on a dark textured field, with their masks.

What a 4-channel GAN must learn here is visible and measurable without Inception: the look of
the set (:func:`frechet_stat`, a Fréchet distance of pooled 4-channel features, falls as the GAN
learns) and the agreement of its mask channel with the disc it drew (:func:`mask_agreement`:
IoU of each generated mask with the bright region of its own image, against the same IoU with
other samples' images, which is what chance gives).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from singanseg_lib.metrics.frechet import frechet_distance_features


def discs(n: int = 256, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``n x 4 x size x size`` in [-1, 1]: RGB of a yellowish disc (random centre, radius 0.15-0.3
    of the side) on a dark red field with low-frequency noise; channel 3 is its mask (+1 disc)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    centre = 0.3 + 0.4 * torch.rand(n, 2, generator=g)
    radius = (0.15 + 0.15 * torch.rand(n, generator=g)) * size
    inside = ((yy - centre[:, 0, None, None] * size) ** 2 + (xx - centre[:, 1, None, None] * size) ** 2) \
        < radius[:, None, None] ** 2
    field = F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=(size, size), mode="bilinear", align_corners=False)
    background = torch.tensor([-0.2, -0.8, -0.8])[None, :, None, None] + 0.3 * (field - 0.5)
    disc = torch.tensor([0.9, 0.8, -0.3])[None, :, None, None]
    rgb = torch.where(inside[:, None], disc, background)
    return torch.cat([rgb, inside[:, None].float() * 2 - 1], 1).clamp(-1, 1)


def _features(x: torch.Tensor) -> np.ndarray:
    return F.adaptive_avg_pool2d(x.float(), 4).flatten(1).double().numpy()


def frechet_stat(samples: torch.Tensor, reals: torch.Tensor) -> float:
    """Fréchet distance of 4x4-pooled 4-channel features (64-d): an FID without Inception."""
    return frechet_distance_features(_features(samples), _features(reals))


def bright(samples: torch.Tensor) -> torch.Tensor:
    """Where a sample's image shows a disc: mean RGB above the middle of disc and field colours."""
    return samples[:, :3].mean(1) > 0.0


def mask_agreement(samples: torch.Tensor) -> tuple[float, float]:
    """(mean IoU of each sample's mask with its own bright region, the same with the next sample's)."""
    masks, regions = samples[:, 3] > 0, bright(samples)

    def iou(a, b):
        inter = (a & b).flatten(1).sum(1).float()
        union = (a | b).flatten(1).sum(1).float().clamp(min=1)
        return float((inter / union).mean())
    return iou(masks, regions), iou(masks, regions.roll(1, 0))
