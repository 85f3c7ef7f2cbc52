"""Figures of notebook 00: image/mask pairs (paper Fig 2), polyp-share histograms (Fig 3),
image sizes, mask grey levels and the k-fold split."""
from __future__ import annotations

import collections

import numpy as np
from PIL import Image

from singanseg_lib.data.folders import Dataset, DatasetPair
from singanseg_lib.data.folds import Folds
from singanseg_lib.data.images import MASK_THRESHOLD, read_image, read_mask
from singanseg_lib.viz.core import SHARE_BIN_WIDTH, hist_polyp_shares, image_grid, new_figure, overlay_mask

__all__ = ["plot_pairs", "plot_share_histogram", "plot_image_sizes", "plot_mask_values", "plot_fold_shares"]


def _thumbnail(pair: DatasetPair, longest: int) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask) shrunk so the longer side is at most ``longest`` px (mask: nearest neighbour)."""
    image, mask = read_image(pair.image), read_mask(pair.mask)
    scale = min(1.0, longest / max(pair.size))
    if scale < 1:
        size = (max(1, round(pair.width * scale)), max(1, round(pair.height * scale)))
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        mask = np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.NEAREST))
    return image, mask


def plot_pairs(pairs: list[DatasetPair], *, cols: int = 4, longest: int = 320, size: float = 2.4):
    """Paper Fig 2: each image with its polyp outlined (top) and its mask (below), ``cols`` pairs a row."""
    rows, titles = [], []
    for start in range(0, len(pairs), cols):
        chunk = pairs[start:start + cols]
        thumbs = [_thumbnail(p, longest) for p in chunk]
        rows += [[overlay_mask(img, m) for img, m in thumbs], [m for _, m in thumbs]]
        titles += [[f"{p.id[:12]}  {p.width}x{p.height}" for p in chunk],
                   [f"mask: polyp {p.polyp_share:.1%}" for p in chunk]]
    return image_grid(rows, titles=titles, size=size)


def plot_share_histogram(shares: dict[str, np.ndarray], *, bin_width: float = SHARE_BIN_WIDTH, size: float = 4.5):
    """Paper Fig 3: how much of each image is polyp. One set: counts; several: densities overlaid.

    Shares are fractions in [0, 1]; bins of ``bin_width`` percentage points, up to the largest share.
    """
    fig, axes = new_figure(1, 1, size=size)
    ax = axes[0][0]
    top = 100 * max(float(np.max(s)) for s in shares.values())
    several = len(shares) > 1
    for name, s in shares.items():
        n, mean = np.size(s), 100 * float(np.mean(s))
        label = f"{name} (n={n}, mean {mean:.1f} %)"
        if several:
            hist_polyp_shares(ax, s, bin_width=bin_width, top=top, density=True, histtype="step", linewidth=1.8,
                              label=label)
        else:
            pct = hist_polyp_shares(ax, s, bin_width=bin_width, top=top, edgecolor="black", alpha=0.8, label=label)
            ax.axvline(np.median(pct), color="tab:red", linestyle="--", label=f"median {np.median(pct):.1f} %")
    ax.set_xlabel("polyp pixels (% of the image)")
    ax.set_ylabel("density" if several else "images")
    ax.set_title("Polyp size as a share of the image")
    ax.legend(fontsize=8)
    fig.set_size_inches(size * 1.6, size)
    fig.tight_layout()
    return fig


def plot_image_sizes(datasets: dict[str, Dataset], *, size: float = 4.5):
    """Width against height of every image; the marker area grows with how many images share a size."""
    fig, axes = new_figure(1, 1, size=size)
    ax = axes[0][0]
    for name, ds in sorted(datasets.items(), key=lambda item: -len(item[1])):  # the largest set underneath
        counts = collections.Counter(p.size for p in ds)
        sizes = list(counts)
        ax.scatter([s[0] for s in sizes], [s[1] for s in sizes], s=[12 * counts[s] for s in sizes], alpha=0.5,
                   label=f"{name}: {len(sizes)} distinct sizes")
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.set_title("Image sizes (marker area: number of images)")
    for handle in ax.legend(fontsize=8).legend_handles:
        handle.set_sizes([30])
    fig.tight_layout()
    return fig


def plot_mask_values(grey: np.ndarray, *, name: str = "", size: float = 4.5):
    """The grey levels of one mask (log scale) and the binarisation threshold between them."""
    fig, axes = new_figure(1, 1, size=size)
    ax = axes[0][0]
    counts = np.bincount(np.asarray(grey, np.uint8).ravel(), minlength=256)
    ax.bar(np.arange(256), counts, width=1.0, color="tab:blue")
    ax.set_yscale("symlog")
    ax.axvline(MASK_THRESHOLD + 0.5, color="tab:red", linestyle="--", label=f"threshold: polyp if > {MASK_THRESHOLD}")
    ax.set_xlim(-2, 257)
    ax.set_xlabel("grey level")
    ax.set_ylabel("pixels (log scale)")
    ax.set_title(f"Grey levels of a mask {name}".strip())
    ax.legend(fontsize=8)
    fig.set_size_inches(size * 1.6, size)
    fig.tight_layout()
    return fig


def plot_fold_shares(dataset: Dataset, folds: Folds, *, size: float = 4.0):
    """Polyp share of the images in each fold: similar spreads mean fair validation folds."""
    fig, axes = new_figure(1, 1, size=size)
    ax = axes[0][0]
    by_id = {p.id: p.polyp_share for p in dataset}
    values = [100 * np.array([by_id[i] for i in folds.val_ids(k)]) for k in range(folds.k)]
    ax.boxplot(values, showmeans=True)
    ax.set_xticks(range(1, folds.k + 1), [f"fold {k + 1}\n(n={len(v)})" for k, v in enumerate(values)])
    ax.set_ylabel("polyp pixels (% of the image)")
    ax.set_title(f"{folds.k}-fold split (seed {folds.seed})")
    fig.set_size_inches(size * 1.3, size)
    fig.tight_layout()
    return fig
