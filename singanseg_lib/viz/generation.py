"""Figures of generated samples (notebook 02): real vs generated (paper Fig 4), mask mean and SD
maps (Fig 5), polyp-share histograms (Fig 6 / Fig 10) and samples at each start scale.

Images are anything :func:`as_uint8_image` takes (a 3 x H x W tensor in [-1, 1], an H x W x 3
uint8 array); masks are H x W bool or {0, 1} (or 0/255 arrays).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from singanseg_lib.data.images import MASK_THRESHOLD
from singanseg_lib.viz.core import SHARE_BIN_WIDTH, as_uint8_image, hist_polyp_shares, image_grid, new_figure, overlay_mask

__all__ = ["plot_real_vs_generated", "plot_mask_mean_sd", "plot_polyp_share_hist", "plot_start_scales",
           "plot_sample"]


def _mask01(mask) -> np.ndarray:
    m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    return (m > (MASK_THRESHOLD if m.dtype == np.uint8 else 0)).astype(np.uint8) * 255


def plot_real_vs_generated(entries: Sequence[tuple], *, n: int = 5, size: float = 1.8):
    """Paper Fig 4: per training image two rows (images, masks); first column real, then n samples.

    ``entries``: ``(name, real_image, real_mask, images, masks)`` per training image, where
    ``images``/``masks`` hold at least the samples to show (N x 3 x H x W / N x H x W, or lists).
    """
    rows, titles, labels = [], [], []
    for name, real_image, real_mask, images, masks in entries:
        k = min(n, len(images))
        rows.append([real_image, *[images[i] for i in range(k)]])
        rows.append([_mask01(real_mask), *[_mask01(masks[i]) for i in range(k)]])
        titles += [["real", *[f"sample {i}" for i in range(k)]], [""] * (k + 1)]
        labels += [name, "masks"]
    return image_grid(rows, titles=titles, row_labels=labels, size=size,
                      suptitle="Real image and mask (left) and generated samples with their masks")


def plot_mask_mean_sd(entries: Sequence[tuple], *, size: float = 2.4):
    """Paper Fig 5: per training image its real mask, the pixel-wise mean and SD of the generated masks.

    ``entries``: ``(name, real_mask, mean_map, sd_map)`` per image (maps from
    :func:`generate.mask_mean_sd`). Bright mean = marked in most samples; bright SD = samples
    disagree (at most 0.5, where half of them mark the pixel).
    """
    fig, axes = new_figure(len(entries), 3, size=size)
    for r, (name, real, mean, sd) in enumerate(entries):
        sd = sd.detach().cpu().numpy() if isinstance(sd, torch.Tensor) else np.asarray(sd)
        mean = mean.detach().cpu().numpy() if isinstance(mean, torch.Tensor) else np.asarray(mean)
        panels = [(_mask01(real), "gray", 0, 255, f"{name}: real mask"),
                  (mean, "gray", 0, 1, "mean of generated masks"),
                  (sd, "magma", 0, 0.5, f"SD (mean {sd.mean():.3f})")]
        for c, (img, cmap, lo, hi, title) in enumerate(panels):
            ax = axes[r][c]
            im = ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
            if c:
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    fig.tight_layout()
    return fig


def plot_polyp_share_hist(real_shares, generated_shares, *, bin_width: float = SHARE_BIN_WIDTH, size: float = 3.2):
    """Paper Fig 6 / Fig 10: polyp pixels as % of the image, real masks (left) vs generated (right).

    Shares are fractions in [0, 1]; bins of ``bin_width`` percentage points as in Fig 10. Each
    panel counts its own masks; the dashed line is the mean.
    """
    from matplotlib.ticker import MaxNLocator

    fig, axes = new_figure(1, 2, size=size, sharex=True)
    for ax, shares, label, colour in ((axes[0][0], real_shares, "real masks", "tab:blue"),
                                      (axes[0][1], generated_shares, "generated masks", "tab:orange")):
        pct = hist_polyp_shares(ax, shares, bin_width=bin_width, color=colour, edgecolor="white")
        if pct.size:
            ax.axvline(pct.mean(), color="k", linestyle="--", linewidth=1)
        ax.set_title(f"{label} (n = {pct.size}, mean {pct.mean() if pct.size else float('nan'):.1f} %)",
                     fontsize=9)
        ax.set_xlabel("polyp pixels (% of the image)")
        ax.set_ylabel("masks")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def plot_start_scales(rows: Sequence[tuple[int, Sequence, Sequence]], *, num_scales: int, size: float = 1.8):
    """One row per start scale: the same seeds' samples, each image with its mask outlined.

    ``rows``: ``(start_scale, images, masks)``; ``num_scales`` names the reconstruction row
    (start scale = number of scales: no fresh noise at all).
    """
    grid, labels = [], []
    for start, images, masks in rows:
        grid.append([overlay_mask(images[i], masks[i]) for i in range(len(images))])
        labels.append(f"start {start}" + (" (= reconstruction)" if start == num_scales else ""))
    return image_grid(grid, row_labels=labels, size=size,
                      suptitle="Same seeds, fresh noise from the start scale on (mask outlined)")


def plot_sample(image, mask, *, title: str = "", size: float = 3.0):
    """One sample: image, mask, and the image with the mask outlined."""
    fig = image_grid([[as_uint8_image(image), _mask01(mask), overlay_mask(image, mask)]],
                     titles=[["image", "mask", "overlay"]], size=size, suptitle=title or None)
    return fig
