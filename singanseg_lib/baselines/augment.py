"""Differentiable augmentation (DiffAugment; Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020) for 4-channel images: RGB, then the mask.

DiffAugment lets a GAN learn from few images: every batch D sees, real or generated, goes through
the same family of random transforms, and because each transform is differentiable, G's gradient
passes through it. D cannot memorise the few reals, and G is never pushed to produce augmented
images (it is the input to the transforms that D's verdict reaches). The paper's policy for few-shot
sets, the one FastGAN trains with, is ``"color,translation,cutout"``:

- colour: brightness ``+U(-0.5, 0.5)``, saturation ``x U(0, 2)`` around the pixel's grey, contrast
  ``x U(0.5, 1.5)`` around the image's mean, each drawn per image;
- translation: a shift of up to 1/8 of the side (per image, per axis), padding what moves in;
- cutout: one square of half the side, centred anywhere (it may reach past the border), cut out.

**The mask channel (channel 3) is a label, not a colour.** Here colour acts on RGB only; the
geometric transforms move or cut the mask exactly as they move or cut the image (same offsets),
so an augmented image's mask still marks its polyp. What comes in at the border or fills the cut
square is 0 in RGB (the middle grey of [-1, 1], as DiffAugment pads) and -1 in the mask (background:
no polyp is there). The SinGAN-Seg authors' 4-channel FastGAN ran DiffAugment unchanged on all four
channels: brightness, saturation and contrast shifted the mask too (a mask made lighter is no longer
a mask: D learnt that masks may take any grey), and translation padded the mask with 0, a
half-mask value that is neither polyp nor background. This kit differs there on purpose.

Random draws use torch's global generator (on the CPU, whatever the images' device), so a trainer
that seeds it and saves ``torch.get_rng_state()`` replays the same augmentations on resume and
gets the same draws on every device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["DEFAULT_POLICY", "RGB_FILL", "MASK_FILL", "diff_augment", "check_policy", "brightness", "saturation",
           "contrast", "translation", "cutout"]

DEFAULT_POLICY = "color,translation,cutout"
RGB_FILL = 0.0   # the middle grey of [-1, 1]
MASK_FILL = -1.0  # background
TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def _uniform(n: int, x: torch.Tensor) -> torch.Tensor:
    # drawn on the CPU so the global CPU state alone names the draw, on any device
    return torch.rand(n, 1, 1, 1).to(device=x.device, dtype=x.dtype)


def _split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[:, :3], x[:, 3:]


def brightness(x: torch.Tensor) -> torch.Tensor:
    """Add ``U(-0.5, 0.5)`` per image to the RGB channels."""
    rgb, rest = _split(x)
    return torch.cat([rgb + (_uniform(len(x), x) - 0.5), rest], 1)


def saturation(x: torch.Tensor) -> torch.Tensor:
    """Scale each pixel's distance from its grey (mean of R, G, B) by ``U(0, 2)`` per image."""
    rgb, rest = _split(x)
    grey = rgb.mean(1, keepdim=True)
    return torch.cat([(rgb - grey) * (_uniform(len(x), x) * 2) + grey, rest], 1)


def contrast(x: torch.Tensor) -> torch.Tensor:
    """Scale the RGB channels' distance from the image's mean RGB value by ``U(0.5, 1.5)`` per image."""
    rgb, rest = _split(x)
    mean = rgb.mean((1, 2, 3), keepdim=True)
    return torch.cat([(rgb - mean) * (_uniform(len(x), x) + 0.5) + mean, rest], 1)


def _fill_like(x: torch.Tensor) -> torch.Tensor:
    """``1 x C x 1 x 1``: RGB_FILL for the first three channels, MASK_FILL for the rest."""
    fill = torch.full((1, x.shape[1], 1, 1), MASK_FILL, dtype=x.dtype, device=x.device)
    fill[:, :3] = RGB_FILL
    return fill


def translation(x: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Shift each image (all channels together) by whole pixels, up to ``ratio`` of the side per
    axis; the pixels that come in are RGB_FILL in RGB and MASK_FILL in the mask."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (n,)).to(x.device)
    dx = torch.randint(-sx, sx + 1, (n,)).to(x.device)
    # one pixel of fill around the image: a source index clamped past the edge lands on it (padded
    # per channel group rather than as (x - fill) padded + fill, so the pixels kept are exactly x's)
    rgb, rest = _split(x)
    padded = torch.cat([F.pad(rgb, [1, 1, 1, 1], value=RGB_FILL), F.pad(rest, [1, 1, 1, 1], value=MASK_FILL)], 1)
    ys = (torch.arange(h, device=x.device)[None, :, None] - dy[:, None, None] + 1).clamp(0, h + 1)
    xs = (torch.arange(w, device=x.device)[None, None, :] - dx[:, None, None] + 1).clamp(0, w + 1)
    rows = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[rows, ys, xs].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Cut one square of ``ratio`` of the side out of each image (all channels together), centred
    anywhere in the image, so part of it may fall outside; the cut is RGB_FILL in RGB and MASK_FILL
    in the mask."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h, (n,)).to(x.device)
    cx = torch.randint(0, w, (n,)).to(x.device)
    ys = torch.arange(h, device=x.device)[None, :, None] - (cy - ch // 2)[:, None, None]
    xs = torch.arange(w, device=x.device)[None, None, :] - (cx - cw // 2)[:, None, None]
    cut = ((ys >= 0) & (ys < ch) & (xs >= 0) & (xs < cw))[:, None]
    return torch.where(cut, _fill_like(x), x)


_POLICIES = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def diff_augment(x: torch.Tensor, policy: str = DEFAULT_POLICY) -> torch.Tensor:
    """``x`` (``N x C x H x W``, C = 3 or 4: RGB, then the mask) through the transforms of ``policy``
    (comma-separated names from ``color``, ``translation``, ``cutout``; ``""`` returns ``x``), each
    drawn anew per image from torch's global generator. Differentiable in ``x``."""
    for name in _names(policy):
        for transform in _POLICIES[name]:
            x = transform(x)
    return x.contiguous()


def check_policy(policy: str) -> str:
    """``policy`` if every name in it is known (so a GAN fails when built, not at its first step)."""
    _names(policy)
    return policy


def _names(policy: str) -> list[str]:
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        if name not in _POLICIES:
            raise ValueError(f"unknown DiffAugment policy {name!r}; valid: {', '.join(_POLICIES)}")
    return names
