"""The image pyramid: which sizes each scale has, and resizing on the device.

SinGAN-Seg trains one generator per scale, from a ~25 px image up to the image itself (at most
250 px on its long side). :func:`plan_scales` reproduces the reference code's arithmetic exactly
(docs/algorithm.md §2.2), so pyramid sizes match the reference and its published checkpoints.

:func:`resize` is the reference's resize (a MATLAB-style ``imresize``: cubic kernel with
a = -0.5, antialiased when shrinking, symmetric borders, output size ``ceil(size * scale)``),
written as two small matrix products so it runs on the device, in float and in batches. Two
fidelity notes. The reference truncates every image to uint8 before resizing (we keep float):
inside the image that is below 2 grey levels per resize, but the truncation lowers each image by
half a grey level on average and the residual generators carry that upwards. And its border
handling casts negative indices through an unsigned integer, which drops those taps (the rest
are renormalised), where we mirror them as MATLAB does: the first rows and columns of a level
differ by up to ~20 grey levels. ``tests/singan/test_pyramid.py`` measures both against the
reference's own ``reals.pth``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import torch


@dataclass(frozen=True)
class ScalePlan:
    """Derived from the image size and the pyramid settings; never edited by hand.

    ``sizes[i]`` is (height, width) of scale i, coarsest first; ``widths[i]`` the number of
    channels of every layer of that scale's networks.
    """

    original_size: tuple[int, int]
    scale1: float          # resize applied to the original to get the finest scale
    scale_factor: float    # recomputed per image so that the coarsest scale is ~min_size
    stop_scale: int        # index of the finest scale (number of scales - 1)
    sizes: tuple[tuple[int, int], ...]
    widths: tuple[int, ...]

    @property
    def num_scales(self) -> int:
        return len(self.sizes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ScalePlan":
        return cls(original_size=tuple(d["original_size"]), scale1=float(d["scale1"]),
                   scale_factor=float(d["scale_factor"]), stop_scale=int(d["stop_scale"]),
                   sizes=tuple(tuple(s) for s in d["sizes"]), widths=tuple(d["widths"]))


def scale_width(scale: int, *, nfc: int = 32, max_nfc: int = 128) -> int:
    """Channels per layer at a scale: doubles every 4 scales, capped (reference: nfc, min_nfc)."""
    return min(nfc * 2 ** (scale // 4), max_nfc)


def resized_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """Output size of the reference resize: ``ceil(size * scale)`` in double precision."""
    return tuple(int(math.ceil(s * scale)) for s in size)


def plan_scales(height: int, width: int, *, min_size: int = 25, max_size: int = 250,
                scale_factor_init: float = 0.75, nfc: int = 32, max_nfc: int = 128) -> ScalePlan:
    """The pyramid of an image of ``height`` x ``width`` pixels (reference ``adjust_scales2image``)."""
    if min(height, width) < min_size:
        raise ValueError(f"image of {height}x{width} px is smaller than min_size={min_size} on its short side")
    if max_size < min_size:
        raise ValueError(f"max_size ({max_size}) must be at least min_size ({min_size})")
    long_side, short_side = max(height, width), min(height, width)
    num_scales = math.ceil(math.log(min_size / short_side, scale_factor_init)) + 1
    scale2stop = math.ceil(math.log(min(max_size, long_side) / long_side, scale_factor_init))
    stop_scale = num_scales - scale2stop
    scale1 = min(max_size / long_side, 1)
    finest = resized_size((height, width), scale1)
    if stop_scale < 1:
        raise ValueError(f"image of {height}x{width} px with min_size={min_size}, max_size={max_size} "
                         "gives a single scale; lower min_size or raise max_size")
    scale_factor = math.pow(min_size / min(finest), 1 / stop_scale)
    sizes = tuple(resized_size(finest, math.pow(scale_factor, stop_scale - i)) for i in range(stop_scale + 1))
    widths = tuple(scale_width(i, nfc=nfc, max_nfc=max_nfc) for i in range(stop_scale + 1))
    return ScalePlan((height, width), scale1, scale_factor, stop_scale, sizes, widths)


def _cubic(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's cubic kernel (a = -0.5)."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


@lru_cache(maxsize=256)
def _resize_matrix_cpu(in_len: int, out_len: int, scale: float) -> torch.Tensor:
    """out_len x in_len weights of a 1-D MATLAB-style cubic resize by ``scale`` (float64)."""
    antialias = scale < 1
    width = 4.0 / scale if antialias else 4.0
    out = torch.arange(1, out_len + 1, dtype=torch.float64)
    centre = out / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(centre - width / 2)
    taps = int(math.ceil(width)) + 2
    pos = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :] - 1  # 0-based source index
    dist = centre[:, None] - pos - 1
    w = scale * _cubic(scale * dist) if antialias else _cubic(dist)
    w = w / w.sum(dim=1, keepdim=True).clamp_min(1e-12)
    period = 2 * in_len
    idx = torch.remainder(pos.long(), period)
    idx = torch.where(idx >= in_len, period - 1 - idx, idx)  # symmetric border: ... 1 0 | 0 1 ... n-1 | n-1 ...
    mat = torch.zeros(out_len, in_len, dtype=torch.float64)
    mat.scatter_add_(1, idx, w)
    return mat


def resize_matrix(in_len: int, out_len: int, scale: float, *, device=None, dtype=torch.float32) -> torch.Tensor:
    return _resize_matrix_cpu(in_len, out_len, float(scale)).to(device=device, dtype=dtype)


def resize(x: torch.Tensor, scale: float | tuple[float, float], size: tuple[int, int] | None = None) -> torch.Tensor:
    """Resize ``x`` (N x C x H x W, any range) by ``scale`` as the reference does.

    The output has ``ceil(H * scale)`` x ``ceil(W * scale)`` pixels unless ``size`` is given
    (used to resize to an exact size, e.g. back to an original resolution). Runs on x's device.
    """
    if x.ndim != 4:
        raise ValueError(f"resize expects N x C x H x W, got shape {tuple(x.shape)}")
    sh, sw = (scale, scale) if isinstance(scale, (int, float)) else scale
    h, w = x.shape[-2:]
    out_h, out_w = size if size is not None else (math.ceil(h * sh), math.ceil(w * sw))
    mh = resize_matrix(h, out_h, sh, device=x.device, dtype=x.dtype)
    mw = resize_matrix(w, out_w, sw, device=x.device, dtype=x.dtype)
    return torch.matmul(torch.matmul(mh, x), mw.T)


def build_pyramid(image: torch.Tensor, plan: ScalePlan) -> list[torch.Tensor]:
    """The real image at every scale, coarsest first.

    ``image``: 1 x C x H x W in [-1, 1] at the original size (RGB + mask: the mask is resized
    bicubically with the image, as the reference does) and clamped to [-1, 1] as the reference's
    uint8 round trip does. Each level is resized from the finest
    level, as the reference does, not from the level above.
    """
    if tuple(image.shape[-2:]) != tuple(plan.original_size):
        raise ValueError(f"image is {tuple(image.shape[-2:])}, the plan was made for {plan.original_size}")
    finest = resize(image, plan.scale1, size=plan.sizes[-1]).clamp(-1, 1)
    levels = []
    for i, size in enumerate(plan.sizes):
        level = finest if i == plan.stop_scale else resize(
            finest, math.pow(plan.scale_factor, plan.stop_scale - i), size=size).clamp(-1, 1)
        levels.append(level)
    return levels


def upsample_to(x: torch.Tensor, plan: ScalePlan, scale: int) -> torch.Tensor:
    """Bring an output of scale ``scale - 1`` to scale ``scale``: resize by 1/scale_factor, crop top-left.

    This is how the reference passes images up the pyramid, in training and in generation,
    including the clamp to [-1, 1] that its uint8 round trip implies (generator outputs are
    residual sums and can leave that range).
    """
    h, w = plan.sizes[scale]
    up = resize(x, 1 / plan.scale_factor)
    return up[..., :h, :w].clamp(-1, 1)
