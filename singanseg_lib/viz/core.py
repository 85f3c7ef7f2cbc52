"""Shared figure helpers: saving, image conversion, mask overlays and image grids."""
from __future__ import annotations

import textwrap

import numpy as np
import torch

from singanseg_lib.kit.files import save_figure  # re-exported: figures are written atomically by kit.files

__all__ = ["save_figure", "as_uint8_image", "overlay_mask", "image_grid", "new_figure", "SHARE_BIN_WIDTH",
           "hist_polyp_shares"]

# Polyp overlays in one colour across the series.
MASK_COLOUR = (0.1, 1.0, 0.3)
SHARE_BIN_WIDTH = 5.0  # percentage points per bin of a polyp-share histogram, as the paper's Fig 6 / Fig 10


def new_figure(nrows: int = 1, ncols: int = 1, *, size: float = 3.0, **kwargs):
    """``plt.subplots`` sized per panel; ``squeeze=False`` so ``axes[r][c]`` always works.

    Figures are built with the object API (not ``pyplot``'s global state) so that library code
    can run outside notebooks; the notebook backend still shows them.
    """
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False, **kwargs)


def as_uint8_image(x) -> np.ndarray:
    """An image as an HxWxC (or HxW) uint8 array.

    Accepts a PIL image, a uint8 array, a float array in [0, 1], or a torch tensor CxHxW
    (or 1xCxHxW) in [-1, 1] — the range the SinGAN models work in.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().float().cpu()
        if t.ndim == 4:
            t = t[0]
        t = ((t.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        arr = t.permute(1, 2, 0).numpy() if t.ndim == 3 else t.numpy()
        return arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr
    arr = np.asarray(x)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    return (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)


def overlay_mask(image, mask, *, alpha: float = 0.4, colour=MASK_COLOUR) -> np.ndarray:
    """The image with the polyp region tinted and outlined; returns HxWx3 uint8."""
    img = as_uint8_image(image)[..., :3].astype(np.float32)
    m = np.asarray(mask) > 0 if not isinstance(mask, torch.Tensor) else (mask.detach().cpu().numpy() > 0)
    m = np.squeeze(m)
    if m.shape != img.shape[:2]:
        raise ValueError(f"mask shape {m.shape} does not match image shape {img.shape[:2]}")
    tint = np.array(colour, dtype=np.float32) * 255
    img[m] = (1 - alpha) * img[m] + alpha * tint
    edge = m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))
    img[edge] = tint
    return img.round().astype(np.uint8)


def image_grid(rows: list[list], *, titles: list[list[str]] | None = None, row_labels: list[str] | None = None,
               size: float = 2.2, suptitle: str | None = None):
    """Show a grid of images (anything :func:`as_uint8_image` takes); returns the figure."""
    nrows, ncols = len(rows), max(len(r) for r in rows)
    fig, axes = new_figure(nrows, ncols, size=size)
    for r, row in enumerate(rows):
        for c in range(ncols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(row) and row[c] is not None:
                img = as_uint8_image(row[c])
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
                if titles and titles[r][c]:
                    ax.set_title(titles[r][c], fontsize=8)
        if row_labels:  # long labels (image ids) wrapped so that they stay beside their row
            label = "\n".join(textwrap.wrap(row_labels[r], width=max(8, int(7 * size)))) or row_labels[r]
            axes[r][0].text(-0.05, 0.5, label, transform=axes[r][0].transAxes, rotation=90,
                            ha="right", va="center", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def hist_polyp_shares(ax, shares, *, bin_width: float = SHARE_BIN_WIDTH, top: float = 100.0, **style) -> np.ndarray:
    """The histogram of polyp shares on ``ax``; every polyp-share histogram of the series is drawn here.

    ``shares``: fractions in [0, 1] (a sequence, array or tensor), shown in percent. Bins are
    ``bin_width`` percentage points wide, from 0 up to ``top`` % (rounded up to a whole bin).
    ``style`` goes to ``ax.hist``. Returns the shares in percent.
    """
    if not bin_width > 0:
        raise ValueError(f"bin_width must be a positive number of percentage points, got {bin_width!r}")
    pct = 100 * np.asarray(torch.as_tensor(shares, dtype=torch.float64).flatten())
    edges = bin_width * np.arange(max(1, int(np.ceil(top / bin_width - 1e-9))) + 1)
    ax.hist(pct, bins=edges, **style)
    return pct
